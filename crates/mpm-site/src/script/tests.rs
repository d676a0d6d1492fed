use std::io::Read;
use std::time::{Duration, Instant};

use super::*;

/// `sh -c code` as a script, started in `dir`, with `env`.
fn shell(code: &str, dir: &Path, env: &[(&str, &str)]) -> ScriptCommand {
    ScriptCommand {
        args: vec!["-c".into(), code.into()],
        env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        dir: dir.to_path_buf(),
        ..ScriptCommand::new("/bin/sh")
    }
}

fn output(script: &mut Script) -> std::io::Result<String> {
    let mut out = String::new();
    script.read_to_string(&mut out)?;
    Ok(out)
}

/// Zombies whose parent is this process.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                .filter(|stat| {
                    // pid (comm) state ppid …: comm may hold spaces.
                    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                    let mut fields = after.split_whitespace();
                    fields.next() == Some("Z") && fields.next() == Some(me.as_str())
                })
                .count()
        })
        .unwrap_or(0)
}

/// Poll `cond` every 20 ms until it holds or `secs` pass (shared with
/// the fcgid pool's tests).
pub(crate) fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[test]
fn a_script_gets_only_the_environment_given_and_starts_in_the_directory_given() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = shell(
        "echo \"$GREETING|$(pwd -P)|$HOME|$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -vc '^_=')\"",
        dir.path(),
        &[("GREETING", "hello")],
    );
    let mut script = cmd.spawn("env-test", Duration::from_secs(10)).unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    let out = output(&mut script).unwrap();
    let want = format!(
        "hello|{}||1\n",
        dir.path().canonicalize().unwrap().display()
    );
    assert_eq!(out, want, "the script saw another environment or directory");
}

#[test]
fn no_descriptor_of_the_server_reaches_a_script_but_its_three_pipes() {
    // What a server holds open: a listener, a log file, a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _log = std::fs::File::create(dir.path().join("error_log")).unwrap();
    // `ls` lists its own descriptors: the three pipes and the directory
    // it is reading (the highest number).
    let cmd = shell("exec ls /proc/self/fd", dir.path(), &[]);
    let mut script = cmd.spawn("fd-test", Duration::from_secs(10)).unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    let out = output(&mut script).unwrap();
    let fds: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "the script held other descriptors"
    );
}

#[test]
fn a_script_runs_in_a_process_group_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = shell(
        "ps -o pgid= -p $$",
        dir.path(),
        &[("PATH", "/usr/bin:/bin")],
    );
    let mut script = cmd.spawn("pgid-test", Duration::from_secs(10)).unwrap();
    let pid = script.pid().unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    let out = output(&mut script).unwrap();
    assert_eq!(out.trim(), pid.to_string(), "the script's process group");
}

#[test]
fn the_request_body_reaches_the_scripts_input_and_its_output_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = shell("exec cat", dir.path(), &[]);
    let mut script = cmd.spawn("cat", Duration::from_secs(10)).unwrap();
    // More than a pipe holds, so input and output must both move… but
    // mod_cgi's order is the body first, then the output: `cat` blocks on
    // its full output pipe, and the write times out. So: 32 KiB.
    let body = vec![b'x'; 32 * 1024];
    assert_eq!(script.send_body(&mut &body[..]).unwrap(), body.len() as u64);
    assert_eq!(output(&mut script).unwrap().len(), body.len());
}

#[test]
fn a_script_that_never_reads_its_input_is_cut_off_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = shell("exec sleep 60", dir.path(), &[]);
    let mut script = cmd.spawn("sleeper", Duration::from_millis(300)).unwrap();
    let pid = script.pid().unwrap();
    let started = Instant::now();
    let body = vec![0u8; 1 << 20];
    let err = script.send_body(&mut &body[..]).unwrap_err();
    assert!(matches!(err, ScriptError::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    drop(script);
    let gone = wait_for(10, || !Path::new(&format!("/proc/{pid}")).exists());
    assert!(gone, "the script that timed out was not killed and reaped");
}

#[test]
fn a_script_that_never_closes_its_output_is_cut_off_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = shell("echo started; exec sleep 60", dir.path(), &[]);
    let mut script = cmd.spawn("hanger", Duration::from_millis(300)).unwrap();
    let pid = script.pid().unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    let mut got = Vec::new();
    let err = script.read_to_end(&mut got).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert_eq!(got, b"started\n");
    drop(script);
    let gone = wait_for(10, || !Path::new(&format!("/proc/{pid}")).exists());
    assert!(gone, "the script that timed out was not killed and reaped");
}

#[test]
fn a_script_that_goes_on_after_its_request_is_ended_by_the_reaper() {
    let dir = tempfile::tempdir().unwrap();
    // Closes its output, then lingers.
    let cmd = shell("exec >/dev/null; exec sleep 60", dir.path(), &[]);
    let mut script = cmd.spawn("lingerer", Duration::from_secs(10)).unwrap();
    let pid = script.pid().unwrap();
    script.send_body(&mut std::io::empty()).unwrap();
    assert_eq!(output(&mut script).unwrap(), "");
    drop(script);
    let gone = wait_for(10, || !Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        gone,
        "the lingering script was still there after GRACE + SIGTERM"
    );
}

#[test]
fn scripts_are_reaped_so_no_zombie_is_left() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..200 {
        let mut script = shell("echo x 1>&2; echo y", dir.path(), &[])
            .spawn("reaped", Duration::from_secs(10))
            .unwrap();
        script.send_body(&mut std::io::empty()).unwrap();
        assert_eq!(output(&mut script).unwrap(), "y\n");
    }
    assert!(
        wait_for(10, || zombies() == 0),
        "{} zombies left after 200 scripts",
        zombies()
    );
}

#[test]
fn a_program_that_cannot_be_started_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let err = ScriptCommand::new(dir.path().join("missing.cgi"))
        .spawn("missing", Duration::from_secs(1))
        .unwrap_err();
    assert!(
        err.to_string().contains("no such file or directory")
            && err.to_string().contains("missing.cgi"),
        "{err}"
    );
}

#[test]
fn stderr_lines_are_split_at_newlines_and_at_the_longest_line() {
    let mut pending = b"one\r\ntwo\nthr".to_vec();
    io::log_lines("t", &mut pending);
    assert_eq!(pending, b"thr");
    let mut long = vec![b'a'; io::MAX_STDERR_LINE * 2 + 5];
    io::log_lines("t", &mut long);
    assert_eq!(long.len(), 5, "a long line is logged in pieces");
}
