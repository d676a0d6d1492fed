//! What the pool's and the handler's tests share: a stand-in for the
//! FastCGI protocol and a program that answers it.

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use crate::cgi::CgiEnv;
use crate::fcgid::Backend;
use crate::script::ScriptCommand;

/// A stand-in for the FastCGI protocol: the body, then the end of the
/// connection's input; the answer is whatever the process writes.
pub(crate) struct Plain;

impl Backend for Plain {
    fn request(
        &self,
        mut conn: UnixStream,
        _env: &CgiEnv,
        body: &mut dyn Read,
        _name: &str,
    ) -> io::Result<Box<dyn Read + Send>> {
        io::copy(body, &mut conn)?;
        conn.shutdown(Shutdown::Write)?;
        Ok(Box::new(conn))
    }
}

/// A program that accepts on its standard input, reads each request to
/// its end, waits `delay` seconds, and answers with its pid and the
/// length it read.
pub(crate) fn program(delay: u32) -> ScriptCommand {
    let code = format!(
        "open(L, '+<&=0') or die; while (accept(C, L)) {{ my $n = 0; my $b; \
         while (my $r = sysread(C, $b, 65536)) {{ $n += $r }} sleep {delay}; \
         syswrite(C, \"Content-Type: text/plain\\r\\n\\r\\npid $$ len $n\"); close C }}"
    );
    ScriptCommand {
        args: vec!["-e".into(), code.into()],
        ..ScriptCommand::new("/usr/bin/perl")
    }
}
