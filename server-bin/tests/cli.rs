//! `mpmd` commands that run to completion: `-t` over the configuration
//! corpus, the listings (`-l`, `-M`, `-V`, `-v`, `-S`, `-h`) and the
//! command-line and `LoadModule` errors.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}

/// The MPMs this `mpmd` was built with, from its `-V`.
fn compiled_mpms() -> Vec<String> {
    let (code, out, err) = run(&["-V"]);
    assert_eq!(code, 0, "-V failed: {err}");
    out.lines()
        .find_map(|l| l.strip_prefix("Compiled in MPMs:"))
        .unwrap_or_else(|| panic!("-V has no `Compiled in MPMs:` line:\n{out}"))
        .split(',')
        .map(|m| m.trim().to_string())
        .collect()
}

/// The first top-level `LoadModule mpm_X_module` of `text` whose MPM this
/// build lacks: (line number, X). Such a file cannot check OK here; it
/// must fail at that line naming what is compiled in.
fn uncompiled_mpm(text: &str, compiled: &[String]) -> Option<(usize, String)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let mut words = line.split_whitespace();
        if !words.next()?.eq_ignore_ascii_case("LoadModule") {
            return None;
        }
        let mpm = words
            .next()?
            .strip_prefix("mpm_")?
            .strip_suffix("_module")?;
        (!compiled.iter().any(|c| c == mpm)).then(|| (i + 1, mpm.to_string()))
    })
}

#[test]
fn every_good_corpus_file_checks_ok() {
    let files = corpus("good");
    assert!(files.len() >= 5, "good corpus too small: {files:?}");
    let compiled = compiled_mpms();
    let mut failures = Vec::new();
    for file in &files {
        let f = file.to_str().unwrap();
        let (code, _out, err) = run(&["-t", "-f", f]);
        let text = std::fs::read_to_string(file).unwrap();
        match uncompiled_mpm(&text, &compiled) {
            // Good with the MPM it loads; this build has not got it.
            Some((line, mpm)) => {
                let want = format!(
                    "{f}:{line}: Cannot load module mpm_{mpm}_module: the {mpm} MPM is not compiled into mpmd; compiled in: {}",
                    compiled.join(", ")
                );
                if code != 1 || !err.contains(&want) {
                    failures.push(format!("{f}: exit {code}, wanted `{want}`:\n{err}"));
                }
            }
            None => {
                if code != 0 || !err.contains("Syntax OK") {
                    failures.push(format!("{f}: exit {code}:\n{err}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_bad_corpus_file_fails_at_its_expected_line() {
    let files = corpus("bad");
    assert!(files.len() >= 25, "bad corpus too small: {}", files.len());
    let compiled = compiled_mpms();
    let mut failures = Vec::new();
    for file in &files {
        let f = file.to_str().unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{f} lacks its `# expect:` line"));
        let (place, message) = expect.split_once(": ").expect("`LINE: text`");
        // (`file:line: ` the message starts with, text it contains)
        let (origin, want) = match (uncompiled_mpm(&text, &compiled), place) {
            // Loading an MPM this build lacks fails first.
            (Some((line, mpm)), _) => (
                format!("{f}:{line}: "),
                format!(
                    "Cannot load module mpm_{mpm}_module: the {mpm} MPM is not compiled into mpmd"
                ),
            ),
            (None, "-") => (String::new(), message.to_string()),
            (None, p) => match p.rsplit_once(':') {
                Some((other, line)) => (
                    format!("{}:{line}: ", file.parent().unwrap().join(other).display()),
                    message.to_string(),
                ),
                None => (format!("{f}:{p}: "), message.to_string()),
            },
        };
        let (code, out, err) = run(&["-t", "-f", f]);
        let found = err.lines().any(|l| {
            l.strip_prefix("mpmd: ")
                .and_then(|l| l.strip_prefix(origin.as_str()))
                .is_some_and(|m| m.contains(&want))
        });
        if code != 1 || !found || err.contains("Syntax OK") {
            failures.push(format!(
                "{f}: exit {code}, wanted `mpmd: {origin}…{want}…`; stdout {out:?}; stderr:\n{err}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} bad files misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_apache_mpm_snippet_warns_about_missing_document_roots_and_checks_ok() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_corpus/good/apache_mpm_snippet.conf");
    let f = file.to_str().unwrap();
    let (code, _out, err) = run(&["-t", "-f", f]);
    assert_eq!(code, 0, "stderr: {err}");
    for (line, root) in [(31, "/www/a"), (34, "/www/ab")] {
        let want = format!("mpmd: warning: {f}:{line}: DocumentRoot '{root}' does not exist");
        assert!(err.contains(&want), "no `{want}` in:\n{err}");
    }
    assert!(err.trim_end().ends_with("Syntax OK"), "stderr: {err}");
}

#[test]
fn dash_l_lists_the_compiled_in_modules() {
    let (code, out, err) = run(&["-l"]);
    assert_eq!(code, 0, "stderr: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Compiled in modules:"), "{out}");
    let files: Vec<&str> = lines.map(str::trim).collect();
    for m in [
        "core.c",
        "mod_alias.c",
        "mod_status.c",
        "mod_log_config.c",
        "mod_file_cache.c",
        "mod_remoteip.c",
    ] {
        assert!(files.contains(&m), "{m} missing from:\n{out}");
    }
}

/// `-M` and `-t -D DUMP_MODULES` need a configuration; any valid one.
fn small_conf() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mpmd.conf");
    std::fs::create_dir_all(dir.path().join("htdocs")).unwrap();
    std::fs::write(&conf, "Listen 127.0.0.1:1\n").unwrap();
    (dir, conf)
}

#[test]
fn dash_m_and_dump_modules_list_the_loaded_modules() {
    let (_dir, conf) = small_conf();
    let f = conf.to_str().unwrap();
    let (code, m_out, err) = run(&["-M", "-f", f]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(m_out.starts_with("Loaded Modules:\n"), "{m_out}");
    for m in [
        "core_module (static)",
        "alias_module (static)",
        "file_cache_module (static)",
        "remoteip_module (static)",
    ] {
        assert!(
            m_out.lines().any(|l| l.trim() == m),
            "{m} missing:\n{m_out}"
        );
    }
    let (code, d_out, d_err) = run(&["-t", "-D", "DUMP_MODULES", "-f", f]);
    assert_eq!(code, 0, "stderr: {d_err}");
    assert_eq!(d_out, m_out, "-t -D DUMP_MODULES lists differently from -M");
    assert!(d_err.contains("Syntax OK"), "stderr: {d_err}");
}

#[test]
fn dash_capital_v_shows_the_mpm_and_its_kind() {
    let (_dir, conf) = small_conf();
    let (code, out, err) = run(&["-V", "-f", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr: {err}");
    let mpm = out
        .lines()
        .find_map(|l| l.strip_prefix("Server MPM:"))
        .unwrap_or_else(|| panic!("no `Server MPM:` in:\n{out}"))
        .trim();
    assert!(compiled_mpms().iter().any(|c| c == mpm), "{out}");
    for field in ["threaded:", "forked:"] {
        let value = out
            .lines()
            .find_map(|l| l.trim().strip_prefix(field))
            .unwrap_or_else(|| panic!("no {field} in:\n{out}"))
            .trim();
        assert!(value == "yes" || value == "no", "{field} {value:?}");
    }
    assert!(out.starts_with("Server version: mpmd/"), "{out}");
}

#[test]
fn dash_v_prints_the_version() {
    let (code, out, err) = run(&["-v"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.starts_with("Server version: mpmd/"), "{out}");
    let version = out.trim_end().rsplit('/').next().unwrap();
    assert_eq!(version, env!("CARGO_PKG_VERSION"), "{out}");
}

/// A configuration with two ports, a name-based pair on the first.
fn two_port_conf() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    for d in ["htdocs", "a", "b", "c"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let conf = dir.path().join("mpmd.conf");
    std::fs::write(
        &conf,
        format!(
            "Listen 127.0.0.1:18081\nListen 127.0.0.1:18082\nServerName main.test\n\
             <VirtualHost 127.0.0.1:18081>\nServerName a.test\nServerAlias *.a.test\nDocumentRoot {root}/a\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:18081>\nServerName b.test\nDocumentRoot {root}/b\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:18082>\nServerName c.test\nDocumentRoot {root}/c\n</VirtualHost>\n"
        ),
    )
    .unwrap();
    (dir, conf)
}

#[test]
fn dash_s_shows_each_address_its_hosts_and_where_they_are_written() {
    let (dir, conf) = two_port_conf();
    let f = conf.to_str().unwrap();
    let (code, out, err) = run(&["-S", "-f", f]);
    assert_eq!(code, 0, "stderr: {err}");
    let r = dir.path().display();
    let want = format!(
        "VirtualHost configuration:\n\
         127.0.0.1:18081        is a NameVirtualHost\n\
         \x20        default server a.test ({f}:4) [{r}/a]\n\
         \x20        port 18081 namevhost a.test ({f}:4) [{r}/a]\n\
         \x20                alias *.a.test\n\
         \x20        port 18081 namevhost b.test ({f}:9) [{r}/b]\n\
         127.0.0.1:18082        c.test ({f}:13) [{r}/c]\n"
    );
    assert!(
        out.starts_with(&want),
        "got:\n{out}\nwanted it to start:\n{want}"
    );
    let root = dir.path().display();
    for line in [
        format!("ServerRoot: \"{root}\""),
        format!("Main DocumentRoot: \"{root}/htdocs\""),
        format!("PidFile: \"{root}/logs/mpmd.pid\""),
    ] {
        assert!(out.lines().any(|l| l == line), "no {line} in:\n{out}");
    }
    // The -D synonym prints the same, and (as httpd) the defines after.
    let (code, d_out, d_err) = run(&["-t", "-D", "DUMP_VHOSTS", "-f", f]);
    assert_eq!(code, 0, "stderr: {d_err}");
    assert_eq!(d_out, format!("{out}Define: DUMP_VHOSTS\n"));
    assert!(d_err.contains("Syntax OK"), "stderr: {d_err}");
}

#[test]
fn dash_h_shows_the_usage_with_k() {
    let (code, out, err) = run(&["-h"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.starts_with("Usage: mpmd"), "{out}");
    assert!(
        out.contains("-k start|restart|graceful|graceful-stop|stop"),
        "{out}"
    );
    assert!(out.contains("-k action"), "{out}");
}

#[test]
fn an_unknown_option_exits_1_with_the_usage() {
    let (code, out, err) = run(&["-Z"]);
    assert_eq!(code, 1, "stdout {out:?}");
    assert!(err.contains("mpmd: unknown option '-Z'"), "stderr: {err}");
    assert!(err.contains("Usage: mpmd"), "stderr: {err}");
}

#[test]
fn an_unknown_k_action_exits_1() {
    let (code, out, err) = run(&["-k", "bogus"]);
    assert_eq!(code, 1, "stdout {out:?}");
    assert!(err.contains("unknown -k action 'bogus'"), "stderr: {err}");
}

/// `-t` on a file of `Listen` and `line`: (exit, stderr, file name).
fn check_with(line: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mpmd.conf");
    std::fs::write(&conf, format!("Listen 127.0.0.1:1\n{line}\n")).unwrap();
    let f = conf.to_str().unwrap().to_string();
    let (code, _out, err) = run(&["-t", "-f", &f]);
    (code, err, f)
}

#[test]
fn loading_a_compiled_in_mpm_checks_ok() {
    let mpm = &compiled_mpms()[0];
    let (code, err, _) = check_with(&format!("LoadModule mpm_{mpm}_module modules/x.so"));
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("Syntax OK"), "stderr: {err}");
}

#[test]
fn loading_an_mpm_of_apache_this_build_lacks_names_the_compiled_in_ones() {
    let compiled = compiled_mpms();
    let Some(missing) = ["prefork", "worker", "event"]
        .into_iter()
        .find(|m| !compiled.iter().any(|c| c == m))
    else {
        return; // every MPM compiled in: nothing to refuse
    };
    let (code, err, f) = check_with(&format!("LoadModule mpm_{missing}_module x.so"));
    assert_eq!(code, 1, "stderr: {err}");
    let want = format!(
        "{f}:2: Cannot load module mpm_{missing}_module: the {missing} MPM is not compiled into mpmd; compiled in: {}",
        compiled.join(", ")
    );
    assert!(err.contains(&want), "no `{want}` in:\n{err}");
}

#[test]
fn loading_an_unknown_mpm_names_the_compiled_in_mpms() {
    let compiled = compiled_mpms();
    let (code, err, f) = check_with("LoadModule mpm_nonesuch_module x.so");
    assert_eq!(code, 1, "stderr: {err}");
    assert!(
        err.contains(&format!("{f}:2: Cannot load module mpm_nonesuch_module")),
        "stderr: {err}"
    );
    for mpm in &compiled {
        assert!(
            err.contains(mpm.as_str()),
            "the compiled-in MPM {mpm} is not named:\n{err}"
        );
    }
}

#[test]
fn loading_a_module_mpmd_lacks_names_it() {
    let (code, err, f) = check_with("LoadModule php_module modules/libphp.so");
    assert_eq!(code, 1, "stderr: {err}");
    assert!(
        err.contains(&format!(
            "{f}:2: Cannot load module php_module: mpmd has no loadable modules"
        )),
        "stderr: {err}"
    );
    assert!(!err.contains("Syntax OK"), "stderr: {err}");
}

#[test]
fn dash_t_refuses_every_duration_longer_than_a_year_with_file_line_and_the_largest_allowed() {
    for line in [
        "Timeout 18446744073709551615",
        "KeepAliveTimeout 31536001",
        "KeepAliveTimeout 31536000001ms",
        "GracefulShutdownTimeout 99999999999999999999",
        "RequestReadTimeout header=18446744073709551615",
        "RequestReadTimeout body=20-31536001,MinRate=500",
        "SSLSessionCacheTimeout 18446744073709551615",
    ] {
        let (code, err, f) = check_with(line);
        assert_eq!(code, 1, "`{line}` passed -t; stderr: {err}");
        assert!(
            err.contains(&format!("{f}:2: "))
                && err.contains("the largest value allowed is 31536000 seconds (365 days)"),
            "`{line}` was not refused at {f}:2 with the largest value allowed; stderr: {err}"
        );
    }
    for line in ["Timeout 31536000", "KeepAliveTimeout 31536000000ms"] {
        let (code, err, _) = check_with(line);
        assert_eq!(code, 0, "`{line}` (exactly a year) was refused: {err}");
    }
}
