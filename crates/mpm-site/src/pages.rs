//! The small HTML pages Apache answers errors and redirects with.

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, LOCATION};
use http::{Method, StatusCode};
use mpm_core::{Body, Response};

/// The methods static content answers, for `Allow`.
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";

const HTML_TYPE: &str = "text/html; charset=iso-8859-1";

/// An error page for `status`, with Apache's wording.
pub fn error_response(status: StatusCode) -> Response {
    page(status, explanation(status))
}

/// An error page for `status` with `signature` (`ServerSignature`'s
/// `<address>` line, HTML) under it, and, when the `ErrorDocument` meant
/// for it failed with `additionally`, Apache's sentence saying so.
pub fn error_page(
    status: StatusCode,
    signature: Option<&str>,
    additionally: Option<StatusCode>,
) -> Response {
    let mut detail = explanation(status).to_string();
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

/// 405 (or 501 for a method we do not know) with `Allow`.
pub fn method_not_allowed(method: &Method) -> Response {
    let known = is_known_method(method);
    let (status, detail) = if known {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "The requested method {} is not allowed for this URL.",
                escape_html(method.as_str())
            ),
        )
    } else {
        (
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "{} not supported for current URL.",
                escape_html(method.as_str())
            ),
        )
    };
    let mut response = page(status, &detail);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(ALLOW_STATIC));
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

/// 200 with `Allow` and no body: the answer to `OPTIONS`.
pub fn options_response() -> Response {
    let mut response = Response::new(Body::Empty);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(ALLOW_STATIC));
    response
}

/// A redirect (3xx) to `location` with Apache's "moved" page. A location
/// that cannot be a header value becomes a 500.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut response = page(
        status,
        &format!(
            "The document has moved <a href=\"{}\">here</a>.",
            escape_html(location)
        ),
    );
    response.headers_mut().insert(LOCATION, value);
    response
}

fn page(status: StatusCode, detail: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n\
         <title>{} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{detail}</p>\n\
         </body></html>\n",
        status.as_u16()
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(HTML_TYPE));
    response
}

fn explanation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Your browser sent a request that this server could not understand.",
        403 => "You don't have permission to access this resource.",
        404 => "The requested URL was not found on this server.",
        410 => {
            "The requested resource is no longer available on this server and there is no \
             forwarding address. Please remove all references to this resource."
        }
        421 => {
            "The client needs a new connection for this request as the requested host name \
             does not match the Server Name Indication (SNI) in use for this connection."
        }
        416 => {
            "None of the range-specifier values in the Range request-header field overlap \
             the current extent of the selected resource."
        }
        502 => "The proxy server received an invalid response from an upstream server.",
        503 => {
            "The server is temporarily unable to service your request due to maintenance \
             downtime or capacity problems. Please try again later."
        }
        504 => {
            "The gateway did not receive a timely response from the upstream server or application."
        }
        _ => {
            "The server encountered an internal error or misconfiguration and was unable to \
             complete your request."
        }
    }
}

/// `text` with `& < > " '` escaped for HTML (the engine's escaper).
pub use mpm_core::h1::encode::escape_html;
