//! The small HTML pages Apache answers errors and redirects with.

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, LOCATION};
use http::{Method, StatusCode};
use mpm_core::h1::encode::{apache_page, apache_text};
use mpm_core::{Body, Response};

/// The methods static content answers, for `Allow`.
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";

const HTML_TYPE: &str = "text/html; charset=iso-8859-1";

/// An error page for `status`, with Apache's wording.
pub fn error_response(status: StatusCode) -> Response {
    page(status, explanation(status))
}

/// 405 (or 501 for a method we do not know) with `Allow`.
pub fn method_not_allowed(method: &Method) -> Response {
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
/// rest), Apache's 500 text without its `ServerAdmin` paragraph.
fn explanation(status: StatusCode) -> &'static str {
    apache_text(status).unwrap_or(
        "<p>The server encountered an internal error or\nmisconfiguration and was unable \
         to complete\nyour request.</p>\n<p>More information about this error may be \
         available\nin the server error log.</p>\n",
    )
}

/// `text` with `& < > " '` escaped for HTML (the engine's escaper).
pub use mpm_core::h1::encode::escape_html;
