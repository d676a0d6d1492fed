//! The FastCGI protocol (version 1.0), the web server's side: the
//! records ([`record`], sans-IO) and one request over a blocking
//! connection ([`client`]). mod_proxy_fcgi ([`crate::proxy`]'s `fcgi://`
//! workers) and a managed process pool (mod_fcgid) speak it; what the
//! request's environment holds and how the application's `STDOUT` is read
//! as a CGI answer is [`crate::cgi`]'s.

pub mod client;
pub mod record;

pub use client::{send_stdin, write_request, SendError, Stdout};
pub use record::{BadRecord, Event, RecordReader};
