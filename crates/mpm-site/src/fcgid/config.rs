//! mod_fcgid's directives, typed, with mod_fcgid 2.3's defaults.

use std::path::PathBuf;
use std::time::Duration;

/// `FcgidWrapper program [args…] [.ext] [virtual]`: scripts with the
/// extension `.ext` (or, without one, every `fcgid-script`) run through
/// `program`, which gets the script as `SCRIPT_FILENAME`
/// (`FcgidWrapper /usr/bin/php-cgi .php`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapper {
    /// The wrapper program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The extension it serves, lower-case without its dot; `None`: every
    /// script without a wrapper of its own extension.
    pub extension: Option<String>,
    /// `virtual`: the script need not exist as a file (the wrapper makes
    /// the answer from the URL).
    pub virtual_script: bool,
}

/// The process pool's settings (server-wide, as mpmd reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcgidConfig {
    /// `FcgidMaxProcesses` (`MaxProcessCount`): processes in all classes.
    pub max_processes: u32,
    /// `FcgidMaxProcessesPerClass` (`DefaultMaxClassProcessCount`).
    pub max_processes_per_class: u32,
    /// `FcgidMinProcessesPerClass`: an idle scan keeps this many of a
    /// class alive, however long idle.
    pub min_processes_per_class: u32,
    /// `FcgidMaxRequestsPerProcess` (`MaxRequestsPerProcess`): a process
    /// that served this many requests is retired after the last (0: no
    /// limit).
    pub max_requests_per_process: u64,
    /// `FcgidIdleTimeout` (`IdleTimeout`): a process idle this long is
    /// retired (0: never).
    pub idle_timeout: Duration,
    /// `FcgidProcessLifeTime` (`ProcessLifeTime`): a process this old is
    /// retired once idle (0: never).
    pub process_lifetime: Duration,
    /// `FcgidIOTimeout` (`IPCCommTimeout`): the longest wait for the
    /// application to read or answer.
    pub io_timeout: Duration,
    /// `FcgidConnectTimeout` (`IPCConnectTimeout`): the longest wait to
    /// connect to a process; and the longest a request waits for a free
    /// process before it is answered 503.
    pub connect_timeout: Duration,
    /// `FcgidMaxRequestLen` (`MaxRequestLen`): a longer request body is
    /// answered 413.
    pub max_request_len: u64,
    /// `FcgidMaxRequestInMem` (`MaxRequestInMem`): a request body longer
    /// than this is kept in a temporary file until the process takes it.
    pub max_request_in_mem: u64,
    /// `FcgidInitialEnv name [value]`: given to every process when it
    /// starts.
    pub initial_env: Vec<(String, String)>,
    /// `FcgidWrapper` lines, in order.
    pub wrappers: Vec<Wrapper>,
    /// `FcgidIPCDir`: the directory of the processes' sockets (`None`: a
    /// directory of the serving user's own in the system's temporary
    /// directory).
    pub ipc_dir: Option<PathBuf>,
}

impl Default for FcgidConfig {
    fn default() -> Self {
        FcgidConfig {
            max_processes: 1000,
            max_processes_per_class: 100,
            min_processes_per_class: 3,
            max_requests_per_process: 0,
            idle_timeout: Duration::from_secs(300),
            process_lifetime: Duration::from_secs(3600),
            io_timeout: Duration::from_secs(40),
            connect_timeout: Duration::from_secs(3),
            max_request_len: 131_072,
            max_request_in_mem: 65_536,
            initial_env: Vec::new(),
            wrappers: Vec::new(),
            ipc_dir: None,
        }
    }
}

impl FcgidConfig {
    /// The wrapper for a script whose file name is `name`: the one of its
    /// extension, else one without an extension, the last written
    /// winning.
    pub fn wrapper_for(&self, name: &str) -> Option<&Wrapper> {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .filter(|e| !e.contains('/'));
        self.wrappers
            .iter()
            .rev()
            .find(|w| w.extension.is_some() && w.extension == ext)
            .or_else(|| self.wrappers.iter().rev().find(|w| w.extension.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapper(program: &str, ext: Option<&str>) -> Wrapper {
        Wrapper {
            program: program.into(),
            args: Vec::new(),
            extension: ext.map(str::to_string),
            virtual_script: false,
        }
    }

    #[test]
    fn a_wrapper_of_the_scripts_extension_wins_over_one_for_all() {
        let cfg = FcgidConfig {
            wrappers: vec![
                wrapper("/usr/bin/all", None),
                wrapper("/usr/bin/php-cgi", Some("php")),
            ],
            ..FcgidConfig::default()
        };
        assert_eq!(
            cfg.wrapper_for("/srv/x/index.PHP").unwrap().program,
            PathBuf::from("/usr/bin/php-cgi")
        );
        assert_eq!(
            cfg.wrapper_for("/srv/x/run.fcgi").unwrap().program,
            PathBuf::from("/usr/bin/all")
        );
        assert!(FcgidConfig::default().wrapper_for("a.php").is_none());
    }
}
