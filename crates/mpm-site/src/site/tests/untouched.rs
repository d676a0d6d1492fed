//! A file in memory on a host no directive touches is answered without
//! the pipeline ([`crate::site::untouched`]): the same answers, and only
//! where nothing could have changed them.

use mpm_core::h1::EncodedFields;

use super::*;
use crate::headers::HeaderRule;

/// What a client sees of an answer: status, its head's fields as the
/// engine writes them (the header map's, then the fields encoded with a
/// file), body.
fn seen(response: Response) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let mut fields = EncodedFields::new(response.headers()).as_bytes().to_vec();
    if let Body::Kept { fields: kept, .. } = response.body() {
        fields.extend_from_slice(kept.as_bytes());
    }
    (
        status,
        String::from_utf8_lossy(&fields).into(),
        body(response),
    )
}

/// A request: method, target, header fields.
type Asked = (&'static str, String, Vec<(&'static str, String)>);

/// A change to the server's configuration, named for its directive.
type Edit<'a> = (&'a str, &'a dyn Fn(&mut DirConfig));

/// Requests a file answer depends on: plain, HEAD, each conditional,
/// ranges, and a path that is not in its plain form.
fn requests(etag: &str, date: &str) -> Vec<Asked> {
    let get = |uri: &str, headers: Vec<(&'static str, String)>| ("GET", uri.to_string(), headers);
    vec![
        get("/hello.txt", vec![]),
        ("HEAD", "/hello.txt".into(), vec![]),
        get("/hello.txt", vec![("if-none-match", etag.into())]),
        get("/hello.txt", vec![("if-none-match", "\"other\"".into())]),
        get("/hello.txt", vec![("if-modified-since", date.into())]),
        get("/hello.txt", vec![("if-match", "\"other\"".into())]),
        get(
            "/hello.txt",
            vec![(
                "if-unmodified-since",
                "Thu, 01 Jan 1970 00:00:01 GMT".into(),
            )],
        ),
        get("/digits.txt", vec![("range", "bytes=2-5".into())]),
        get("/digits.txt", vec![("range", "bytes=10-".into())]),
        get(
            "/digits.txt",
            vec![
                ("range", "bytes=0-0".into()),
                ("if-range", "\"stale\"".into()),
            ],
        ),
        get("/sub/../hello.txt", vec![]),
        get("/hello.txt?query", vec![]),
        get("/hello.txt/", vec![]),
        get("/.htaccess", vec![]),
        get("/hi", vec![]),
        get("/missing.txt", vec![]),
    ]
}

fn answers(
    site: &Site,
    version: http::Version,
    etag: &str,
    date: &str,
) -> Vec<(u16, String, Vec<u8>)> {
    requests(etag, date)
        .into_iter()
        .map(|(method, uri, headers)| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            seen(send_as(site, version, method, &uri, &headers, &conn()))
        })
        .collect()
}

/// `/hi` is `hello.txt`, `/secret` a file outside the document root.
fn aliased(fx: &Fixture, main: &mut VirtualHost) {
    for (url, path) in [
        ("/hi", fx.root().join("hello.txt")),
        ("/secret", fx.dir.path().join("outside/secret.txt")),
    ] {
        main.aliases.push(AliasRule {
            url: url.into(),
            path,
            script: false,
        })
    }
}

/// The site `edit` makes (with [`aliased`]'s aliases), after asserting
/// that it answers every request of [`requests`] as the same site kept on
/// the pipeline does (a `<Location>` that holds none of the files keeps
/// every request there and changes no answer): twice (the first requests
/// read the files through the pipeline, the second find them in
/// memory), in HTTP/1.1 and in HTTP/2.
fn answers_as_the_pipeline(fx: &Fixture, edit: &dyn Fn(&mut VirtualHost)) -> Site {
    let quick = fx.with_main(|main| {
        aliased(fx, main);
        edit(main);
    });
    let piped = fx.with_main(|main| {
        aliased(fx, main);
        edit(main);
        main.sections.push(location("/elsewhere", None, None));
    });
    assert!(
        !piped.hosts[0].untouched,
        "a host with a <Location> was seen as untouched"
    );
    // The validators, from a site with no section (they are the file's).
    let first = get(&fx.site(), "/hello.txt", &[]);
    let etag = header(&first, "etag").expect("an ETag").to_string();
    let date = header(&first, "last-modified").expect("a date").to_string();
    for round in 0..2 {
        for version in [http::Version::HTTP_11, http::Version::HTTP_2] {
            let (a, b) = (
                answers(&quick, version, &etag, &date),
                answers(&piped, version, &etag, &date),
            );
            for ((want, got), (method, uri, headers)) in
                b.iter().zip(&a).zip(requests(&etag, &date))
            {
                assert_eq!(
                    got, want,
                    "round {round}, {version:?}: {method} {uri} {headers:?} answered differently without the pipeline"
                );
            }
        }
    }
    quick
}

/// Whether `site` answered a GET of `uri` without the pipeline: a whole
/// answer carrying the fields encoded with the file (the pipeline's has
/// them in its header map).
fn answered_quickly(site: &Site, uri: &str) -> bool {
    let response = get(site, uri, &[]);
    response.headers().is_empty() && matches!(response.body(), Body::Kept { .. })
}

/// Debian's apache2.conf sections over `root` (its `/var/www/`).
fn debian_sections(root: &Path) -> Vec<Section> {
    let options = |indexes| Options {
        indexes,
        follow_symlinks: true,
        ..Options::DEFAULT
    };
    let dir = |path: &Path, options: Option<Options>, require| {
        let mut section = directory(path, options, Some(require));
        section.config.allow_override = Some(crate::pipeline::htaccess::Overrides::NONE);
        section
    };
    vec![
        dir(Path::new("/"), Some(options(false)), Require::AllDenied),
        dir(Path::new("/usr/share"), None, Require::AllGranted),
        dir(root, Some(options(true)), Require::AllGranted),
        files_match("^\\.ht", Some(Require::AllDenied), None),
    ]
}

/// A `<FilesMatch pattern>` section with this `Require` and `Header`.
fn files_match(pattern: &str, require: Option<Require>, header: Option<HeaderRule>) -> Section {
    let mut config = DirConfig {
        require,
        ..DirConfig::default()
    };
    config.filters.headers.response.extend(header);
    let pattern = crate::pipeline::section::Pattern::new(pattern, false).expect("a pattern");
    Section::new(SectionKind::FilesMatch(pattern)).with(config)
}

fn header_set() -> HeaderRule {
    HeaderRule::parse(&["set", "X-A", "b"], false).expect("a Header rule")
}

#[test]
fn a_file_no_directive_touches_is_answered_as_the_pipeline_answers_it() {
    let fx = Fixture::new();
    let bare = answers_as_the_pipeline(&fx, &|_| {});
    assert!(
        bare.hosts[0].untouched,
        "a bare host was not seen as untouched"
    );
    assert!(
        answered_quickly(&bare, "/hello.txt"),
        "a bare host answered a file in memory through the pipeline"
    );
}

#[test]
fn debians_default_sections_answer_the_document_roots_files_without_the_pipeline_as_it_would() {
    let fx = Fixture::new();
    let debian = answers_as_the_pipeline(&fx, &|main| {
        main.sections.extend(debian_sections(&fx.root()))
    });
    for uri in ["/hello.txt", "/hi", "/digits.txt"] {
        assert!(
            answered_quickly(&debian, uri),
            "{uri} under Debian's sections went through the pipeline"
        );
    }
    // In memory since the rounds above, and still refused.
    for (uri, what) in [
        (
            "/secret",
            "a file outside the document root (<Directory /> denied)",
        ),
        ("/.htaccess", "a .ht file (<FilesMatch \"^\\.ht\">)"),
    ] {
        let response = get(&debian, uri, &[]);
        assert_status(&response, 403, what);
    }
}

#[test]
fn sections_that_touch_a_file_keep_it_on_the_pipeline_with_the_same_answers() {
    let fx = Fixture::new();
    let root = fx.root();
    let with_header = |main: &mut VirtualHost| {
        let mut section = directory(&root, None, None);
        section.config.filters.headers.response.push(header_set());
        main.sections.push(section)
    };
    let files_match_too = |main: &mut VirtualHost| {
        main.sections.extend(debian_sections(&root));
        main.sections
            .push(files_match("^hello", None, Some(header_set())));
    };
    let tagged = |main: &mut VirtualHost| {
        let mut section = directory(&root, None, None);
        section.config.file_etag =
            Some(crate::pipeline::FileETag::Set(crate::pipeline::ETagParts {
                inode: true,
                mtime: false,
                size: true,
            }));
        main.sections.push(section)
    };
    // What, the sections, /hello.txt's status and its X-A field.
    type Case<'a> = (&'a str, &'a dyn Fn(&mut VirtualHost), u16, Option<&'a str>);
    let cases: [Case<'_>; 5] = [
        ("FileETag INode Size on its directory", &tagged, 200, None),
        (
            "Require all denied on its directory",
            &|main| {
                main.sections
                    .push(directory(&root, None, Some(Require::AllDenied)))
            },
            403,
            None,
        ),
        (
            "Require local on its directory",
            &|main| {
                main.sections
                    .push(directory(&root, None, Some(Require::Local)))
            },
            200,
            None,
        ),
        ("Header set on its directory", &with_header, 200, Some("b")),
        (
            "a <FilesMatch> holding it, with Debian's sections",
            &files_match_too,
            200,
            Some("b"),
        ),
    ];
    for (what, edit, status, x_a) in cases {
        let site = answers_as_the_pipeline(&fx, edit);
        assert!(
            !answered_quickly(&site, "/hello.txt"),
            "{what}: /hello.txt was answered without the pipeline"
        );
        let response = get(&site, "/hello.txt", &[]);
        assert_status(&response, status, what);
        assert_eq!(
            header(&response, "x-a"),
            x_a,
            "{what}: the Header set field"
        );
    }
    // A file the <FilesMatch> does not hold stays quick.
    let site = fx.with_main(files_match_too);
    get(&site, "/digits.txt", &[]);
    assert!(
        answered_quickly(&site, "/digits.txt"),
        "/digits.txt, which no <FilesMatch> holds, went through the pipeline"
    );
}

#[test]
fn an_mmapfile_on_an_untouched_host_is_answered_as_the_pipeline_answers_it() {
    let fx = Fixture::new();
    let files = [("hello.txt", FileCacheKind::Contents)];
    let bare = cached_site(&fx, &files, |_| {});
    let piped = cached_site(&fx, &files, |main| {
        main.sections.push(location("/elsewhere", None, None))
    });
    assert!(bare.hosts[0].untouched && !piped.hosts[0].untouched);
    let whole = get(&bare, "/hello.txt", &[]);
    assert!(
        whole.headers().is_empty() && matches!(whole.body(), Body::Kept { .. }),
        "an MMapFile's whole answer on an untouched host did not carry its encoded fields: {:?}",
        whole.headers()
    );
    let first = get(&piped, "/hello.txt", &[]);
    let etag = header(&first, "etag").expect("an ETag").to_string();
    let date = header(&first, "last-modified").expect("a date").to_string();
    for version in [http::Version::HTTP_11, http::Version::HTTP_2] {
        assert_eq!(
            answers(&bare, version, &etag, &date),
            answers(&piped, version, &etag, &date),
            "{version:?}"
        );
    }
}

/// The server-level settings each keep a host's files on the pipeline,
/// or not.
#[test]
fn only_settings_that_leave_a_files_answer_alone_keep_a_host_untouched() {
    let fx = Fixture::new();
    let untouched = |edit: &dyn Fn(&mut DirConfig)| {
        let site = fx.with_main(|main| edit(&mut main.dir));
        let host = &site.hosts[0];
        host.untouched
            && crate::site::untouched::untouched_file(&host.walks, &fx.root().join("hello.txt"))
    };
    let header_rule = HeaderRule::parse(&["set", "X-A", "b"], false).expect("a Header rule");
    let request_rule = HeaderRule::parse(&["set", "X-A", "b"], true).expect("a RequestHeader rule");
    let touching: [Edit<'_>; 12] = [
        ("Require all denied", &|d| {
            d.require = Some(Require::AllDenied)
        }),
        ("Require local", &|d| d.require = Some(Require::Local)),
        ("SetHandler server-status", &|d| {
            d.handler = Some(HandlerName::ServerStatus)
        }),
        ("ForceType text/html", &|d| {
            d.force_type = Some(Some("text/html".into()))
        }),
        ("ForceType None", &|d| d.force_type = Some(None)),
        ("AddDefaultCharset utf-8", &|d| {
            d.default_charset = Some(Some("utf-8".into()))
        }),
        ("Header set", &|d| {
            d.filters.headers.response.push(header_rule.clone())
        }),
        ("RequestHeader set", &|d| {
            d.filters.headers.request.push(request_rule.clone())
        }),
        ("ExpiresActive On", &|d| {
            d.filters.expires.active = Some(true)
        }),
        ("AllowOverride All", &|d| {
            d.allow_override = Some(crate::pipeline::htaccess::Overrides::ALL)
        }),
        ("Options -FollowSymLinks", &|d| {
            d.options = Some(OptionsSetting::Set(Options {
                follow_symlinks: false,
                ..Options::DEFAULT
            }))
        }),
        ("a <Files> section", &|d| {
            d.nested
                .push(Arc::new(Section::new(SectionKind::Files("*.txt".into()))))
        }),
    ];
    for (what, edit) in touching {
        assert!(!untouched(edit), "{what}: the host was seen as untouched");
    }
    // With no section, the base decides for every file, once per host.
    let headed = fx.with_main(|main| main.dir.filters.headers.response.push(header_set()));
    assert!(
        !headed.hosts[0].untouched,
        "a host with no section whose base sets Header was left to decide per file"
    );
    let leaving: [Edit<'_>; 6] = [
        ("nothing", &|_| {}),
        ("Require all granted", &|d| {
            d.require = Some(Require::AllGranted)
        }),
        ("AddDefaultCharset Off", &|d| d.default_charset = Some(None)),
        ("SetHandler None", &|d| d.handler = Some(HandlerName::None)),
        ("DirectoryIndex", &|d| {
            d.directory_index = Some(vec!["home.html".into()])
        }),
        ("Options Indexes FollowSymLinks", &|d| {
            d.options = Some(OptionsSetting::Set(Options {
                indexes: true,
                ..Options::DEFAULT
            }))
        }),
    ];
    for (what, edit) in leaving {
        assert!(untouched(edit), "{what}: the host was kept on the pipeline");
    }
}
