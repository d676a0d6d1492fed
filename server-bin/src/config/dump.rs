//! What `mpmd` prints about itself and its configuration instead of
//! serving: `-v` and `-V` (the version and build), `-l` and `-M` (the
//! modules), and `-S` (the virtual-host table and main settings, as Apache
//! prints them with `httpd -S`, so an operator can see which host answers
//! where).

use std::fmt::Write;

use mpm::strategy::MpmInfo;

use super::modules;
use super::server_config::ServerConfig;
use mpm_site::config::{VhostAddr, VirtualHost};

/// `mpmd/0.1.0`: what `-v` prints, the status page shows and the startup
/// message names.
pub const VERSION: &str = concat!("mpmd/", env!("CARGO_PKG_VERSION"));

/// `-l`: `Compiled in modules:` and one file name per line, as httpd.
pub fn compiled_modules() -> String {
    let mut out = String::from("Compiled in modules:\n");
    for m in modules::compiled_modules(&mpm::compiled()) {
        let _ = writeln!(out, "  {}", m.file);
    }
    out
}

/// `-M`: `Loaded Modules:` with `name (static)` per module, the running
/// MPM only.
pub fn loaded_modules(running: MpmInfo) -> String {
    let mut out = String::from("Loaded Modules:\n");
    for m in modules::compiled_modules(&[running.name]) {
        let _ = writeln!(out, " {} (static)", m.id);
    }
    out
}

/// `-V`: version and build settings.
pub fn version(info: MpmInfo) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "Server version: {}\nServer built:   {} (cargo {})\nArchitecture:   {}-bit\nServer MPM:     {}\n  threaded:     {}\n    forked:     {}\nCompiled in MPMs: {}\n",
        VERSION,
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        usize::BITS,
        info.name,
        yes_no(info.threaded),
        yes_no(info.forked),
        mpm::compiled().join(", "),
    )
}

/// `-S`: [`describe`], then the `-D` names.
pub fn vhosts(cfg: &ServerConfig, defines: &[String]) -> String {
    let mut out = describe(cfg);
    for d in defines {
        let _ = writeln!(out, "Define: {d}");
    }
    out
}

/// `*:80`, `127.0.0.1:8080`, `[::1]:*`.
fn addr_text(addr: &VhostAddr) -> String {
    let host = match addr.ip {
        None => "*".to_string(),
        Some(std::net::IpAddr::V4(ip)) => ip.to_string(),
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
    };
    match addr.port {
        Some(port) => format!("{host}:{port}"),
        None => format!("{host}:*"),
    }
}

fn name_of(host: &VirtualHost) -> &str {
    host.server_name.as_deref().unwrap_or("(no ServerName)")
}

/// The text `mpmd -S` prints: hosts grouped by address (several on one
/// address are name-based, the first being the default), then `ServerRoot`,
/// the main `DocumentRoot`, `ErrorLog`, `PidFile`, the MPM, `User`/`Group`
/// and the files mod_file_cache loads (`MMapFile`, `CacheFile`).
pub fn describe(cfg: &ServerConfig) -> String {
    let mut groups: Vec<(String, Vec<&VirtualHost>)> = Vec::new();
    for host in &cfg.site.vhosts {
        for addr in &host.addrs {
            let key = addr_text(addr);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, hosts)) => hosts.push(host),
                None => groups.push((key, vec![host])),
            }
        }
    }
    let mut out = String::from("VirtualHost configuration:\n");
    for (addr, hosts) in &groups {
        if let [only] = hosts.as_slice() {
            let _ = writeln!(
                out,
                "{addr:<22} {} ({}) [{}]",
                name_of(only),
                only.origin,
                only.document_root.display()
            );
            continue;
        }
        let _ = writeln!(out, "{addr:<22} is a NameVirtualHost");
        let _ = writeln!(
            out,
            "         default server {} ({}) [{}]",
            name_of(hosts[0]),
            hosts[0].origin,
            hosts[0].document_root.display()
        );
        let port = addr.rsplit_once(':').map_or("*", |(_, p)| p);
        for host in hosts {
            let _ = writeln!(
                out,
                "         port {port} namevhost {} ({}) [{}]",
                name_of(host),
                host.origin,
                host.document_root.display()
            );
            for alias in &host.server_aliases {
                let _ = writeln!(out, "                 alias {alias}");
            }
        }
    }
    let _ = writeln!(out, "ServerRoot: \"{}\"", cfg.server_root.display());
    let _ = writeln!(
        out,
        "Main DocumentRoot: \"{}\"",
        cfg.site.main.document_root.display()
    );
    match &cfg.error_log {
        Some(path) => {
            let _ = writeln!(out, "Main ErrorLog: \"{}\"", path.display());
        }
        None => out.push_str("Main ErrorLog: stderr\n"),
    }
    let _ = writeln!(out, "PidFile: \"{}\"", cfg.pid_file.display());
    if let Some(mpm) = &cfg.mpm_name {
        let _ = writeln!(out, "MPM: {mpm}");
    }
    if let Some(user) = &cfg.mpm.user {
        let _ = writeln!(out, "User: name=\"{user}\"");
    }
    if let Some(group) = &cfg.mpm.group {
        let _ = writeln!(out, "Group: name=\"{group}\"");
    }
    for file in &cfg.site.cached_files {
        let _ = writeln!(
            out,
            "{}: \"{}\" ({})",
            file.kind.directive(),
            file.path.display(),
            file.origin
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{load, LoadOptions};
    use super::*;

    #[test]
    fn name_based_hosts_on_one_address_list_the_default_first_with_aliases() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("httpd.conf");
        std::fs::write(
            &file,
            "Listen 80\nListen 8080\nUser daemon\n<VirtualHost *:80>\nServerName a\nServerAlias www.a\n</VirtualHost>\n\
             <VirtualHost *:80>\nServerName b\n</VirtualHost>\n<VirtualHost 127.0.0.1:8080>\nServerName c\n</VirtualHost>\n",
        )
        .expect("write config");
        let cfg = load(Some(&file), &LoadOptions::default()).expect("config loads");
        let text = describe(&cfg);
        let f = file.display();
        let d = cfg.site.main.document_root.display();
        let expected_hosts = format!(
            "VirtualHost configuration:\n\
             *:80                   is a NameVirtualHost\n\
             \x20        default server a ({f}:4) [{d}]\n\
             \x20        port 80 namevhost a ({f}:4) [{d}]\n\
             \x20                alias www.a\n\
             \x20        port 80 namevhost b ({f}:8) [{d}]\n\
             127.0.0.1:8080         c ({f}:11) [{d}]\n"
        );
        assert!(
            text.starts_with(&expected_hosts),
            "got:\n{text}\nexpected to start with:\n{expected_hosts}"
        );
        assert!(
            text.contains(&format!("ServerRoot: \"{}\"\n", dir.path().display())),
            "{text}"
        );
        assert!(
            text.contains("Main ErrorLog: stderr\n") && text.contains("User: name=\"daemon\"\n"),
            "{text}"
        );
    }
}
