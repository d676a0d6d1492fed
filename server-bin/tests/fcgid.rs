//! mod_fcgid through the real `mpmd`: its directives under their current
//! and legacy names (the operator's notes' `php.conf` passes `-t`).

mod common;

use common::*;

/// The operator's `php.conf`, as the notes give it.
const PHP_CONF: &str = "MaxRequestsPerProcess 1000
DefaultMaxClassProcessCount 120
IdleTimeout 60
MaxProcessCount 2000
IPCCommTimeout 40
IPCConnectTimeout 10
MaxRequestLen 10240000
";

#[test]
fn the_notes_php_conf_with_the_legacy_names_passes_the_syntax_check() {
    let site = Site::new();
    site.write("php.conf", PHP_CONF);
    let conf = site.config(&format!(
        "Listen 127.0.0.1:1\nInclude {}\nFcgidWrapper \"/usr/bin/php-cgi -d display_errors=0\" .php\nFcgidInitialEnv PHP_FCGI_MAX_REQUESTS 10000\nFcgidMinProcessesPerClass 0\nFcgidProcessLifeTime 3600\nFcgidMaxRequestInMem 65536\n",
        site.path("php.conf").display()
    ));
    let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "-t refused the notes' php.conf: {out}{err}");
}

#[test]
fn a_bad_fcgid_value_is_refused_with_its_file_and_line() {
    let site = Site::new();
    for (line, message) in [
        ("MaxProcessCount 0", "MaxProcessCount must be at least 1"),
        (
            "FcgidIOTimeout soon",
            "FcgidIOTimeout takes a number of seconds",
        ),
        ("FcgidMaxRequestLen -1", "FcgidMaxRequestLen takes a number"),
        (
            "FcgidWrapper /usr/bin/php-cgi php",
            "'php' is not an .extension or 'virtual'",
        ),
        (
            "FcgidInitialEnv",
            "FcgidInitialEnv takes a variable's name and its value",
        ),
        (
            "<VirtualHost *:80>\nIdleTimeout 5\n</VirtualHost>",
            "IdleTimeout cannot occur within <VirtualHost>",
        ),
    ] {
        let conf = site.config(&format!("Listen 127.0.0.1:1\n{line}\n"));
        let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
        let at = if line.starts_with('<') { 6 } else { 5 };
        let want = format!("{}:{at}: ", conf.display());
        assert!(
            code == 1 && err.contains(&want) && err.contains(message),
            "`{line}` should be refused at {want}…{message}; -t exited {code} saying:\n{err}"
        );
    }
}
