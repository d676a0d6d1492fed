//! The error log (`ErrorLog`, `LogLevel`): a [`log::Log`] that writes
//! Apache's error log lines to stderr or to a file.
//!
//! ```text
//! [Thu Nov 26 08:21:28.123456 2026] [mpm_prefork:notice] [pid 1234] message
//! [Thu Nov 26 08:21:28.123456 2026] [core:error] [pid 1234:tid 1240] message
//! ```
//!
//! - Times are in UTC (local time needs the time zone database, which the
//!   standard library does not read); the format is otherwise Apache's.
//! - The module is the crate that logged: `mpm_prefork`, `mpm_worker`,
//!   `mpm_event` as they are; the core, the facade, the site's handlers
//!   (`mpm_site`) and `mpmd` are `core`.
//! - Levels: `error`, `warn`, `notice` (for `Info`), `debug`, `trace1`
//!   (for `Trace`).
//! - `:tid N` is added on threads other than the process's main thread.
//! - Each line is written with one `write` (on an `O_APPEND` file), so the
//!   lines of several processes sharing the file never interleave. A
//!   message is escaped as Apache's `ap_escape_errorlog_item` does (see
//!   [`mpm_site::log_escape`], which the access log shares): a line break is written as
//!   `\n`, so a record stays one line, and a control byte from a client
//!   (an escape sequence in a requested path) as `\x1b`, so it never
//!   reaches the terminal of whoever reads the log.
//!
//! [`init`] installs the logger once at startup (stderr);
//! [`set_target`] switches to the configured `ErrorLog` file, and is called
//! again on each restart (the file is re-opened, so a rotated log is
//! followed).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};
use mpm_site::log_escape::{escape, Quotes};
use mpm_site::utc_time::UtcTime;
use parking_lot::Mutex;

/// Where lines go.
enum Target {
    Stderr,
    File(File),
}

/// The error log: a target and a level.
struct ErrorLog {
    target: Mutex<Target>,
    /// A `LevelFilter` as `usize` (`Off` = 0 … `Trace` = 5).
    level: AtomicUsize,
}

static LOGGER: ErrorLog = ErrorLog::new();
/// The outcome of installing [`LOGGER`] as the `log` crate's logger.
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

impl ErrorLog {
    const fn new() -> Self {
        ErrorLog {
            target: parking_lot::const_mutex(Target::Stderr),
            level: AtomicUsize::new(LevelFilter::Info as usize),
        }
    }

    fn level(&self) -> LevelFilter {
        match self.level.load(Ordering::Relaxed) {
            0 => LevelFilter::Off,
            1 => LevelFilter::Error,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Info,
            4 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    }

    fn set_level(&self, level: LevelFilter) {
        self.level.store(level as usize, Ordering::Relaxed);
    }

    /// Write one finished line (with its newline) in a single `write`.
    fn write_line(&self, line: &str) {
        let mut target = self.target.lock();
        let written = match &mut *target {
            Target::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Target::File(file) => file.write_all(line.as_bytes()),
        };
        if written.is_err() {
            // Nowhere else to report it: try stderr, once.
            if let Target::File(_) = &*target {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl Log for ErrorLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let pid = std::process::id();
        let tid = thread_id().filter(|&tid| u32::try_from(tid).ok() != Some(pid));
        let line = format_line(
            SystemTime::now(),
            module_of(record.target()),
            record.level(),
            pid,
            tid,
            record.args(),
        );
        self.write_line(&line);
    }

    fn flush(&self) {}
}

fn thread_id() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        Some(nix::unistd::gettid().as_raw())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Install the error log as the process's logger, writing to stderr at
/// `level`. Called once at startup; a later call only sets the level and
/// the stderr target again. Fails if another logger was installed first.
pub fn init(level: LevelFilter) -> Result<(), String> {
    install()?;
    *LOGGER.target.lock() = Target::Stderr;
    apply_level(level);
    Ok(())
}

/// Send the log to the file at `path` (`ErrorLog`), or back to stderr
/// with `None`, at `level` (`LogLevel`). The file is opened for appending
/// (created with mode 0644); its directory must exist. Call it again on
/// every restart: the file is re-opened. On an error the previous target
/// stays.
pub fn set_target(path: Option<&Path>, level: LevelFilter) -> Result<(), String> {
    install()?;
    let target = match path {
        None => Target::Stderr,
        Some(path) => Target::File(open_log(path)?),
    };
    *LOGGER.target.lock() = target;
    apply_level(level);
    Ok(())
}

fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            log::set_logger(&LOGGER).map_err(|_| {
                "could not install the error log: another logger is already installed".to_string()
            })
        })
        .clone()
}

fn apply_level(level: LevelFilter) {
    LOGGER.set_level(level);
    log::set_max_level(level);
}

fn open_log(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(format!(
                "could not open the error log {}: the directory {} does not exist (create it or change ErrorLog)",
                path.display(),
                dir.display()
            ));
        }
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| {
            format!(
                "could not open the error log {}: {}",
                path.display(),
                mpm::strategy::error::describe_io(&e)
            )
        })
}

/// Apache's module name for a log target: the crate that logged, with the
/// core, the facade, the site's handlers and the binary all called `core`.
fn module_of(target: &str) -> &str {
    match target.split("::").next().unwrap_or(target) {
        "" | "mpm_core" | "mpm" | "mpm_site" | "mpmd" => "core",
        other => other,
    }
}

/// Apache's name of a level.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "notice",
        Level::Debug => "debug",
        Level::Trace => "trace1",
    }
}

/// One error log line, newline included.
fn format_line(
    now: SystemTime,
    module: &str,
    level: Level,
    pid: u32,
    tid: Option<i32>,
    message: &std::fmt::Arguments<'_>,
) -> String {
    let t = UtcTime::of(now);
    let mut line = format!(
        "[{} {} {:02} {:02}:{:02}:{:02}.{:06} {}] [{}:{}] [pid {}",
        t.weekday_short(),
        t.month_short(),
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.micros,
        t.year,
        module,
        level_name(level),
        pid
    );
    if let Some(tid) = tid {
        let _ = write!(line, ":tid {tid}");
    }
    line.push_str("] ");
    let text = message.to_string();
    escape(text.as_bytes(), Quotes::Kept, &mut line);
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Checks `[Www Mmm dd hh:mm:ss.uuuuuu yyyy] [module:level] [pid N(:tid N)?] message`
    /// and returns (module, level, message), or what did not match.
    fn parse_line(line: &str) -> Result<(&str, &str, &str), String> {
        let shape = "[Aaa Aaa 99 99:99:99.999999 9999] [";
        let head = line
            .get(..shape.len())
            .ok_or(format!("line too short: {line:?}"))?;
        for (want, got) in shape.bytes().zip(head.bytes()) {
            let ok = match want {
                b'A' => got.is_ascii_uppercase(),
                b'a' => got.is_ascii_lowercase(),
                b'9' => got.is_ascii_digit(),
                other => got == other,
            };
            if !ok {
                return Err(format!("time stamp not in Apache's shape: {line:?}"));
            }
        }
        let rest = &line[shape.len()..];
        let (tag, rest) = rest
            .split_once("] [pid ")
            .ok_or(format!("no module/pid: {line:?}"))?;
        let (module, level) = tag
            .split_once(':')
            .ok_or(format!("no module:level: {line:?}"))?;
        let (ids, message) = rest
            .split_once("] ")
            .ok_or(format!("no pid end: {line:?}"))?;
        let pid = ids.split(":tid ").next().unwrap_or("");
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("pid not a number: {line:?}"));
        }
        Ok((module, level, message))
    }

    #[test]
    fn line_has_apaches_shape() {
        let t = UNIX_EPOCH + Duration::new(1_795_681_288, 123_456_789);
        let line = format_line(
            t,
            "mpm_prefork",
            Level::Info,
            1234,
            None,
            &format_args!("resuming normal operations"),
        );
        assert_eq!(
            line,
            "[Thu Nov 26 08:21:28.123456 2026] [mpm_prefork:notice] [pid 1234] resuming normal operations\n"
        );
        let line = format_line(
            t,
            "core",
            Level::Trace,
            9,
            Some(12),
            &format_args!("two\nlines"),
        );
        assert_eq!(
            line,
            "[Thu Nov 26 08:21:28.123456 2026] [core:trace1] [pid 9:tid 12] two\\nlines\n"
        );
    }

    #[test]
    fn control_bytes_in_a_message_are_escaped_as_the_access_log_escapes_them() {
        let t = UNIX_EPOCH + Duration::new(1_795_681_288, 123_456_789);
        let line = format_line(
            t,
            "core",
            Level::Error,
            7,
            None,
            &format_args!("/srv/a\x1b[31mred\x7f\u{9b}\\ \"q\"\ttab\0"),
        );
        assert_eq!(
            line,
            "[Thu Nov 26 08:21:28.123456 2026] [core:error] [pid 7] \
             /srv/a\\x1b[31mred\\x7f\\xc2\\x9b\\\\ \"q\"\\ttab\\x00\n"
        );
    }

    #[test]
    fn modules_are_named_as_apache_does() {
        assert_eq!(module_of("mpm_core::process::scoreboard"), "core");
        assert_eq!(module_of("mpmd::config"), "core");
        assert_eq!(module_of("mpm_site::file_cache"), "core");
        assert_eq!(module_of("mpm"), "core");
        assert_eq!(module_of("mpm_prefork::spare"), "mpm_prefork");
        assert_eq!(module_of("mpm_event"), "mpm_event");
    }

    #[test]
    fn missing_log_directory_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-dir").join("error_log");
        let err = open_log(&path).expect_err("opened a log in a missing directory");
        assert!(
            err.contains(&path.display().to_string()),
            "error does not name the file: {err}"
        );
        assert!(
            err.contains("does not exist"),
            "error does not say why: {err}"
        );
    }

    #[test]
    fn file_log_keeps_lines_at_or_above_the_level_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("error_log");
        set_target(Some(&path), LevelFilter::Info).expect("set_target");
        log::info!("info-line-marker-7f3a");
        log::debug!("debug-line-marker-7f3a");
        let text = std::fs::read_to_string(&path).expect("read log");
        let ours: Vec<&str> = text.lines().filter(|l| l.contains("marker-7f3a")).collect();
        assert_eq!(ours.len(), 1, "expected only the info line, got {ours:?}");
        let (module, level, message) = parse_line(ours[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (module, level, message),
            ("core", "notice", "info-line-marker-7f3a")
        );
        assert_eq!(
            std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777,
            0o644
        );

        // A rotated log: the next set_target opens a new file.
        let rotated = dir.path().join("error_log.1");
        std::fs::rename(&path, &rotated).expect("rename");
        set_target(Some(&path), LevelFilter::Debug).expect("set_target again");
        log::debug!("after-rotation-marker-7f3a");
        let text = std::fs::read_to_string(&path).expect("read new log");
        assert!(
            text.lines()
                .any(|l| l.ends_with("] after-rotation-marker-7f3a")),
            "the re-opened log lacks the debug line: {text:?}"
        );
        let old = std::fs::read_to_string(&rotated).expect("read rotated log");
        assert!(
            !old.contains("after-rotation"),
            "a line went to the rotated file"
        );
        set_target(None, LevelFilter::Info).expect("back to stderr");
    }

    use std::os::unix::fs::PermissionsExt;
}
