//! The command line, as httpd's: `-f FILE`, `-t`, `-l`, `-M`, `-V`, `-v`,
//! `-S`, `-D NAME`, `-X`, `-k ACTION`, `-C DIRECTIVE`, `-c DIRECTIVE`, `-h`
//! (`-k upgrade`, nginx's USR2, is mpmd's own).

use std::path::PathBuf;

/// What `-k` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Start detached from the terminal.
    Start,
    /// SIGTERM to the running server.
    Stop,
    /// SIGHUP (or start when not running).
    Restart,
    /// SIGUSR1 (or start when not running).
    Graceful,
    /// SIGWINCH.
    GracefulStop,
    /// SIGUSR2 (binary upgrade), then wait for the outcome.
    Upgrade,
}

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// `-f FILE`.
    pub config: Option<PathBuf>,
    /// `-t`: check the configuration and exit.
    pub test: bool,
    /// `-l`: list compiled-in modules.
    pub list_compiled: bool,
    /// `-M` (or `-t -D DUMP_MODULES`): list loaded modules.
    pub dump_modules: bool,
    /// `-S` (or `-t -D DUMP_VHOSTS`): show the virtual hosts.
    pub dump_vhosts: bool,
    /// `-V`: version and build settings.
    pub version_verbose: bool,
    /// `-v`: version.
    pub version: bool,
    /// `-X`: one process, one thread, in the foreground.
    pub single: bool,
    /// `-k ACTION`.
    pub signal: Option<Signal>,
    /// `-D NAME`, in order.
    pub defines: Vec<String>,
    /// `-C DIRECTIVE`: before the file.
    pub before: Vec<String>,
    /// `-c DIRECTIVE`: after the file.
    pub after: Vec<String>,
    /// `-h`.
    pub help: bool,
}

/// The usage text (`-h`).
pub const USAGE: &str = "\
Usage: mpmd [-D name] [-f file] [-C \"directive\"] [-c \"directive\"]
            [-k start|restart|graceful|graceful-stop|stop|upgrade]
            [-v] [-V] [-h] [-l] [-M] [-S] [-t] [-X]
Options:
  -D name            : define a name for use in <IfDefine name> directives
  -f file            : specify an alternate ServerConfigFile (default: the built-in sample site)
  -C \"directive\"     : process directive before reading config files
  -c \"directive\"     : process directive after reading config files
  -v                 : show version number
  -V                 : show compile settings
  -h                 : list available command line options (this page)
  -l                 : list compiled in modules
  -M                 : a synonym for -t -D DUMP_MODULES
  -S                 : a synonym for -t -D DUMP_VHOSTS
  -t                 : run syntax check for config files
  -X                 : debug mode (one process, one thread, foreground)
  -k action          : start (detached), stop, restart, graceful, graceful-stop,
                       upgrade (start the binary again, hand it the sockets)
";

/// Parse the arguments after the program name. Errors are one line for
/// stderr; the caller prints the usage after it.
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("unexpected argument '{arg}'"));
        };
        let mut chars = flag.chars();
        let letter = chars.next().unwrap_or('-');
        let attached: String = chars.collect();
        let mut value = |name: &str| -> Result<String, String> {
            if !attached.is_empty() {
                return Ok(attached.clone());
            }
            it.next()
                .ok_or_else(|| format!("option -{letter} needs {name}"))
        };
        match letter {
            'f' => a.config = Some(PathBuf::from(value("a file name")?)),
            'D' => {
                let name = value("a name")?;
                match name.as_str() {
                    "DUMP_MODULES" => a.dump_modules = true,
                    "DUMP_VHOSTS" => a.dump_vhosts = true,
                    _ => {}
                }
                a.defines.push(name);
            }
            'C' => a.before.push(value("a directive")?),
            'c' => a.after.push(value("a directive")?),
            'k' => {
                let action = value("an action")?;
                a.signal = Some(match action.as_str() {
                    "start" => Signal::Start,
                    "stop" => Signal::Stop,
                    "restart" => Signal::Restart,
                    "graceful" => Signal::Graceful,
                    "graceful-stop" => Signal::GracefulStop,
                    "upgrade" => Signal::Upgrade,
                    other => return Err(format!("unknown -k action '{other}'")),
                });
            }
            _ if !attached.is_empty() => return Err(format!("unknown option '{arg}'")),
            't' => a.test = true,
            'l' => a.list_compiled = true,
            'L' => a.list_compiled = true,
            'M' => a.dump_modules = true,
            'S' => a.dump_vhosts = true,
            'V' => a.version_verbose = true,
            'v' => a.version = true,
            'X' => a.single = true,
            'h' | '?' => a.help = true,
            _ => return Err(format!("unknown option '{arg}'")),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn httpd_flags_parse_attached_and_separate() {
        let a = p(&[
            "-f",
            "/x.conf",
            "-DFOO",
            "-D",
            "BAR",
            "-t",
            "-C",
            "Listen 81",
            "-cServerName x",
        ])
        .unwrap();
        assert_eq!(a.config, Some(PathBuf::from("/x.conf")));
        assert_eq!(a.defines, vec!["FOO", "BAR"]);
        assert!(a.test);
        assert_eq!(a.before, vec!["Listen 81"]);
        assert_eq!(a.after, vec!["ServerName x"]);
    }

    #[test]
    fn dump_defines_are_synonyms_of_flags() {
        let a = p(&["-t", "-D", "DUMP_MODULES", "-D", "DUMP_VHOSTS"]).unwrap();
        assert!(a.dump_modules && a.dump_vhosts);
    }

    #[test]
    fn k_actions() {
        assert_eq!(
            p(&["-k", "graceful-stop"]).unwrap().signal,
            Some(Signal::GracefulStop)
        );
        assert_eq!(p(&["-kstart"]).unwrap().signal, Some(Signal::Start));
        assert_eq!(p(&["-k", "upgrade"]).unwrap().signal, Some(Signal::Upgrade));
        assert!(p(&["-k", "reload"])
            .unwrap_err()
            .contains("unknown -k action 'reload'"));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(p(&["-f"]).unwrap_err().contains("-f needs a file name"));
        assert!(p(&["-Z"]).unwrap_err().contains("unknown option '-Z'"));
        assert!(p(&["-tX"]).unwrap_err().contains("unknown option '-tX'"));
        assert!(p(&["stray"])
            .unwrap_err()
            .contains("unexpected argument 'stray'"));
    }
}
