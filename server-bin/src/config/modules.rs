//! The one table of what `mpmd` has built in, in Apache's module names.
//!
//! `<IfModule>` tests against it, `LoadModule` explains itself with it, and
//! `mpmd -l` / `-M` list it. `mpmd` has no loadable modules: every entry is
//! compiled in ("static" in Apache's words).

/// One module, as Apache names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The identifier `LoadModule` and `-M` use (`alias_module`).
    pub id: String,
    /// The source file name `-l` lists and `<IfModule>` accepts (`mod_alias.c`).
    pub file: String,
    /// Compiled into the binary (always true in `mpmd`; Apache would say
    /// "shared" for a module loaded from a `.so`).
    pub is_static: bool,
}

/// The fixed part of the table: `(module id, file name)`.
const BUILT_IN: &[(&str, &str)] = &[
    ("core_module", "core.c"),
    ("http_module", "http_core.c"),
    ("so_module", "mod_so.c"),
    ("alias_module", "mod_alias.c"),
    ("dir_module", "mod_dir.c"),
    ("mime_module", "mod_mime.c"),
    ("status_module", "mod_status.c"),
    ("log_config_module", "mod_log_config.c"),
    ("authz_core_module", "mod_authz_core.c"),
    ("authz_host_module", "mod_authz_host.c"),
    ("reqtimeout_module", "mod_reqtimeout.c"),
    ("autoindex_module", "mod_autoindex.c"),
    ("env_module", "mod_env.c"),
    ("setenvif_module", "mod_setenvif.c"),
    ("unixd_module", "mod_unixd.c"),
    ("version_module", "mod_version.c"),
    ("ssl_module", "mod_ssl.c"),
    ("file_cache_module", "mod_file_cache.c"),
    ("remoteip_module", "mod_remoteip.c"),
    ("rewrite_module", "mod_rewrite.c"),
    ("proxy_module", "mod_proxy.c"),
    ("proxy_http_module", "mod_proxy_http.c"),
    ("proxy_wstunnel_module", "mod_proxy_wstunnel.c"),
    ("proxy_fcgi_module", "mod_proxy_fcgi.c"),
    ("proxy_balancer_module", "mod_proxy_balancer.c"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.c"),
    ("lbmethod_bybusyness_module", "mod_lbmethod_bybusyness.c"),
    ("proxy_hcheck_module", "mod_proxy_hcheck.c"),
    ("headers_module", "mod_headers.c"),
    ("expires_module", "mod_expires.c"),
    ("filter_module", "mod_filter.c"),
    ("deflate_module", "mod_deflate.c"),
    ("brotli_module", "mod_brotli.c"),
    ("http2_module", "mod_http2.c"),
];

/// The MPMs that have an Apache name (`single`, the one-process strategy,
/// has none).
const APACHE_MPMS: &[&str] = &["prefork", "worker", "event"];

/// Every module compiled in, in `-l` order: core, the MPMs among
/// `compiled_mpms` that Apache knows, then the rest.
pub fn compiled_modules(compiled_mpms: &[&str]) -> Vec<Module> {
    let entry = |id: &str, file: &str| Module {
        id: id.to_string(),
        file: file.to_string(),
        is_static: true,
    };
    let mut out = vec![entry(BUILT_IN[0].0, BUILT_IN[0].1)];
    for mpm in APACHE_MPMS.iter().filter(|m| compiled_mpms.contains(m)) {
        out.push(entry(&format!("mpm_{mpm}_module"), &format!("{mpm}.c")));
    }
    out.extend(BUILT_IN[1..].iter().map(|(id, file)| entry(id, file)));
    out
}

/// The MPM an `<IfModule>` or `LoadModule` name stands for: `prefork` for
/// `mpm_prefork_module`, `prefork.c`, `mod_mpm_prefork.c` or `mpm_prefork`
/// (whether compiled in or not). `single` is named `mpm_single_module`.
pub fn mpm_of(name: &str) -> Option<&str> {
    let name = name.strip_suffix(".c").unwrap_or(name);
    let base = name
        .strip_prefix("mpm_")
        .map(|n| n.strip_suffix("_module").unwrap_or(n))
        .or_else(|| name.strip_prefix("mod_mpm_"))
        .unwrap_or(name);
    APACHE_MPMS
        .iter()
        .chain(std::iter::once(&"single"))
        .find(|m| **m == base)
        .copied()
        .filter(|m| *m != "single" || name.starts_with("mpm_"))
}

/// The built-in (non-MPM) module an id or file name names, if any.
pub fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(id, file)| *id == name || *file == name)
        .map(|(id, _)| *id)
}

/// What `<IfModule name>` tests: true for a built-in module, and for the
/// MPM that will run: the one `LoadModule` chose (`chosen_mpm`), or while
/// none is chosen the default strategy (the first of `compiled_mpms`), as
/// in Apache only the loaded MPM is present.
pub fn is_present(name: &str, compiled_mpms: &[&str], chosen_mpm: Option<&str>) -> bool {
    if built_in(name).is_some() {
        return true;
    }
    match mpm_of(name) {
        Some(mpm) if mpm != "single" => {
            compiled_mpms.contains(&mpm)
                && chosen_mpm.or(compiled_mpms.first().copied()) == Some(mpm)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_apache_spelling_of_an_mpm_is_recognised() {
        for name in [
            "mpm_worker_module",
            "worker.c",
            "mod_mpm_worker.c",
            "mpm_worker",
        ] {
            assert_eq!(mpm_of(name), Some("worker"), "{name}");
        }
        assert_eq!(mpm_of("mpm_single_module"), Some("single"));
        assert_eq!(mpm_of("single.c"), None);
        assert_eq!(mpm_of("mod_alias.c"), None);
    }

    #[test]
    fn ifmodule_is_true_only_for_the_default_mpm_and_built_ins() {
        // The default strategy comes first, as in `mpm::compiled()`.
        let compiled = ["prefork", "single"];
        assert!(is_present("prefork.c", &compiled, None));
        assert!(
            !is_present("event.c", &compiled, None),
            "event is not compiled in"
        );
        assert!(!is_present("mpm_single_module", &compiled, None));
        assert!(is_present("mod_alias.c", &compiled, None));
        assert!(is_present("status_module", &compiled, None));
        assert!(is_present("mod_ssl.c", &compiled, None));
        assert!(is_present("ssl_module", &compiled, None));
        assert!(is_present("mod_file_cache.c", &compiled, None));
        assert!(is_present("file_cache_module", &compiled, None));
        assert!(is_present("proxy_module", &compiled, None));
        assert!(is_present("mod_proxy_http.c", &compiled, None));
        assert!(is_present("proxy_wstunnel_module", &compiled, None));
        assert!(is_present("proxy_balancer_module", &compiled, None));
        assert!(is_present("mod_lbmethod_bybusyness.c", &compiled, None));
        assert!(is_present("proxy_hcheck_module", &compiled, None));
        assert!(is_present("http2_module", &compiled, None));
        assert!(is_present("mod_http2.c", &compiled, None));
        assert!(is_present("rewrite_module", &compiled, None));
        assert!(is_present("mod_rewrite.c", &compiled, None));
        assert!(!is_present("nothing_module", &compiled, None));
        let compiled = ["event", "worker", "prefork", "single"];
        assert!(is_present("event.c", &compiled, None));
        assert!(
            !is_present("prefork.c", &compiled, None),
            "compiled in but not the one that runs"
        );
    }

    #[test]
    fn once_an_mpm_is_loaded_the_others_are_absent() {
        let compiled = ["prefork", "worker", "event"];
        assert!(is_present("worker.c", &compiled, Some("worker")));
        assert!(!is_present("prefork.c", &compiled, Some("worker")));
    }

    #[test]
    fn list_has_core_first_and_the_compiled_mpms() {
        let list = compiled_modules(&["single", "event"]);
        assert_eq!(list[0].file, "core.c");
        assert_eq!(list[1].id, "mpm_event_module");
        assert!(list.iter().all(|m| m.is_static));
        assert!(!list.iter().any(|m| m.id.contains("prefork")));
        assert_eq!(list.len(), BUILT_IN.len() + 1);
    }
}
