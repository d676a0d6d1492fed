//! How an error status from a phase is answered ([`Site::process`]
//! calls this): the `ErrorDocument` in force, else mpmd's page with the
//! `ServerSignature` line.

use http::header::HeaderValue;
use http::{Method, StatusCode};
use mpm_core::Response;

use crate::pipeline::dir_config::{ErrorDocument, ServerSignature};
use crate::pipeline::request::RequestState;
use crate::site::{Host, Site};

impl Site {
    /// The answer to the error `status`: the `ErrorDocument` in force for
    /// it (a local URL: `Err(url)`, to serve by an internal redirect with
    /// `REDIRECT_STATUS`; another server's: a 302; a message), else mpmd's
    /// page (with `ServerSignature`'s line). An error while serving an
    /// error document is answered with the first error's page, saying so.
    pub fn error_document(
        &self,
        host: &Host,
        r: &mut RequestState<'_>,
        status: StatusCode,
    ) -> Result<Response, String> {
        if let Some(first) = r.error_status {
            return Ok(self.error_page(host, r, first, Some(status)));
        }
        match r.dir.error_document(status.as_u16()).cloned() {
            Some(ErrorDocument::Local(url)) => {
                r.error_status = Some(status);
                // As Apache: the error document is fetched with GET (HEAD stays).
                if r.method() != Method::HEAD {
                    r.method_override = Some(Method::GET);
                }
                Err(url)
            }
            Some(ErrorDocument::Remote(url)) => Ok(crate::pages::redirect(StatusCode::FOUND, &url)),
            Some(ErrorDocument::Text(text)) => {
                let mut response = Response::new(mpm_core::Body::from(text));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=iso-8859-1"),
                );
                Ok(response)
            }
            Some(ErrorDocument::Default) | None => Ok(self.error_page(host, r, status, None)),
        }
    }

    /// mpmd's page for `status`, with the `ServerSignature` in force.
    pub fn error_page(
        &self,
        host: &Host,
        r: &RequestState<'_>,
        status: StatusCode,
        additionally: Option<StatusCode>,
    ) -> Response {
        let signature = self.signature(host, r);
        crate::pages::error_page(
            status,
            signature.as_deref(),
            additionally,
            host.server_admin.as_deref(),
        )
    }

    /// `ServerSignature`'s line for `r`, if one is in force: the host and
    /// port as the client named them (Apache's `UseCanonicalName Off`).
    pub fn signature(&self, host: &Host, r: &RequestState<'_>) -> Option<String> {
        let mode = r.dir.server_signature.unwrap_or(ServerSignature::Off);
        if mode == ServerSignature::Off {
            return None;
        }
        let authority = r
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty());
        let name = authority.map_or(&*host.server_name, crate::router::host_without_port);
        let port = authority
            .and_then(|a| a.rsplit_once(':'))
            .filter(|(h, _)| !h.ends_with(']') || a_is_v6_with_port(h))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(r.conn.local.port());
        let admin = match mode {
            ServerSignature::Email => host.server_admin.as_deref(),
            _ => None,
        };
        Some(crate::pages::signature(
            &self.server_software,
            name,
            port,
            admin,
        ))
    }
}

/// Whether `host` (the part of a `Host` value before its last `:`) is a
/// bracketed IPv6 literal, so what follows the `:` is a port.
fn a_is_v6_with_port(host: &str) -> bool {
    host.starts_with('[') && host.ends_with(']')
}
