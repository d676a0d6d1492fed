//! The small HTML pages Apache answers errors and redirects with.

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, LOCATION};
use http::{Method, StatusCode};
use mpm_core::h1::encode::{apache_page, apache_text};
use mpm_core::{Body, Response};

/// The methods a built-in page (mod_status's, the balancer manager's)
/// answers, for `Allow`.
pub const ALLOW_PAGE: &str = "GET, HEAD, OPTIONS";

/// `Allow` for what core's default handler answers (files, a method
/// refused before any handler), as Apache's `make_allow` builds
/// it: the methods the default handler allows (GET, POST, OPTIONS), HEAD
/// with GET, and TRACE unless `TraceEnable Off` (`trace` false).
pub fn allow_default(trace: bool) -> &'static str {
    if trace {
        "GET, HEAD, POST, OPTIONS, TRACE"
    } else {
        "GET, HEAD, POST, OPTIONS"
    }
}

const HTML_TYPE: &str = "text/html; charset=iso-8859-1";

/// An error page for `status`, with Apache's wording.
pub fn error_response(status: StatusCode) -> Response {
    page(status, explanation(status))
}

/// An error page for `status` with `signature` (`ServerSignature`'s
/// `<address>` line, HTML) under it, and, when the `ErrorDocument` meant
/// for it failed with `additionally`, Apache's sentence saying so; a 500
/// names `server_admin` (`ServerAdmin`) as Apache's does.
pub fn error_page(
    status: StatusCode,
    signature: Option<&str>,
    additionally: Option<StatusCode>,
    server_admin: Option<&str>,
) -> Response {
    let mut detail = match server_admin {
        Some(admin) if apache_text(status).is_none() => {
            INTERNAL_ERROR_NO_ADMIN.replace("[no address given]", &escape_html(admin))
        }
        _ => explanation(status).to_string(),
    };
    if let Some(other) = additionally {
        detail.push_str(&format!(
            "</p>\n<p>Additionally, a {} {}\nerror was encountered while trying to use an ErrorDocument to handle the request.",
            other.as_u16(),
            other.canonical_reason().unwrap_or("Error")
        ));
    }
    let mut response = page(status, &detail);
    if let Some(signature) = signature {
        if let Body::Bytes(bytes) = response.body() {
            let text = String::from_utf8_lossy(bytes);
            let signed = text.replacen("</body>", &format!("<hr>\n{signature}\n</body>"), 1);
            *response.body_mut() = Body::from(signed);
        }
    }
    response
}

/// `ServerSignature`'s line: `<address>mpmd/1.0 Server at host Port
/// 80</address>`, the host a `mailto:` link to `admin` when given
/// (`ServerSignature EMail`).
pub fn signature(software: &str, host: &str, port: u16, admin: Option<&str>) -> String {
    let host = escape_html(host);
    let host = match admin {
        Some(admin) => format!("<a href=\"mailto:{}\">{host}</a>", escape_html(admin)),
        None => host,
    };
    format!(
        "<address>{} Server at {host} Port {port}</address>",
        escape_html(software)
    )
}

/// 405 (or 501 for a method we do not know) with `allow` as `Allow`.
pub fn method_not_allowed(method: &Method, allow: &'static str) -> Response {
    let known = is_known_method(method);
    let method = escape_html(method.as_str());
    let (status, text) = if known {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            format!("<p>The requested method {method} is not allowed for this URL.</p>\n"),
        )
    } else {
        (
            StatusCode::NOT_IMPLEMENTED,
            format!("<p>{method} not supported for current URL.<br />\n</p>\n"),
        )
    };
    let mut response = page(status, &text);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// A method of RFC 9110 (or PATCH): refused with 405, where an extension
/// token gets 501.
pub fn is_known_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::DELETE
            | Method::CONNECT
            | Method::OPTIONS
            | Method::TRACE
            | Method::PATCH
    )
}

/// 200 with `allow` as `Allow` and no body: the answer to `OPTIONS`.
pub fn options_response(allow: &'static str) -> Response {
    let mut response = Response::new(Body::Empty);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// A redirect (3xx) to `location` with Apache's "moved" page. A location
/// that cannot be a header value becomes a 500.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    // Apache words a 303 differently from the other redirects.
    let lead = if status == StatusCode::SEE_OTHER {
        "The answer to your request is located"
    } else {
        "The document has moved"
    };
    let text = format!(
        "<p>{lead} <a href=\"{}\">here</a>.</p>\n",
        escape_html(location)
    );
    let mut response = page(status, &text);
    response.headers_mut().insert(LOCATION, value);
    response
}

/// Apache's page for `status` with `text` (HTML paragraphs), as a
/// response with its `Content-Type`.
fn page(status: StatusCode, text: &str) -> Response {
    let body = apache_page(status, text);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(HTML_TYPE));
    response
}

/// Apache's text for `status`; for a status without one (500 and the
/// rest), Apache's 500 text with no `ServerAdmin` set.
fn explanation(status: StatusCode) -> &'static str {
    apache_text(status).unwrap_or(INTERNAL_ERROR_NO_ADMIN)
}

/// Apache's 500 text when `ServerAdmin` is not set.
const INTERNAL_ERROR_NO_ADMIN: &str = "<p>The server encountered an internal error or\n\
     misconfiguration and was unable to complete\nyour request.</p>\n\
     <p>Please contact the server administrator at \n [no address given] to inform them of the \
     time this error occurred,\n and the actions you performed just before this error.</p>\n\
     <p>More information about this error may be available\nin the server error log.</p>\n";

/// `text` with `& < > " '` escaped for HTML (the engine's escaper).
pub use mpm_core::h1::encode::escape_html;
