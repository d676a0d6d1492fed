//! What `-l`, `-M`, `-V` and `-S` print.

use std::fmt::Write;

use mpm::MpmInfo;

use crate::config::{self, ServerConfig};

/// `-l`: `Compiled in modules:` and one file name per line, as httpd.
pub fn compiled_modules() -> String {
    let mut out = String::from("Compiled in modules:\n");
    for m in config::modules::table(&mpm::compiled()) {
        let _ = writeln!(out, "  {}", m.file);
    }
    out
}

/// `-M`: `Loaded Modules:` with `name (static)` per module, the running
/// MPM only.
pub fn loaded_modules(running: MpmInfo) -> String {
    let mut out = String::from("Loaded Modules:\n");
    for m in config::modules::table(&[running.name]) {
        let _ = writeln!(out, " {} (static)", m.id);
    }
    out
}

/// `-V`: version and build settings.
pub fn version(info: MpmInfo) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "Server version: {}\nServer built:   {} (cargo {})\nArchitecture:   {}-bit\nServer MPM:     {}\n  threaded:     {}\n    forked:     {}\nCompiled in MPMs: {}\n",
        crate::server::VERSION,
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        usize::BITS,
        info.name,
        yes_no(info.threaded),
        yes_no(info.forked),
        mpm::compiled().join(", "),
    )
}

/// `-S`: virtual hosts by address:port, with names, document roots and the
/// line each is defined on; then the main server's settings.
pub fn vhosts(cfg: &ServerConfig, defines: &[String]) -> String {
    let mut out = String::from("VirtualHost configuration:\n");
    // Group vhosts by the address:port they answer on, in order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, v) in cfg.vhosts.iter().enumerate() {
        for a in &v.addrs {
            let ip = a.ip.map(|ip| match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
            let key = format!(
                "{}:{}",
                ip.unwrap_or_else(|| "*".into()),
                a.port.map(|p| p.to_string()).unwrap_or_else(|| "*".into())
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(i),
                None => groups.push((key, vec![i])),
            }
        }
    }
    for (key, list) in &groups {
        let name = |i: usize| {
            cfg.vhosts[i]
                .server_name
                .clone()
                .unwrap_or_else(|| "(none)".into())
        };
        if list.len() == 1 {
            let v = &cfg.vhosts[list[0]];
            let _ = writeln!(
                out,
                "{key:<22} {} ({}) [{}]",
                name(list[0]),
                v.origin,
                v.document_root.display()
            );
            continue;
        }
        let _ = writeln!(out, "{key:<22} is a NameVirtualHost");
        for (n, &i) in list.iter().enumerate() {
            let v = &cfg.vhosts[i];
            let role = if n == 0 {
                "default server".to_string()
            } else {
                format!("port {} namevhost", key.rsplit(':').next().unwrap_or("*"))
            };
            let _ = writeln!(
                out,
                "         {role} {} ({}) [{}]",
                name(i),
                v.origin,
                v.document_root.display()
            );
            for alias in &v.server_aliases {
                let _ = writeln!(out, "                 alias {alias}");
            }
        }
    }
    let _ = writeln!(out, "ServerRoot: \"{}\"", cfg.server_root.display());
    let _ = writeln!(
        out,
        "Main DocumentRoot: \"{}\"",
        cfg.main_server.document_root.display()
    );
    let _ = writeln!(
        out,
        "Main ErrorLog: \"{}\"",
        cfg.error_log
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "stderr".into())
    );
    let _ = writeln!(out, "PidFile: \"{}\"", cfg.pid_file.display());
    for d in defines {
        let _ = writeln!(out, "Define: {d}");
    }
    if let Some(u) = &cfg.mpm.user {
        let _ = writeln!(out, "User: name=\"{u}\"");
    }
    if let Some(g) = &cfg.mpm.group {
        let _ = writeln!(out, "Group: name=\"{g}\"");
    }
    out
}
