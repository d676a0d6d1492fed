//! A php-fpm of the test's own: its configuration, socket, pid file, log
//! and session directory in a temporary directory, started in the
//! foreground (`-F`) in its own process group and killed with that group
//! on drop, even when the test fails. Never the system's service.
//!
//! ```ignore
//! let fpm = PhpFpm::start(PhpListen::Unix);
//! // ProxyPass /app/ "unix:{socket}|fcgi://localhost/…/app/"
//! let url = fpm.url("/srv/app/");
//! ```
//!
//! The PHP pages the suites run are in `server-bin/tests/php/`
//! ([`php_dir`]); the FastCGI, fcgid and CGI suites serve the same files.
#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The directory of the PHP pages the suites serve.
pub fn php_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/php")
}

/// The php-fpm binary (Debian's `php-fpm` package installs
/// `/usr/sbin/php-fpm8.x`); a test without it fails, naming the package.
pub fn php_fpm_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        .iter()
        .filter_map(|dir| fs::read_dir(dir).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "php-fpm" || n.starts_with("php-fpm8"))
        })
        .collect();
    found.sort();
    found.pop().expect(
        "php-fpm is not installed: apt-get install php-fpm (.ci/run installs it when missing)",
    )
}

/// The php-cgi binary (Debian's `php-cgi` package), for the CGI and
/// fcgid suites.
pub fn php_cgi_bin() -> PathBuf {
    let p = PathBuf::from("/usr/bin/php-cgi");
    assert!(
        p.exists(),
        "php-cgi is not installed: apt-get install php-cgi (.ci/run installs it when missing)"
    );
    p
}

/// Where a php-fpm listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhpListen {
    /// A Unix socket in its directory.
    Unix,
    /// A free TCP port on 127.0.0.1.
    Tcp,
}

/// A running php-fpm of the test's own.
pub struct PhpFpm {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// Its Unix socket (with [`PhpListen::Unix`]).
    pub socket: Option<PathBuf>,
    /// Its TCP port (with [`PhpListen::Tcp`]).
    pub port: Option<u16>,
}

impl PhpFpm {
    /// Start php-fpm with 4 workers (`pm = static`) and wait until it
    /// takes connections. `extra` lines go into the pool's section
    /// (`php_admin_value[…] = …`).
    pub fn start(listen: PhpListen) -> PhpFpm {
        PhpFpm::start_with(listen, "")
    }

    /// [`PhpFpm::start`] with more pool settings.
    pub fn start_with(listen: PhpListen, extra: &str) -> PhpFpm {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("sessions")).unwrap();
        let (socket, port) = match listen {
            PhpListen::Unix => (Some(root.join("php-fpm.sock")), None),
            PhpListen::Tcp => (None, Some(super::free_port())),
        };
        let address = match (&socket, port) {
            (Some(s), _) => s.display().to_string(),
            (None, Some(p)) => format!("127.0.0.1:{p}"),
            _ => unreachable!(),
        };
        // Root may run the test (mpmd then serves as nobody): the socket
        // is open to every user, php-fpm is allowed to run as root (-R).
        let conf = format!(
            "[global]\n\
             pid = {root}/php-fpm.pid\n\
             error_log = {root}/php-fpm.log\n\
             daemonize = no\n\
             [www]\n\
             listen = {address}\n\
             listen.mode = 0666\n\
             pm = static\n\
             pm.max_children = 4\n\
             catch_workers_output = yes\n\
             php_admin_value[session.save_path] = {root}/sessions\n\
             php_admin_value[upload_max_filesize] = 64M\n\
             php_admin_value[post_max_size] = 64M\n\
             php_admin_value[memory_limit] = 256M\n\
             php_admin_value[output_buffering] = 0\n\
             php_admin_flag[display_errors] = off\n\
             php_admin_flag[log_errors] = on\n\
             {extra}\n",
            root = root.display()
        );
        let conf_path = root.join("php-fpm.conf");
        fs::write(&conf_path, conf).unwrap();
        let log = fs::File::create(root.join("stderr.log")).unwrap();
        let mut cmd = Command::new(php_fpm_bin());
        cmd.args(["-F", "-R", "-y"])
            .arg(&conf_path)
            .args(["-p"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let child = cmd.spawn().expect("start php-fpm");
        let mut fpm = PhpFpm {
            child: Some(child),
            dir,
            socket,
            port,
        };
        fpm.wait_ready();
        fpm
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let up = match (&self.socket, self.port) {
                (Some(s), _) => UnixStream::connect(s).is_ok(),
                (None, Some(p)) => TcpStream::connect(("127.0.0.1", p)).is_ok(),
                _ => false,
            };
            if up {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "php-fpm exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "php-fpm did not listen within 15 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log and what it wrote to stderr.
    pub fn log(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("php-fpm.log"), read("stderr.log"))
    }

    /// A `fcgi://` URL for `ProxyPass` to its pool, `path` (the scripts'
    /// directory, ending in `/`) after the address: with a Unix socket,
    /// `unix:/…/php-fpm.sock|fcgi://localhost/path`.
    pub fn url(&self, path: &str) -> String {
        match (&self.socket, self.port) {
            (Some(s), _) => format!("unix:{}|fcgi://localhost{path}", s.display()),
            (None, Some(p)) => format!("fcgi://127.0.0.1:{p}{path}"),
            _ => unreachable!(),
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Stop it now (its whole process group): a backend that is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
    }
}
