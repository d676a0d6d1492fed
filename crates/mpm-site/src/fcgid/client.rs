//! The FastCGI client a pool's processes are spoken to with
//! ([`FastCgi`]): [`crate::fastcgi`]'s records over the connection the
//! pool opened to a process, one request per connection (no
//! `FCGI_KEEP_CONN`: the process is given back to the pool, not the
//! connection).

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use super::pool::Backend;
use crate::cgi::CgiEnv;
use crate::fastcgi::{send_stdin, write_request, SendError, Stdout};
use crate::log_escape::{escape, Quotes};

/// mod_fcgid's side of the FastCGI protocol: `BEGIN_REQUEST`, the
/// environment as `PARAMS`, the (already read) body as `STDIN`; the
/// answer is the process's `STDOUT` up to `END_REQUEST`, and each
/// `STDERR` line goes to the error log naming the class and the script.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastCgi;

impl Backend for FastCgi {
    fn request(
        &self,
        mut conn: UnixStream,
        env: &CgiEnv,
        body: &mut dyn Read,
        name: &str,
    ) -> io::Result<Box<dyn Read + Send>> {
        let mut head = Vec::with_capacity(1024);
        write_request(&mut head, false, env);
        match send_stdin(&mut conn, head, body) {
            Ok(_) => {}
            Err(SendError::Backend(e)) => return Err(e),
            // The body was read whole before the process was taken: only
            // its spool file can fail here.
            Err(SendError::Client(e)) => {
                return Err(io::Error::other(format!(
                    "reading the kept request body: {e}"
                )))
            }
        }
        let script = env
            .get("SCRIPT_FILENAME")
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        let name = name.to_string();
        let stderr = Box::new(move |line: &[u8]| {
            let mut text = String::with_capacity(line.len());
            escape(line, Quotes::Kept, &mut text);
            log::error!("mod_fcgid: {name}: {script}: stderr: {text}");
        });
        Ok(Box::new(Stdout::new(conn, stderr, None)))
    }
}
