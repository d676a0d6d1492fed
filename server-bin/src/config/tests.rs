//! The loader's behaviour, from configuration text to [`ServerConfig`].

use super::*;
use mpm_site::pipeline::{DirConfig, HandlerName, SectionKind};
use std::net::IpAddr;
use std::time::Duration;

/// The host's `<Directory>` sections (path, config, line), in its order.
fn directories(host: &VirtualHost) -> Vec<(&Path, &DirConfig, usize)> {
    host.sections
        .iter()
        .filter_map(|s| match &s.kind {
            SectionKind::Directory(path) => Some((path.as_path(), &s.config, s.origin.line)),
            _ => None,
        })
        .collect()
}

/// The host's `<Location>` sections (path, config), in its order.
fn locations(host: &VirtualHost) -> Vec<(&str, &DirConfig)> {
    host.sections
        .iter()
        .filter_map(|s| match &s.kind {
            SectionKind::Location(path) => Some((path.as_str(), &s.config)),
            _ => None,
        })
        .collect()
}

fn opts() -> LoadOptions {
    LoadOptions {
        compiled_mpms: vec!["event", "worker", "prefork", "single"],
        ..LoadOptions::default()
    }
}

/// Writes `text` as `httpd.conf` in a fresh directory and loads it.
fn load_with(
    text: &str,
    opts: &LoadOptions,
) -> (tempfile::TempDir, Result<ServerConfig, ConfigError>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("httpd.conf");
    std::fs::write(&file, text).expect("write config");
    let result = load(Some(&file), opts);
    (dir, result)
}

fn ok(text: &str) -> ServerConfig {
    match load_with(text, &opts()) {
        (_, Ok(cfg)) => cfg,
        (_, Err(e)) => panic!("config should load but failed with: {e}\n---\n{text}"),
    }
}

/// The error message (with `httpd.conf:line:`), the temporary path cut off.
fn err(text: &str) -> String {
    err_with(text, &opts())
}

fn err_with(text: &str, opts: &LoadOptions) -> String {
    match load_with(text, opts) {
        (_, Ok(cfg)) => panic!("config should fail but loaded: {cfg:#?}\n---\n{text}"),
        (dir, Err(e)) => e
            .to_string()
            .replace(&format!("{}/", dir.path().display()), ""),
    }
}

#[test]
fn built_in_configuration_serves_the_sample_site_on_8080() {
    let cfg = load(None, &opts()).unwrap_or_else(|e| panic!("built-in config failed: {e}"));
    assert_eq!(cfg.listens, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("localhost"));
    let site = Path::new(SAMPLE_SITE)
        .canonicalize()
        .expect("the sample site exists");
    assert_eq!(cfg.site.main.document_root, site);
    assert!(site.join("index.html").is_file());
    assert_eq!(
        std::fs::read(site.join("hello.txt")).unwrap(),
        b"Hello, World!"
    );
    assert_eq!(cfg.server_root, site.parent().unwrap());
    let (path, status) = locations(&cfg.site.main)[0];
    assert_eq!(
        (
            path,
            status.handler.as_ref().map(HandlerName::name),
            &status.require
        ),
        (
            "/server-status",
            Some("server-status"),
            &Some(Require::Local)
        )
    );
    assert!(cfg.protocol.timeouts.keep_alive);
    assert!(
        cfg.warnings.is_empty(),
        "built-in config warns: {:?}",
        cfg.warnings
    );
}

#[test]
fn server_root_defaults_to_the_config_directory_and_paths_become_absolute() {
    let (dir, cfg) = load_with(
            "Listen 8080\nDocumentRoot docs/./site/\nErrorLog logs/error_log\nCustomLog logs/access_log common\n",
            &opts(),
        );
    let cfg = cfg.unwrap();
    let root = dir.path();
    assert_eq!(cfg.server_root, root);
    assert_eq!(cfg.site.main.document_root, root.join("docs/site"));
    assert_eq!(cfg.error_log, Some(root.join("logs/error_log")));
    assert_eq!(cfg.pid_file, root.join("logs/mpmd.pid"));
    assert_eq!(
        cfg.site.main.custom_logs[0].path,
        root.join("logs/access_log")
    );
    assert!(
        cfg.warnings[0].ends_with(&format!(
            "httpd.conf:2: DocumentRoot '{}' does not exist",
            root.join("docs/site").display()
        )),
        "{:?}",
        cfg.warnings
    );
}

#[test]
fn main_document_root_defaults_to_htdocs_under_server_root() {
    let cfg = ok("Listen 80\nServerRoot /\n");
    assert_eq!(cfg.site.main.document_root, Path::new("/htdocs"));
    assert_eq!(cfg.site.main.dir.directory_index(), ["index.html"]);
}

#[test]
fn no_listen_is_an_error() {
    assert!(err("ServerName a\n").contains("no listening sockets available, shutting down"));
}

#[test]
fn listen_forms_and_duplicates() {
    let cfg = ok("Listen 80\nListen 127.0.0.1:8080\nListen [::1]:8080\n");
    assert_eq!(cfg.listens.len(), 3);
    assert_eq!(
        cfg.listens[1].ip,
        Some("127.0.0.1".parse::<IpAddr>().unwrap())
    );
    let e = err("Listen 80\nListen *:80\n");
    assert!(
        e.starts_with("httpd.conf:2: Cannot define multiple Listeners on the same IP:port"),
        "{e}"
    );
    let e = err("Listen 99999\n");
    assert!(e.starts_with("httpd.conf:1: invalid Listen address"), "{e}");
}

#[test]
fn listen_inside_virtualhost_says_where_it_belongs() {
    let e = err("Listen 80\n<VirtualHost *:80>\nListen 81\n</VirtualHost>\n");
    assert_eq!(
            e,
            "httpd.conf:3: Listen cannot occur within <VirtualHost> section; it belongs in the main server configuration"
        );
    let e = err("Listen 80\n<Directory /tmp>\nDocumentRoot /tmp\n</Directory>\n");
    assert!(
        e.starts_with("httpd.conf:3: DocumentRoot is not allowed inside <Directory>"),
        "{e}"
    );
}

#[test]
fn accept_filter_defaults_to_data_for_http_and_https_and_none_turns_it_off() {
    let cfg = ok("Listen 80\n");
    let f = &cfg.accept_filters;
    assert!(f.defers("http") && f.defers("https"), "{f:?}");
    let cfg = ok("Listen 80\nAcceptFilter http none\nAcceptFilter https httpready\n");
    let f = &cfg.accept_filters;
    assert!(!f.defers("http") && f.defers("https"), "{f:?}");
    let e = err("Listen 80\nAcceptFilter http\n");
    assert!(
        e.starts_with("httpd.conf:2: AcceptFilter takes a protocol and a filter"),
        "{e}"
    );
    let e = err("Listen 80\n<VirtualHost *:80>\nAcceptFilter http none\n</VirtualHost>\n");
    assert!(
        e.starts_with("httpd.conf:3: AcceptFilter cannot occur within <VirtualHost> section"),
        "{e}"
    );
}

#[test]
fn unknown_directive_uses_apaches_wording() {
    assert_eq!(
            err("Listen 80\nFrobnicate on\n"),
            "httpd.conf:2: Invalid command 'Frobnicate', perhaps misspelled or defined by a module not included in the server configuration"
        );
}

#[test]
fn directive_names_are_case_insensitive() {
    let cfg = ok("listen 80\nKEEPALIVE off\nmaxclients 12\n");
    assert!(!cfg.protocol.timeouts.keep_alive);
    assert_eq!(cfg.mpm.max_request_workers, Some(12));
}

#[test]
fn mpm_directives_and_their_legacy_aliases() {
    let cfg = ok("Listen 80\nStartServers 2\nMinSpareServers 3\nMaxSpareServers 4\nMinSpareThreads 5\n\
             MaxSpareThreads 6\nThreadsPerChild 7\nThreadLimit 8\nServerLimit 9\nMaxRequestWorkers 10\n\
             MaxConnectionsPerChild 11\nAsyncRequestWorkerFactor 3\nListenBacklog 4096\nGracefulShutdownTimeout 30\n\
             MaxMemFree 2048\nThreadStackSize 8388608\nUser www\nGroup #33\n");
    let m = &cfg.mpm;
    assert_eq!(
        (
            m.start_servers,
            m.min_spare_servers,
            m.max_spare_servers,
            m.min_spare_threads,
            m.max_spare_threads
        ),
        (Some(2), 3, 4, 5, 6)
    );
    assert_eq!(
        (
            m.threads_per_child,
            m.thread_limit,
            m.server_limit,
            m.max_request_workers
        ),
        (7, 8, Some(9), Some(10))
    );
    assert_eq!(
        (
            m.max_connections_per_child,
            m.async_request_worker_factor,
            m.listen_backlog
        ),
        (11, 3, 4096)
    );
    assert_eq!(m.graceful_shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        (m.user.as_deref(), m.group.as_deref()),
        (Some("www"), Some("#33"))
    );
    let cfg = ok("Listen 80\nMaxRequestsPerChild 4000\n");
    assert_eq!(cfg.mpm.max_connections_per_child, 4000);
}

#[test]
fn bad_number_names_directive_and_value() {
    assert_eq!(
        err("Listen 80\nStartServers abc\n"),
        "httpd.conf:2: StartServers takes a number, not 'abc'"
    );
    assert_eq!(
        err("Listen 80\nMaxClients -1\n"),
        "httpd.conf:2: MaxClients takes a number, not '-1'"
    );
}

#[test]
fn keepalive_and_timeouts() {
    let cfg = ok(
        "Listen 80\nKeepAlive Off\nKeepAliveTimeout 300ms\nMaxKeepAliveRequests 0\nTimeout 30\n",
    );
    let t = &cfg.protocol.timeouts;
    assert!(!t.keep_alive);
    assert_eq!(t.keep_alive_timeout, Duration::from_millis(300));
    assert_eq!(t.max_keep_alive_requests, 0);
    assert_eq!(t.timeout, Duration::from_secs(30));
    assert!(
        err("Listen 80\nKeepAlive maybe\n").contains("KeepAlive must be On or Off, not 'maybe'")
    );
}

#[test]
fn request_read_timeout_is_parsed_fully() {
    let cfg = ok("Listen 80\nRequestReadTimeout header=10-30,MinRate=100 body=0\n");
    let r = cfg.protocol.timeouts.request_read;
    assert_eq!(r.header.initial, Duration::from_secs(10));
    assert_eq!(r.header.max, Some(Duration::from_secs(30)));
    assert_eq!(r.header.min_rate, 100);
    assert_eq!(r.body.initial, Duration::ZERO, "body=0 disables the stage");
    let cfg = ok("Listen 80\nRequestReadTimeout body=15,MinRate=1000\n");
    let r = cfg.protocol.timeouts.request_read;
    assert_eq!(
        r.header,
        mpm::RequestReadTimeout::default().header,
        "header keeps its default"
    );
    assert_eq!(
        (r.body.initial, r.body.max, r.body.min_rate),
        (Duration::from_secs(15), None, 1000)
    );
    for bad in [
        "header=20-10,MinRate=5",
        "header=20-40",
        "head=20",
        "header=x",
        "body=20,Rate=3",
    ] {
        let e = err(&format!("Listen 80\nRequestReadTimeout {bad}\n"));
        assert!(
            e.starts_with(&format!("httpd.conf:2: RequestReadTimeout {bad}:")),
            "{bad}: {e}"
        );
    }
}

#[test]
fn limits() {
    let cfg = ok("Listen 80\nLimitRequestLine 100\nLimitRequestFieldSize 200\nLimitRequestFields 7\nLimitRequestBody 0\n");
    let l = &cfg.protocol.limits;
    assert_eq!(
        (l.request_line, l.field_size, l.fields, l.body),
        (100, 200, 7, 0)
    );
}

#[test]
fn server_name_loses_scheme_and_port() {
    assert_eq!(
        ok("Listen 80\nServerName http://www.example.com:8080\n")
            .site
            .main
            .server_name
            .as_deref(),
        Some("www.example.com")
    );
    assert_eq!(
        ok("Listen 80\nServerName [::1]:80\n")
            .site
            .main
            .server_name
            .as_deref(),
        Some("[::1]")
    );
}

#[test]
fn virtual_hosts_inherit_from_the_main_server() {
    let cfg = ok(r#"
Listen 80
ServerName main.example
ServerAdmin admin@example.com
DocumentRoot /srv/main
DirectoryIndex index.htm
Alias /icons/ /usr/share/icons/
Redirect permanent /old http://example.com/new
CustomLog /tmp/main.log combined
<Location /server-status>
SetHandler server-status
Require local
</Location>
<VirtualHost *:80>
ServerName a.example
ServerAlias www.a.example *.a.example
DocumentRoot /srv/a
Alias /x /srv/x
</VirtualHost>
<VirtualHost 127.0.0.1:80 [::1]:80 _default_:*>
CustomLog /tmp/b.log "%h %r"
</VirtualHost>
"#);
    let [a, b] = &cfg.site.vhosts[..] else {
        panic!("two vhosts expected: {:?}", cfg.site.vhosts)
    };
    assert_eq!(a.server_name.as_deref(), Some("a.example"));
    assert_eq!(a.server_aliases, vec!["www.a.example", "*.a.example"]);
    assert_eq!(a.document_root, Path::new("/srv/a"));
    assert_eq!(a.dir.directory_index(), ["index.htm"]);
    assert_eq!(
        a.aliases.iter().map(|r| r.url.as_str()).collect::<Vec<_>>(),
        vec!["/x", "/icons/"],
        "own rules first"
    );
    assert_eq!(a.redirects[0].status, 301);
    assert_eq!(
        locations(a)[0].1.handler.as_ref().map(HandlerName::name),
        Some("server-status")
    );
    assert_eq!(
        a.custom_logs[0].format,
        "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""
    );
    assert_eq!(a.server_admin.as_deref(), Some("admin@example.com"));
    assert_eq!(a.origin.line, 14);
    assert_eq!(
        b.server_name.as_deref(),
        Some("main.example"),
        "a vhost without ServerName takes the main one"
    );
    assert_eq!(b.document_root, Path::new("/srv/main"));
    assert_eq!(b.custom_logs.len(), 1);
    assert_eq!(b.custom_logs[0].format, "%h %r");
    assert_eq!(
        b.addrs[0],
        VhostAddr {
            ip: Some("127.0.0.1".parse().unwrap()),
            port: Some(80)
        }
    );
    assert_eq!(
        b.addrs[1],
        VhostAddr {
            ip: Some("::1".parse().unwrap()),
            port: Some(80)
        }
    );
    assert_eq!(
        b.addrs[2],
        VhostAddr {
            ip: None,
            port: None
        }
    );
    assert!(cfg.site.main.addrs.is_empty());
}

#[test]
fn server_alias_outside_a_virtual_host_is_an_error() {
    assert_eq!(
        err("Listen 80\nServerAlias x\n"),
        "httpd.conf:2: ServerAlias only used in <VirtualHost>"
    );
}

#[test]
fn redirect_status_forms() {
    let cfg = ok("Listen 80\nRedirect /a http://x/a\nRedirect seeother /b /c\nRedirect gone /d\nRedirect 307 /e http://x/e\nRedirect 410 /f\nRedirectPermanent /g http://x/g\n");
    let got: Vec<(u16, &str, Option<&str>)> = cfg
        .site
        .main
        .redirects
        .iter()
        .map(|r| (r.status, r.from.as_str(), r.to.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (302, "/a", Some("http://x/a")),
            (303, "/b", Some("/c")),
            (410, "/d", None),
            (307, "/e", Some("http://x/e")),
            (410, "/f", None),
            (301, "/g", Some("http://x/g")),
        ]
    );
    assert!(err("Listen 80\nRedirect 301 /a\n").contains("needs a URL"));
    assert!(err("Listen 80\nRedirect gone /a http://x\n").contains("takes no URL"));
    assert!(err("Listen 80\nRedirect 200 /a http://x\n").contains("status 200"));
    assert!(
        err("Listen 80\nRedirectMatch ^/a http://x\n").contains("RedirectMatch is not supported")
    );
}

#[test]
fn directory_options_absolute_and_relative() {
    let cfg = ok(r#"Listen 80
<Directory />
Options FollowSymLinks
AllowOverride None
Require all denied
</Directory>
<Directory /srv/www>
Options +Indexes
Require all granted
</Directory>
<Directory /srv/www/private>
Options -FollowSymLinks
Require ip 10.1 192.168.0.0/16 ::1 172.16.0.0/255.240.0.0
Require local
</Directory>
<Directory /srv/other>
Options All
</Directory>
"#);
    let d = directories(&cfg.site.main);
    let only = |follow_symlinks, indexes| Options {
        follow_symlinks,
        indexes,
        exec_cgi: false,
    };
    assert_eq!(d[0].1.options, Some(OptionsSetting::Set(only(true, false))));
    // Relative: applied to what the blocks before left when a request
    // is served (the pipeline's merge).
    assert_eq!(
        d[1].1.options,
        Some(OptionsSetting::Change {
            add: only(false, true),
            remove: Options::NONE
        })
    );
    assert_eq!(
        d[2].1.options,
        Some(OptionsSetting::Change {
            add: Options::NONE,
            remove: only(true, false)
        })
    );
    assert_eq!(d[3].1.options, Some(OptionsSetting::Set(Options::ALL)));
    assert_eq!(d[0].1.require, Some(Require::AllDenied));
    assert_eq!(d[1].0, Path::new("/srv/www"));
    let net = |a: &str, p| IpNet {
        addr: a.parse().unwrap(),
        prefix: p,
    };
    assert_eq!(
        d[2].1.require,
        Some(Require::Any(vec![
            Require::Ip(vec![
                net("10.1.0.0", 16),
                net("192.168.0.0", 16),
                net("::1", 128),
                net("172.16.0.0", 12)
            ]),
            Require::Local,
        ]))
    );
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

#[test]
fn options_with_no_effect_warn_and_bad_options_fail() {
    let cfg = ok(
        "Listen 80\n<Directory /x>\nOptions ExecCGI MultiViews\nAllowOverride All\n</Directory>\n",
    );
    // ExecCGI is mod_cgi's now.
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    assert!(cfg.warnings[0].ends_with("httpd.conf:3: Options MultiViews has no effect in mpmd"));
    assert!(
        err("Listen 80\n<Directory /x>\nOptions Indexes +FollowSymLinks\n</Directory>\n")
            .contains("Either all Options must start with + or -")
    );
    assert!(
        err("Listen 80\n<Directory /x>\nOptions Bogus\n</Directory>\n")
            .contains("Illegal option Bogus")
    );
}

#[test]
fn a_virtual_host_gets_the_main_servers_sections_first_and_its_own_after() {
    let cfg = ok(r#"Listen 80
<Directory /srv/www>
Options Indexes FollowSymLinks
Require all granted
</Directory>
<Location /private>
Require all granted
</Location>
Alias /a /srv/main-a
<VirtualHost *:80>
ServerName v.test
<Directory /srv/www>
Options None
Require ip 10.99.0.0/16
DirectoryIndex vhost.html
</Directory>
<Location />
Require all denied
</Location>
Alias /a /srv/vhost-a
</VirtualHost>
<Directory /srv/www/late>
Options +Indexes
</Directory>
"#);
    let v = &cfg.site.vhosts[0];
    let dirs: Vec<_> = directories(v)
        .iter()
        .map(|(path, _, line)| (path.to_str().unwrap(), *line))
        .collect();
    assert_eq!(
        dirs,
        [("/srv/www", 2), ("/srv/www/late", 22), ("/srv/www", 12)],
        "the main server's blocks (even one written after the host), then the host's"
    );
    assert_eq!(
        directories(v)[2].1.require,
        Some(Require::Ip(vec![IpNet {
            addr: "10.99.0.0".parse().unwrap(),
            prefix: 16
        }]))
    );
    assert_eq!(
        directories(v)[2].1.directory_index,
        Some(vec!["vhost.html".to_string()])
    );
    let locs: Vec<_> = locations(v).iter().map(|l| l.0).collect();
    assert_eq!(locs, ["/private", "/"]);
    let aliases: Vec<_> = v.aliases.iter().map(|a| a.path.to_str().unwrap()).collect();
    assert_eq!(
        aliases,
        ["/srv/vhost-a", "/srv/main-a"],
        "the host's Alias is tried first"
    );
    assert_eq!(directories(&cfg.site.main).len(), 2);
    assert_eq!(locations(&cfg.site.main).len(), 1);
}

#[test]
fn options_lines_of_one_block_combine_and_directory_index_is_allowed_in_sections() {
    let cfg = ok("Listen 80\n<Directory /a>\nOptions Indexes\nOptions +FollowSymLinks\n</Directory>\n\
                      <Directory /b>\nOptions +Indexes\nOptions -Indexes +FollowSymLinks\n</Directory>\n\
                      <Directory /c>\nDirectoryIndex disabled\n</Directory>\n");
    let d = directories(&cfg.site.main);
    assert_eq!(
        d[0].1.options,
        Some(OptionsSetting::Set(Options {
            exec_cgi: false,
            ..Options::ALL
        }))
    );
    let follow = Options {
        follow_symlinks: true,
        indexes: false,
        exec_cgi: false,
    };
    let indexes = Options {
        follow_symlinks: false,
        indexes: true,
        exec_cgi: false,
    };
    assert_eq!(
        d[1].1.options,
        Some(OptionsSetting::Change {
            add: follow,
            remove: indexes
        })
    );
    assert_eq!(d[2].1.directory_index, Some(Vec::new()));
    assert_eq!(cfg.site.main.dir.directory_index(), ["index.html"]);
    // As in Apache, a <Location> (or <Files>) may set it too.
    let cfg = ok("Listen 80\n<Location /x>\nDirectoryIndex a.html\n</Location>\n");
    assert_eq!(locations(&cfg.site.main)[0].1.directory_index(), ["a.html"]);
    assert!(
        err("Listen 80\n<Proxy balancer://b>\nDirectoryIndex a.html\n</Proxy>\n")
            .contains("DirectoryIndex is not allowed inside <Proxy>")
    );
}

#[test]
fn order_allow_deny_point_to_require() {
    let e = err("Listen 80\n<Directory /x>\nOrder allow,deny\n</Directory>\n");
    assert!(
        e.starts_with("httpd.conf:3: Order is Apache 2.2 access control")
            && e.contains("use Require"),
        "{e}"
    );
}

#[test]
fn set_handler_is_a_name_in_any_section_and_unknown_names_warn() {
    let cfg = ok("Listen 80\n<Location /s>\nSetHandler none\n</Location>\n\
                  <Directory /d>\nSetHandler server-status\n</Directory>\n\
                  <Files *.php>\nSetHandler \"proxy:unix:/run/php/php-fpm.sock|fcgi://localhost\"\n</Files>\n");
    assert_eq!(
        locations(&cfg.site.main)[0].1.handler,
        Some(HandlerName::None)
    );
    assert_eq!(
        directories(&cfg.site.main)[0].1.handler,
        Some(HandlerName::ServerStatus)
    );
    let files = cfg
        .site
        .main
        .sections
        .iter()
        .find(|s| s.kind == SectionKind::Files("*.php".into()))
        .expect("the <Files> section");
    assert_eq!(
        files.config.handler,
        Some(HandlerName::Proxy(
            "proxy:unix:/run/php/php-fpm.sock|fcgi://localhost".into()
        ))
    );
    // mod_proxy_fcgi provides proxy:…|fcgi://…; a proxy: URL it cannot
    // serve is warned about.
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let cfg = ok("Listen 80\n<Files *.x>\nSetHandler proxy:http://127.0.0.1:8080/\n</Files>\n");
    assert!(cfg.warnings.iter().any(|w| w.ends_with(
        "httpd.conf:3: SetHandler proxy:http://127.0.0.1:8080/: only fcgi:// backends can be a proxy: handler in mpmd (ProxyPass passes http://); requests for it will be answered 500"
    )), "{:?}", cfg.warnings);
    let cfg = ok("Listen 80\nAddHandler cgi-script .cgi .PL\n<Directory /x>\nRemoveHandler .cgi\n</Directory>\n");
    assert_eq!(
        cfg.site
            .main
            .dir
            .mime_value(mpm_site::pipeline::MimeAttr::Handler, "pl"),
        Some("cgi-script")
    );
    let x = directories(&cfg.site.main)[0].1;
    assert_eq!(
        cfg.site
            .main
            .dir
            .merged(x)
            .mime_value(mpm_site::pipeline::MimeAttr::Handler, "cgi"),
        None
    );
    // mod_cgi provides cgi-script.
    assert!(
        !cfg.warnings
            .iter()
            .any(|w| w.contains("AddHandler cgi-script")),
        "{:?}",
        cfg.warnings
    );
    assert!(err("Listen 80\nSetHandler\n").contains("SetHandler takes one argument"));
}

#[test]
fn if_sections_parse_their_expression_and_else_needs_an_if_before_it() {
    let cfg = ok("Listen 80\n<If \"%{HTTPS} == 'on'\">\nRequire all granted\n</If>\n<Else>\nRequire local\n</Else>\n");
    let kinds: Vec<_> = cfg
        .site
        .main
        .sections
        .iter()
        .map(|s| s.kind.directive())
        .collect();
    assert_eq!(kinds, ["<If>", "<Else>"]);
    let e = err("Listen 80\n<Else>\nRequire local\n</Else>\n");
    assert!(
        e.contains(
            "httpd.conf:2: <Else> section without previous <If> or <ElseIf> section in same scope"
        ),
        "{e}"
    );
    let e = err("Listen 80\n<If \"%{NOPE} == 'x'\">\n</If>\n");
    assert!(
        e.contains("httpd.conf:2: <If>: at character 1: unknown variable 'NOPE'"),
        "{e}"
    );
    let cfg = ok("Listen 80\n<Directory /x>\n<Files a>\n<If \"true\">\nRequire local\n</If>\n</Files>\n</Directory>\n");
    let files = &cfg.site.main.sections[0].config.nested[0];
    assert_eq!(
        files.config.nested[0].kind.directive(),
        "<If>",
        "nested where written"
    );
}

#[test]
fn every_section_kind_is_read_with_files_nested_where_written() {
    let cfg = ok(r#"Listen 80
<Files ".ht*">
Require all denied
</Files>
<Directory /srv/www>
<FilesMatch "\.php$">
Require all denied
</FilesMatch>
</Directory>
<DirectoryMatch "^/srv/www/[0-9]+">
Options +Indexes
</DirectoryMatch>
<Directory ~ "/\.git">
Require all denied
</Directory>
<LocationMatch "^/api/">
Require local
</LocationMatch>
<Location ~ "\.bak$">
Require all denied
</Location>
"#);
    let kinds: Vec<_> = cfg
        .site
        .main
        .sections
        .iter()
        .map(|s| (s.kind.directive(), s.origin.line))
        .collect();
    assert_eq!(
        kinds,
        [
            ("<Files>", 2),
            ("<Directory>", 5),
            ("<DirectoryMatch>", 10),
            ("<DirectoryMatch>", 13),
            ("<LocationMatch>", 16),
            ("<LocationMatch>", 19),
        ]
    );
    let www = &cfg.site.main.sections[1].config;
    assert_eq!(
        www.nested.len(),
        1,
        "the <FilesMatch> is inside <Directory>"
    );
    assert!(www.nested[0].kind.matches_file(b"index.php"));
    assert!(
        err("Listen 80\n<Location /x>\n<Files a>\n</Files>\n</Location>\n")
            .contains("<Files> cannot occur within <Location>")
    );
    assert!(
        err("Listen 80\n<Directory /x>\n<Directory /y>\n</Directory>\n</Directory>\n")
            .contains("<Directory> cannot occur within <Directory>")
    );
    let e = err("Listen 80\n<LocationMatch \"(\">\n</LocationMatch>\n");
    assert!(
        e.contains("<LocationMatch>: '(' is not a regular expression"),
        "{e}"
    );
}

#[test]
fn ifmodule_follows_the_module_table_and_the_loaded_mpm() {
    let text = "Listen 80\n<IfModule mod_alias.c>\nServerName alias\n</IfModule>\n<IfModule !mod_ssl.c>\nServerAdmin nossl\n</IfModule>\n<IfModule mod_ssl.c>\nSSLEngine on\n</IfModule>\n";
    let cfg = ok(text);
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("alias"));
    assert_eq!(cfg.site.main.server_admin, None, "mod_ssl is built in");
    assert_eq!(cfg.ssl[0].engine, Some(true));
    let cfg = ok("Listen 80\nLoadModule mpm_worker_module modules/mod_mpm_worker.so\n<IfModule prefork.c>\nStartServers 9\n</IfModule>\n<IfModule mpm_worker_module>\nStartServers 4\n</IfModule>\n");
    assert_eq!(
        (cfg.mpm_name.as_deref(), cfg.mpm.start_servers),
        (Some("worker"), Some(4))
    );
    let only_single = LoadOptions {
        compiled_mpms: vec!["single"],
        ..LoadOptions::default()
    };
    let (_, cfg) = load_with(
        "Listen 80\n<IfModule event.c>\nStartServers 9\n</IfModule>\n",
        &only_single,
    );
    assert_eq!(
        cfg.unwrap().mpm.start_servers,
        mpm::MpmConfig::default().start_servers,
        "event is not compiled in"
    );
}

#[test]
fn load_module_choices_and_errors() {
    assert_eq!(
        ok("Listen 80\nLoadModule mpm_event_module x.so\n")
            .mpm_name
            .as_deref(),
        Some("event")
    );
    let e =
        err("Listen 80\nLoadModule mpm_event_module x.so\nLoadModule mpm_prefork_module y.so\n");
    assert!(
        e.starts_with("httpd.conf:3: Only one MPM can be loaded"),
        "{e}"
    );
    let only_single = LoadOptions {
        compiled_mpms: vec!["single", "prefork"],
        ..LoadOptions::default()
    };
    let e = err_with(
        "Listen 80\nLoadModule mpm_event_module x.so\n",
        &only_single,
    );
    assert!(
        e.contains("not compiled into mpmd; compiled in: single, prefork"),
        "{e}"
    );
    let e = err("Listen 80\nLoadModule php_module modules/libphp.so\n");
    assert!(e.starts_with("httpd.conf:2: Cannot load module php_module: mpmd has no loadable modules; compiled in: core_module"), "{e}");
    let cfg = ok("Listen 80\nLoadModule alias_module modules/mod_alias.so\n");
    assert!(cfg.warnings[0]
        .ends_with("httpd.conf:2: module alias_module is built-in and can't be loaded"));
}

#[test]
fn ifdefine_uses_command_line_and_define() {
    let opts = LoadOptions {
        defines: vec!["PROD".into()],
        ..opts()
    };
    let text = "Listen 80\n<IfDefine PROD>\nServerName prod\n</IfDefine>\n<IfDefine !TEST>\nServerAdmin notest\n</IfDefine>\nDefine TEST\n<IfDefine TEST>\nServerAlias x\n</IfDefine>\n";
    // ServerAlias at main level would fail: the block must be read.
    let e = err_with(text, &opts);
    assert_eq!(e, "httpd.conf:10: ServerAlias only used in <VirtualHost>");
    let (_, cfg) = load_with(&text.replace("ServerAlias x", "User t"), &opts);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("prod"));
    assert_eq!(cfg.site.main.server_admin.as_deref(), Some("notest"));
    assert_eq!(cfg.mpm.user.as_deref(), Some("t"));
}

#[test]
fn variables_expand_from_define_then_environment_and_undefined_ones_warn() {
    // Cargo sets CARGO_MANIFEST_DIR in the environment of the tests too.
    let cfg = ok("Define root /srv\nListen 8181\nDocumentRoot ${root}/www\nServerName ${nope}\nServerAdmin ${CARGO_MANIFEST_DIR}\n");
    assert_eq!(cfg.site.main.document_root, Path::new("/srv/www"));
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("${nope}"));
    assert_eq!(
        cfg.site.main.server_admin.as_deref(),
        Some(env!("CARGO_MANIFEST_DIR"))
    );
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.ends_with("httpd.conf:4: config variable ${nope} is not defined")),
        "{:?}",
        cfg.warnings
    );
}

#[test]
fn if_version_compares_with_apache_2_4() {
    let cfg = ok("Listen 80\n<IfVersion >= 2.4>\nServerName new\n</IfVersion>\n<IfVersion < 2.4>\nServerName old\n</IfVersion>\n<IfVersion != 2.2>\nServerAdmin not22\n</IfVersion>\n");
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("new"));
    assert_eq!(cfg.site.main.server_admin.as_deref(), Some("not22"));
    assert!(err("Listen 80\n<IfVersion ~ ^2>\n</IfVersion>\n").contains("not supported"));
}

#[test]
fn command_line_directives_come_before_and_after_the_file() {
    let opts = LoadOptions {
        before: vec!["ServerName before".into(), "KeepAlive Off".into()],
        after: vec!["ServerName after".into()],
        ..opts()
    };
    let (_, cfg) = load_with("Listen 80\nKeepAlive On\n", &opts);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("after"));
    assert!(cfg.protocol.timeouts.keep_alive, "the file overrides -C");
    let opts = LoadOptions {
        after: vec!["Listen 81".into(), "Bogus x".into()],
        ..opts
    };
    let (_, e) = load_with("Listen 80\n", &opts);
    assert_eq!(e.unwrap_err().to_string(), "-c:2: Invalid command 'Bogus', perhaps misspelled or defined by a module not included in the server configuration");
}

#[test]
fn parse_bytes_reads_a_configuration_from_memory_with_includes_refused_or_followed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inc.conf"), "ServerAdmin inc@example.com\n").unwrap();
    let origin = dir.path().join("mem.conf");
    let text = b"Listen 80\nServerName mem.example\nInclude inc.conf\n";
    let e = parse_bytes(text, &origin, &opts(), IncludePolicy::Refuse).unwrap_err();
    assert_eq!(
            e.to_string(),
            format!(
                "{}:3: Include is refused: this configuration is read from bytes alone, with includes turned off",
                origin.display()
            )
        );
    let cfg = parse_bytes(text, &origin, &opts(), IncludePolicy::Follow).unwrap();
    assert_eq!(cfg.server_root, dir.path());
    assert_eq!(
        cfg.site.main.server_admin.as_deref(),
        Some("inc@example.com")
    );
    let cfg = parse_bytes(
        b"Listen 80\nServerName mem.example\n",
        Path::new("/x/mem.conf"),
        &opts(),
        IncludePolicy::Refuse,
    )
    .unwrap();
    assert_eq!(cfg.site.main.server_name.as_deref(), Some("mem.example"));
    assert_eq!(cfg.server_root, Path::new("/x"));
}

#[test]
fn paths_keep_bytes_that_are_not_utf8_and_text_values_refuse_them() {
    use std::os::unix::ffi::OsStrExt;
    let origin = Path::new("/etc/mpmd/latin1.conf");
    let read = |text: &[u8]| parse_bytes(text, origin, &opts(), IncludePolicy::Refuse);
    let cfg = read(
        b"# Kommentar f\xfcr Latin-1\nListen 80\nDefine SITE /srv/caf\xe9\n\
              DocumentRoot ${SITE}/www\nAlias /u/ /data/\xfcber/\n\
              <Directory /srv/caf\xe9/www>\nRequire all granted\n</Directory>\n\
              ErrorLog logs/err\xf6r_log\n",
    )
    .unwrap_or_else(|e| panic!("Latin-1 paths should load: {e}"));
    assert_eq!(
        cfg.site.main.document_root.as_os_str().as_bytes(),
        b"/srv/caf\xe9/www"
    );
    assert_eq!(
        cfg.site.main.aliases[0].path.as_os_str().as_bytes(),
        b"/data/\xfcber"
    );
    assert_eq!(
        directories(&cfg.site.main)[0].0.as_os_str().as_bytes(),
        b"/srv/caf\xe9/www"
    );
    assert_eq!(
        cfg.error_log.as_deref().map(|p| p.as_os_str().as_bytes()),
        Some(&b"/etc/mpmd/logs/err\xf6r_log"[..])
    );
    for (text, want) in [
        (
            &b"Listen 80\nServerAdmin caf\xe9@example.com\n"[..],
            "latin1.conf:2: ServerAdmin: 'caf\u{fffd}@example.com' is not UTF-8 text",
        ),
        (
            b"Listen 80\nAlias /caf\xe9/ /srv/\n",
            "latin1.conf:2: Alias: '/caf\u{fffd}/' is not UTF-8 text",
        ),
        (
            b"Listen 80\n<IfModule caf\xe9>\n</IfModule>\n",
            "latin1.conf:2: <IfModule>: 'caf\u{fffd}' is not UTF-8 text",
        ),
        (
            b"Listen 80\nInclude /etc/caf\xe9/*.conf\n",
            "latin1.conf:2: Include is refused",
        ),
    ] {
        let e = read(text).unwrap_err().to_string();
        assert!(e.starts_with(&format!("/etc/mpmd/{want}")), "{e}");
    }
}

#[test]
fn a_wildcard_include_must_be_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("httpd.conf");
    std::fs::write(&file, b"Listen 80\nInclude caf\xe9/*.conf\n").unwrap();
    let e = load(Some(&file), &opts()).unwrap_err().to_string();
    assert!(
        e.contains("httpd.conf:2: Include caf\u{fffd}/*.conf: a wildcard path must be UTF-8 text"),
        "{e}"
    );
}

#[test]
fn include_globs_directories_optional_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("conf.d/sub")).unwrap();
    std::fs::write(root.join("conf.d/b.conf"), "ServerAdmin b\n").unwrap();
    std::fs::write(root.join("conf.d/a.conf"), "ServerAdmin a\nServerName a\n").unwrap();
    std::fs::write(root.join("conf.d/sub/c.txt"), "User c\n").unwrap();
    std::fs::write(root.join("vhost.inc"), "ServerName inner\nBogus here\n").unwrap();
    let main = root.join("httpd.conf");
    let load_text = |text: &str| {
        std::fs::write(&main, text).unwrap();
        load(Some(&main), &opts())
    };
    let cfg = load_text("Listen 80\nInclude conf.d/*.conf\nIncludeOptional nothing/*.conf\nIncludeOptional missing.conf\nInclude conf.d\n").unwrap();
    assert_eq!(
        cfg.site.main.server_admin.as_deref(),
        Some("b"),
        "files are read in name order"
    );
    assert_eq!(
        cfg.mpm.user.as_deref(),
        Some("c"),
        "a directory is read recursively"
    );
    let e = load_text("Listen 80\nInclude nothing/*.conf\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("httpd.conf:2: Include: no file matches the wildcard"),
        "{e}"
    );
    let e = load_text("Listen 80\nInclude missing.conf\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("httpd.conf:2: Include: could not open"),
        "{e}"
    );
    let e = load_text("Listen 80\n<VirtualHost *:80>\nInclude vhost.inc\n</VirtualHost>\n")
        .unwrap_err();
    assert_eq!(
        e.origin.as_ref().map(|o| (o.file.clone(), o.line)),
        Some((root.join("vhost.inc"), 2)),
        "{e}"
    );
    std::fs::write(root.join("loop.conf"), "Include httpd.conf\n").unwrap();
    let e = load_text("Listen 80\nInclude loop.conf\n").unwrap_err();
    assert!(e.to_string().contains("Include recursion"), "{e}");
}

#[test]
fn logs_formats_and_levels() {
    let cfg = ok("Listen 80\nLogFormat \"%h %>s\" short\nLogFormat \"%h only\"\nCustomLog a.log short\nTransferLog b.log\nLogLevel info ssl:warn\n");
    let logs = &cfg.site.main.custom_logs;
    assert_eq!(
        (logs[0].format.as_str(), logs[1].format.as_str()),
        ("%h %>s", "%h only")
    );
    assert_eq!(cfg.log_level, log::LevelFilter::Info);
    assert_eq!(
        ok("Listen 80\nLogLevel crit\n").log_level,
        log::LevelFilter::Error
    );
    assert_eq!(
        ok("Listen 80\nLogLevel trace5\n").log_level,
        log::LevelFilter::Trace
    );
    assert!(err("Listen 80\nLogLevel loud\n").contains("'loud' is not a level"));
    assert!(
        err("Listen 80\nCustomLog a.log nosuch\n").contains("unknown LogFormat nickname 'nosuch'")
    );
    assert!(err("Listen 80\nCustomLog a.log common env=x\n").contains("not supported"));
    assert!(err("Listen 80\nErrorLog syslog:local7\n").contains("syslog is not supported"));
    assert!(err("Listen 80\nErrorLog \"|/bin/rotatelogs x\"\n").contains("piped logs"));
}

#[test]
fn add_type_server_tokens_and_ignored_directives() {
    let cfg = ok("Listen 80\nAddType text/x-foo .foo FOO2\nAddType application/x-bar foo\nServerTokens Prod\nDefaultType text/plain\nMutex default\nNameVirtualHost *:80\n");
    assert_eq!(
        cfg.site.add_types,
        vec![
            ("foo2".to_string(), "text/x-foo".to_string()),
            ("foo".to_string(), "application/x-bar".to_string())
        ]
    );
    assert_eq!(cfg.protocol.server_header, "mpmd");
    assert_eq!(cfg.warnings.len(), 2, "{:?}", cfg.warnings);
    assert!(cfg.warnings[1].ends_with(
        "httpd.conf:7: NameVirtualHost has no effect and will be removed in the next release"
    ));
    assert!(err("Listen 80\nSSLProtocol -all +TLSv1.1\n")
        .contains("SSLProtocol: TLSv1.1 is not supported"));
    assert!(err("Listen 80\nSSLCipherSuite RC4-SHA\n")
        .contains("'RC4-SHA' is not a cipher suite mpmd has"));
    assert!(err("Listen 80\nSSLOCSPEnable on\n")
        .contains("SSLOCSPEnable is not supported by mpmd's mod_ssl"));
    assert!(err("Listen 80\nHostnameLookups On\n").contains("not supported"));
}

#[test]
fn types_config_is_read_from_its_file_and_add_type_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/mime.types"),
        "# types\ntext/x-from-file\tfoo bar\n",
    )
    .unwrap();
    let file = dir.path().join("httpd.conf");
    std::fs::write(
        &file,
        "Listen 80\nAddType text/x-added .bar\nTypesConfig conf/mime.types\n",
    )
    .unwrap();
    let cfg = load(Some(&file), &opts()).expect("config loads");
    assert_eq!(
        cfg.site.add_types,
        [
            ("foo".to_string(), "text/x-from-file".to_string()),
            ("bar".to_string(), "text/x-from-file".to_string()),
            ("bar".to_string(), "text/x-added".to_string()),
        ],
        "the file's pairs first, so AddType's (later) win"
    );
    let e = err("Listen 80\nTypesConfig /nonexistent/mime.types\n");
    assert!(
        e.contains("httpd.conf:2: TypesConfig: could not open mime types config file /nonexistent/mime.types"),
        "{e}"
    );
}

#[test]
fn mmapfile_and_cachefile_take_files_relative_to_server_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::write(root.join("htdocs/a.txt"), "a").unwrap();
    std::fs::write(root.join("b.css"), "b").unwrap();
    std::fs::write(root.join("c.js"), "c").unwrap();
    let file = root.join("httpd.conf");
    std::fs::write(
            &file,
            format!(
                "Listen 80\nMMapFile htdocs/./a.txt {}\n<IfModule mod_file_cache.c>\ncachefile c.js\n</IfModule>\n",
                root.join("b.css").display()
            ),
        )
        .unwrap();
    let cfg = load(Some(&file), &opts()).expect("config loads");
    let got: Vec<(PathBuf, FileCacheKind, usize)> = cfg
        .site
        .cached_files
        .iter()
        .map(|c| (c.path.clone(), c.kind, c.origin.line))
        .collect();
    assert_eq!(
        got,
        vec![
            (root.join("htdocs/a.txt"), FileCacheKind::Contents, 2),
            (root.join("b.css"), FileCacheKind::Contents, 2),
            (root.join("c.js"), FileCacheKind::Descriptor, 4),
        ]
    );
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let dump = dump::describe(&cfg);
    assert!(
        dump.contains(&format!(
            "CacheFile: \"{}\" ({}:4)\n",
            root.join("c.js").display(),
            file.display()
        )),
        "-S shows:\n{dump}"
    );
}

#[test]
fn a_missing_or_odd_cached_file_is_a_warning_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("here.txt"), "here").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    let file = root.join("httpd.conf");
    std::fs::write(
        &file,
        "Listen 80\nMMapFile missing.txt here.txt\nCacheFile sub\nCacheFile here.txt\n",
    )
    .unwrap();
    let cfg = load(Some(&file), &opts()).expect("a missing file is no error");
    let paths: Vec<&Path> = cfg
        .site
        .cached_files
        .iter()
        .map(|c| c.path.as_path())
        .collect();
    assert_eq!(paths, vec![root.join("here.txt")]);
    let f = file.display();
    let r = root.display();
    let want = [
        format!("{f}:2: MMapFile: unable to stat({r}/missing.txt), skipping: "),
        format!("{f}:3: CacheFile: {r}/sub isn't a regular file, skipping"),
        format!("{f}:4: CacheFile: {r}/here.txt is already cached (MMapFile at {f}:2), skipping"),
    ];
    assert_eq!(cfg.warnings.len(), want.len(), "{:?}", cfg.warnings);
    for (got, want) in cfg.warnings.iter().zip(&want) {
        assert!(
            got.starts_with(want.as_str()),
            "warning {got:?}, expected {want:?}"
        );
    }
}

#[test]
fn cached_files_belong_to_the_main_server_and_need_a_name() {
    assert_eq!(
            err("Listen 80\n<VirtualHost *:80>\nMMapFile /etc/hostname\n</VirtualHost>\n"),
            "httpd.conf:3: MMapFile cannot occur within <VirtualHost> section; it belongs in the main server configuration"
        );
    assert!(
        err("Listen 80\n<Directory />\nCacheFile /etc/hostname\n</Directory>\n")
            .starts_with("httpd.conf:3: CacheFile cannot occur within <Directory>")
    );
    assert!(err("Listen 80\nCacheFile\n")
        .starts_with("httpd.conf:2: CacheFile takes one or more file names"));
}

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

#[test]
fn corpus_good_files_load() {
    let files = corpus("good");
    assert!(files.len() >= 5, "good corpus too small: {files:?}");
    for file in files {
        if let Err(e) = load(Some(&file), &opts()) {
            panic!("{} should load but failed: {e}", file.display());
        }
    }
}

/// Each bad file starts with `# expect: LINE: TEXT` (LINE `-` when the
/// error has no line, or `other/file:LINE` for an included file).
#[test]
fn corpus_bad_files_fail_at_the_expected_line_with_the_expected_message() {
    let files = corpus("bad");
    assert!(files.len() >= 25, "bad corpus too small: {}", files.len());
    let bad_dir = files[0].parent().expect("corpus directory").to_path_buf();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read corpus file");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| {
                panic!(
                    "{} lacks its `# expect: line: message` first line",
                    file.display()
                )
            });
        let (place, message) = expect
            .split_once(": ")
            .expect("expect line is `LINE: message`");
        let want_origin = match place {
            "-" => None,
            p => Some(match p.rsplit_once(':') {
                Some((other, line)) => (
                    bad_dir.join(other),
                    line.parse::<usize>().expect("line number"),
                ),
                None => (file.clone(), p.parse::<usize>().expect("line number")),
            }),
        };
        match load(Some(file), &opts()) {
            Ok(_) => failures.push(format!("{}: loaded, expected `{expect}`", file.display())),
            Err(e) => {
                let got_origin = e.origin.as_ref().map(|o| (o.file.clone(), o.line));
                if got_origin != want_origin || !e.message.contains(message) {
                    failures.push(format!(
                        "{}: expected `{expect}`, got `{e}`",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} bad corpus files misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn apache_mpm_snippet_applies_the_blocks_of_compiled_mpms() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config_corpus/good/apache_mpm_snippet.conf");
    let cfg = load(Some(&file), &opts()).expect("snippet loads");
    assert_eq!(
        cfg.listens.iter().map(|l| l.port).collect::<Vec<_>>(),
        vec![80, 8080]
    );
    assert_eq!(cfg.site.vhosts.len(), 2);
    assert_eq!(cfg.site.vhosts[1].document_root, Path::new("/www/ab"));
    // All three compiled in and none loaded: only the default (event)
    // applies.
    assert_eq!(
        (
            cfg.mpm.threads_per_child,
            cfg.mpm.max_connections_per_child,
            cfg.mpm.listen_backlog
        ),
        (64, 20000, 4096)
    );
    assert_eq!(
        cfg.warnings.len(),
        2,
        "only the two missing DocumentRoots: {:?}",
        cfg.warnings
    );
    assert!(
        cfg.warnings[0]
            .ends_with("apache_mpm_snippet.conf:31: DocumentRoot '/www/a' does not exist"),
        "{:?}",
        cfg.warnings
    );
    let prefork_only = LoadOptions {
        compiled_mpms: vec!["prefork", "single"],
        ..LoadOptions::default()
    };
    let cfg = load(Some(&file), &prefork_only).expect("snippet loads");
    let m = &cfg.mpm;
    assert_eq!(
        (
            m.start_servers,
            m.max_spare_servers,
            m.server_limit,
            m.max_request_workers,
            m.max_connections_per_child
        ),
        (Some(8), 20, Some(256), Some(256), 4000)
    );
}

#[test]
fn the_error_directive_stops_with_its_message_and_one_without_says_what_it_needs() {
    // From the config_loader fuzz target: `Error` alone gave an error
    // with an empty message.
    assert!(err("Error \"this site needs mod_foo\"\n").ends_with("this site needs mod_foo"));
    for text in ["error\r\n", "Error \"\"\n", "Error \" \"\n"] {
        let e = err(text);
        assert!(
            e.contains("Error takes one argument, the message to stop with"),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn remoteip_directives_fill_the_proxy_protocol_and_header_settings() {
    let cfg = ok(
        "Listen 80\n<IfModule remoteip_module>\nRemoteIPProxyProtocol On\n\
         RemoteIPHeader X-Forwarded-For\nRemoteIPTrustedProxy 10.0.0.0/8 192.0.2.7\n\
         RemoteIPInternalProxy 127.0.0.1\nRemoteIPProxyProtocolExceptions 10.1.0.0/16\n\
         RemoteIPProxyProtocolTimeout 500ms\n</IfModule>\n\
         <VirtualHost *:80>\nRemoteIPProxyProtocol Off\n</VirtualHost>\n",
    );
    assert_eq!(cfg.proxy_protocol.enabled, vec![Some(true), Some(false)]);
    assert_eq!(cfg.proxy_protocol.timeout, Duration::from_millis(500));
    assert_eq!(cfg.proxy_protocol.exceptions.len(), 1);
    let r = &cfg.site.remote_ip;
    assert_eq!(
        r.header.as_ref().map(|h| h.as_str()),
        Some("x-forwarded-for")
    );
    assert_eq!(r.trusted.len(), 2);
    assert_eq!(r.internal[0].addr, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(r.proxies().len(), 3);
    let default = ok("Listen 80\n");
    assert_eq!(default.proxy_protocol.enabled, vec![None]);
    assert_eq!(default.proxy_protocol.timeout, Duration::from_secs(5));
}

#[test]
fn remoteip_directives_say_what_is_wrong_and_where() {
    for (text, want) in [
        (
            "Listen 80\nRemoteIPTrustedProxy proxy.example\n",
            "httpd.conf:2: RemoteIPTrustedProxy: 'proxy.example' is not an address or network",
        ),
        (
            "Listen 80\nRemoteIPProxyProtocol maybe\n",
            "httpd.conf:2: RemoteIPProxyProtocol",
        ),
        (
            "Listen 80\n<VirtualHost *:80>\nRemoteIPTrustedProxy 10.0.0.1\n</VirtualHost>\n",
            "httpd.conf:3: RemoteIPTrustedProxy cannot occur within <VirtualHost> section",
        ),
        (
            "Listen 80\nRemoteIPTrustedProxyList proxies.txt\n",
            "httpd.conf:2: RemoteIPTrustedProxyList (a file of proxies) is not supported by mpmd; list them with RemoteIPTrustedProxy ADDRESS…",
        ),
        (
            "Listen 80\nRemoteIPInternalProxy\n",
            "httpd.conf:2: RemoteIPInternalProxy takes addresses or networks",
        ),
    ] {
        let e = err(text);
        assert!(e.starts_with(want), "{text:?} gave: {e}");
    }
}

#[test]
fn proxy_pass_rules_are_read_in_apaches_order_with_their_parameters() {
    use mpm_site::proxy::{PassMatch, PassTarget, ProxyVia};
    let cfg = ok("Listen 80\nTimeout 42\n\
         ProxyPass /static/ !\n\
         ProxyPass /app/ http://127.0.0.1:9000/ keepalive=On timeout=30 retry=5 ttl=2 max=8\n\
         ProxyPassReverse /app/ http://127.0.0.1:9000/\n\
         ProxyPassMatch \"^/(.*)\\.gif$\" http://127.0.0.1:9001/gifs/$1.gif\n\
         ProxyPreserveHost On\nProxyAddHeaders Off\nProxyVia Full\nProxyRequests Off\n\
         ProxyPassReverseCookieDomain backend.internal www.example\n\
         <Location /api>\n  ProxyPass http://127.0.0.1:9002/v1\n  ProxyPassReverse http://127.0.0.1:9002/v1\n</Location>\n\
         <VirtualHost *:80>\nServerName v\nProxyPass /v/ http://127.0.0.1:9003/\nProxyTimeout 7\n</VirtualHost>\n");
    let main = &cfg.site.main.proxy;
    let prefixes: Vec<String> = main
        .passes
        .iter()
        .map(|p| match &p.matcher {
            PassMatch::Prefix(p) => p.clone(),
            PassMatch::Regex(r) => format!("~{}", r.0.as_str()),
        })
        .collect();
    assert_eq!(prefixes, ["/api", "/static/", "/app/", "~^/(.*)\\.gif$"]);
    assert_eq!(main.passes[1].target, PassTarget::Exclude);
    let PassTarget::Backend(w) = &main.passes[2].target else {
        panic!("/app/ goes to a backend");
    };
    assert_eq!(w.url.to_string(), "http://127.0.0.1:9000/");
    assert_eq!(
        (w.timeout, w.retry, w.ttl, w.max_idle, w.tcp_keepalive),
        (
            Some(Duration::from_secs(30)),
            Duration::from_secs(5),
            Some(Duration::from_secs(2)),
            8,
            true
        )
    );
    assert_eq!(main.passes[2].origin.line, 4);
    assert_eq!(main.reverse.len(), 2);
    assert_eq!(main.reverse[1].path, "/api");
    assert!(main.preserve_host && !main.add_headers);
    assert_eq!(main.via, ProxyVia::Full);
    assert_eq!(
        main.timeout,
        Duration::from_secs(42),
        "ProxyTimeout defaults to Timeout"
    );
    let vhost = &cfg.site.vhosts[0].proxy;
    assert_eq!(
        vhost.passes.len(),
        5,
        "the main server's rules, then the host's"
    );
    assert_eq!(vhost.timeout, Duration::from_secs(7));
    assert!(vhost.preserve_host, "inherited from the main server");
}

#[test]
fn tunnels_are_read_from_ws_urls_upgrade_and_the_idle_timeout() {
    use mpm_site::proxy::{PassTarget, UpgradeRule};
    let cfg = ok("Listen 80\n\
         ProxyPass /ws/ ws://127.0.0.1:9004/\n\
         ProxyPass /raw/ http://127.0.0.1:9005/ upgrade=ANY\n\
         ProxyPass /h/ http://127.0.0.1:9006/ upgrade=myproto\n\
         ProxyPass /plain/ http://127.0.0.1:9007/\n\
         ProxyWebsocketIdleTimeout 90\n");
    let main = &cfg.site.main.proxy;
    let upgrades: Vec<Option<UpgradeRule>> = main
        .passes
        .iter()
        .map(|p| match &p.target {
            PassTarget::Backend(w) => w.upgrade.clone(),
            PassTarget::Exclude | PassTarget::Balancer(_) => None,
        })
        .collect();
    assert_eq!(
        upgrades,
        [
            Some(UpgradeRule::Protocol("websocket".into())),
            Some(UpgradeRule::Any),
            Some(UpgradeRule::Protocol("myproto".into())),
            None
        ]
    );
    assert_eq!(main.tunnel_idle_timeout, Some(Duration::from_secs(90)));
}

#[test]
fn proxy_directives_that_cannot_work_are_refused_at_their_line() {
    for (conf, says) in [
        (
            "ProxyPass /a/ wss://127.0.0.1:1/",
            "wss:// backends are not supported by mpmd yet",
        ),
        (
            "ProxyPass /a/ balancer://api/",
            "no <Proxy balancer://api> defines this balancer",
        ),
        (
            "ProxyPass /a/ http://127.0.0.1:1/ upgrade=web;socket",
            "upgrade=web;socket: give a protocol name",
        ),
        (
            "ProxyWebsocketIdleTimeout soon",
            "takes a number of seconds",
        ),
        ("ProxyWebsocketAsync On", "not supported by mpmd"),
        (
            "ProxyPass /a/ http://127.0.0.1:1/ timeout=soon",
            "timeout=soon: give a number of seconds",
        ),
        ("ProxyPass /a/ http://127.0.0.1:99999/", "is not a port"),
        ("ProxyPass a/ http://127.0.0.1:1/", "must start with /"),
        ("ProxyPass /a/", "takes a path and a URL"),
        (
            "ProxyPassMatch \"(\" http://127.0.0.1:1/",
            "not a valid regular expression",
        ),
        ("ProxyRequests On", "forward proxy) is not supported"),
        (
            "ProxyVia Sometimes",
            "ProxyVia must be On, Off, Full or Block",
        ),
        (
            "<Proxy balancer://api>\nBalancerMember http://127.0.0.1:1 loadfactor=101\n</Proxy>",
            "loadfactor=101: give a whole number from 1 to 100",
        ),
        (
            "BalancerMember http://127.0.0.1:1",
            "or the balancer's URL first outside it",
        ),
        (
            "<Directory /tmp>\nProxyPass http://127.0.0.1:1/\n</Directory>",
            "in <Location> (with one argument fewer)",
        ),
    ] {
        let e = err(&format!("Listen 80\n{conf}\n"));
        // The line of the directive: the second, or the third in a block.
        let line = if conf.starts_with('<') { 3 } else { 2 };
        assert!(e.starts_with(&format!("httpd.conf:{line}:")), "{conf}: {e}");
        assert!(e.contains(says), "{conf}: {e}");
    }
}

#[test]
fn balancers_are_read_with_their_members_parameters_and_inherited_by_virtual_hosts() {
    use mpm_site::proxy::{LbMethod, PassTarget};
    let cfg = ok("Listen 80\n\
         <Proxy \"balancer://API\">\n\
           BalancerMember http://127.0.0.1:9001 route=a retry=5\n\
           BalancerMember http://127.0.0.1:9002/base loadfactor=2 status=+H hcmethod=HEAD\n\
           ProxySet lbmethod=bybusyness\n\
         </Proxy>\n\
         BalancerMember balancer://api http://127.0.0.1:9003 status=-H+D\n\
         ProxyPass /api/ balancer://api/v1/ stickysession=JSESSIONID|jsessionid hcinterval=7\n\
         <VirtualHost *:80>\nServerName v\n\
           <Proxy balancer://own>\nBalancerMember http://127.0.0.1:9004\n</Proxy>\n\
           ProxyPass /own/ balancer://own/\n\
         </VirtualHost>\n");
    let main = &cfg.site.main.proxy;
    assert_eq!(main.balancers.len(), 1);
    let b = &main.balancers[0];
    assert_eq!(b.name, "api", "names are case-insensitive");
    assert_eq!(b.lbmethod, LbMethod::ByBusyness);
    assert_eq!(
        b.sticky,
        Some(("JSESSIONID".to_string(), "jsessionid".to_string()))
    );
    assert_eq!(b.health_params, ["hcinterval=7"]);
    let m: Vec<_> = b
        .members
        .iter()
        .map(|m| {
            (
                m.worker.url.to_string(),
                m.route.clone(),
                m.loadfactor,
                m.hot_standby,
                m.disabled,
            )
        })
        .collect();
    assert_eq!(
        m,
        [
            (
                "http://127.0.0.1:9001".into(),
                Some("a".into()),
                1,
                false,
                false
            ),
            ("http://127.0.0.1:9002/base".into(), None, 2, true, false),
            ("http://127.0.0.1:9003".into(), None, 1, false, true),
        ]
    );
    assert_eq!(b.members[0].worker.retry, Duration::from_secs(5));
    assert_eq!(b.members[1].health_params, ["hcmethod=HEAD"]);
    let PassTarget::Balancer(url) = &main.passes[0].target else {
        panic!("/api/ goes to the balancer");
    };
    assert_eq!((url.name.as_str(), url.path.as_str()), ("api", "/v1/"));
    let vhost = &cfg.site.vhosts[0].proxy;
    let names: Vec<&str> = vhost.balancers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        ["api", "own"],
        "the main server's, then the host's own"
    );
}

#[test]
fn require_containers_nest_and_user_rules_are_read() {
    let cfg = ok("Listen 80\n\
        <Directory /srv/members>\n\
          <RequireAll>\n\
            Require valid-user\n\
            Require not user mallory eve\n\
            <RequireNone>\n\
              Require group banned\n\
            </RequireNone>\n\
          </RequireAll>\n\
          Require ip 10.0.0.0/8\n\
        </Directory>\n\
        <Location /admin>\n\
          <RequireAny>\n\
            Require user alice\n\
            Require group admins staff\n\
          </RequireAny>\n\
        </Location>\n");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        directories(&cfg.site.main)[0].1.require,
        Some(Require::Any(vec![
            Require::All(vec![
                Require::ValidUser,
                Require::Not(Box::new(Require::User(names(&["mallory", "eve"])))),
                Require::NoneOf(vec![Require::Group(names(&["banned"]))]),
            ]),
            Require::Ip(vec![IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            }]),
        ]))
    );
    assert_eq!(
        locations(&cfg.site.main)[0].1.require,
        Some(Require::Any(vec![
            Require::User(names(&["alice"])),
            Require::Group(names(&["admins", "staff"])),
        ]))
    );
}

#[test]
fn negated_rules_where_one_child_decides_are_refused_as_apache_does() {
    for (text, want) in [
        (
            "<Directory /x>\nRequire not ip 10.1\n</Directory>",
            "httpd.conf:3: negative Require directive has no effect in <RequireAny> directive",
        ),
        (
            "<Directory /x>\n<RequireAny>\nRequire valid-user\nRequire not user bob\n</RequireAny>\n</Directory>",
            "httpd.conf:5: negative Require directive has no effect in <RequireAny> directive",
        ),
        (
            "<Directory /x>\n<RequireNone>\nRequire user bob\n</RequireNone>\n</Directory>",
            "httpd.conf:3: <RequireNone> directive has no effect in <RequireAny> directive",
        ),
        (
            "<Directory /x>\n<RequireAll>\nRequire not user bob\n</RequireAll>\n</Directory>",
            "httpd.conf:3: <RequireAll> directive contains only negative authorization directives",
        ),
        (
            "<Directory /x>\n<RequireAll>\n</RequireAll>\n</Directory>",
            "httpd.conf:3: <RequireAll> directive contains no authorization directives",
        ),
        (
            "<Directory /x>\n<RequireAll>\nOptions None\n</RequireAll>\n</Directory>",
            "httpd.conf:4: Options cannot occur within <RequireAll>",
        ),
        (
            "<RequireAll>\nRequire all granted\n</RequireAll>",
            "httpd.conf:2: <RequireAll> is allowed only inside <Directory>, <Location>, <Files>, <If> or .htaccess",
        ),
        ("<Directory /x>\nRequire user\n</Directory>", "httpd.conf:3: Require user needs at least one name"),
        ("<Directory /x>\nRequire not not all granted\n</Directory>", "httpd.conf:3: Require not not"),
        ("<Directory /x>\nRequire method Get\n</Directory>", "httpd.conf:3: Require method: Invalid Method 'Get'"),
        ("<Directory /x>\nRequire expr \"%{NO_SUCH_VAR} == 'x'\"\n</Directory>", "httpd.conf:3: Require expr: Cannot parse expression in require line"),
    ] {
        let e = err(&format!("Listen 80\n{text}\n"));
        assert!(e.starts_with(want), "{text:?}:\n  got  {e}\n  want {want}…");
    }
}

#[test]
fn auth_directives_fill_the_sections_authentication_settings() {
    use mpm_site::auth::{AuthSettings, AuthType};
    let cfg = ok("Listen 80\nServerRoot /srv\n\
        <Directory /srv/www>\n\
          AuthType basic\n\
          AuthName \"Members only\"\n\
          AuthBasicProvider file\n\
          AuthUserFile conf/users\n\
          AuthGroupFile /etc/groups\n\
          Require valid-user\n\
        </Directory>\n\
        <Location /open>\n\
          AuthType None\n\
          AuthMerging Or\n\
        </Location>\n");
    assert_eq!(
        directories(&cfg.site.main)[0].1.auth,
        AuthSettings {
            auth_type: Some(AuthType::Basic),
            name: Some("Members only".into()),
            user_file: Some("/srv/conf/users".into()),
            group_file: Some("/etc/groups".into()),
            merging: None,
        }
    );
    assert_eq!(
        locations(&cfg.site.main)[0].1.auth.auth_type,
        Some(AuthType::None)
    );
    assert_eq!(
        locations(&cfg.site.main)[0].1.auth.merging,
        Some(mpm_site::auth::AuthMerging::Or)
    );
    for (text, want) in [
        (
            "AuthType Digest",
            "httpd.conf:3: AuthType digest: mpmd authenticates with Basic only",
        ),
        (
            "AuthBasicProvider file ldap",
            "httpd.conf:3: AuthBasicProvider file ldap: mpmd has the file provider only",
        ),
        (
            "AuthMerging Sometimes",
            "httpd.conf:3: AuthMerging takes Off, And or Or",
        ),
        ("AuthUserFile", "httpd.conf:3: AuthUserFile"),
        ("AuthName \"a\" b", "httpd.conf:3: AuthName"),
    ] {
        let e = err(&format!(
            "Listen 80\n<Directory /x>\n{text}\n</Directory>\n"
        ));
        assert!(e.starts_with(want), "{text}:\n  got  {e}\n  want {want}…");
    }
    let e = err("Listen 80\nAuthType Basic\n");
    assert!(
        e.starts_with("httpd.conf:2: AuthType is allowed only inside"),
        "{e}"
    );
}
