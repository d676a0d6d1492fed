//! What the three ways of running an application share (mod_cgi,
//! mod_fcgid and mod_proxy_fcgi): the CGI/1.1 environment a request gives
//! a script (RFC 3875 §4.1, [`env`](mod@env)) and the script's answer read back
//! (RFC 3875 §6, [`response`]), and what a directory's configuration
//! says of that environment ([`dir`]: `CGIPassAuth`, `ProxyFCGISetEnvIf`).
//!
//! Both are independent of how the script runs (a child process with
//! pipes, a FastCGI connection) and of the request pipeline: [`env`](mod@env)
//! takes a small [`CgiRequest`] the caller fills from its request, and
//! [`response`] is sans-IO: bytes in, a [`CgiHead`] (or "need more", or a
//! refusal) out, the rest of the bytes being the body, which the caller
//! streams ([`read_head`] does that for a blocking reader).
//!
//! ```
//! use mpm_site::cgi::{CgiRequest, Disposition, ResponseParser};
//! use http::{HeaderMap, Method, Version};
//!
//! // The environment of `GET /app/index.php/extra?x=1`.
//! let headers = HeaderMap::new();
//! let mut request = CgiRequest::new(
//!     &Method::GET,
//!     Version::HTTP_11,
//!     "/app/index.php/extra?x=1",
//!     &headers,
//!     "127.0.0.1:80".parse().unwrap(),
//!     "192.0.2.7:50000".parse().unwrap(),
//! );
//! request.script_name = "/app/index.php";
//! request.path_info = "/extra";
//! request.query = Some("x=1");
//! request.script_filename = "/srv/app/index.php";
//! request.document_root = "/srv";
//! let env = request.environment();
//! assert_eq!(env.get("SCRIPT_FILENAME"), Some(&b"/srv/app/index.php"[..]));
//! assert_eq!(env.get("PATH_TRANSLATED"), Some(&b"/srv/extra"[..]));
//!
//! // The script's answer, as it arrives.
//! let mut parser = ResponseParser::default();
//! assert!(parser.push(b"Status: 404 Not Here\r\nContent-Ty").unwrap().is_none());
//! let (head, used) = parser.push(b"pe: text/plain\r\n\r\nbody").unwrap().unwrap();
//! assert_eq!(used, 18); // the rest, "body", is the body
//! assert_eq!(head.status.as_u16(), 404);
//! assert_eq!(head.disposition(), Disposition::Document);
//! ```

pub mod dir;
pub mod env;
pub mod response;

pub use dir::{FcgiSetEnvIf, ScriptDir};
pub use env::{CgiEnv, CgiRequest, PreviousRequest};
pub use response::{
    read_head, BadCgiResponse, CgiHead, Disposition, ReadHeadError, ResponseLimits, ResponseParser,
};
