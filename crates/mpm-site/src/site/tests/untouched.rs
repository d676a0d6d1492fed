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

fn answers(site: &Site, etag: &str, date: &str) -> Vec<(u16, String, Vec<u8>)> {
    requests(etag, date)
        .into_iter()
        .map(|(method, uri, headers)| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            seen(send(site, method, &uri, &headers, &conn()))
        })
        .collect()
}

#[test]
fn a_file_no_directive_touches_is_answered_as_the_pipeline_answers_it() {
    let fx = Fixture::new();
    let alias = |main: &mut VirtualHost| {
        main.aliases.push(AliasRule {
            url: "/hi".into(),
            path: fx.root().join("hello.txt"),
            script: false,
        })
    };
    // A `<Location>` that holds none of the files keeps every request on
    // the pipeline and changes none of their answers.
    let bare = fx.with_main(alias);
    let piped = fx.with_main(|main| {
        alias(main);
        main.sections.push(location("/elsewhere", None, None));
    });
    assert!(
        bare.hosts[0].untouched,
        "a bare host was not seen as untouched"
    );
    assert!(
        !piped.hosts[0].untouched,
        "a host with a section was seen as untouched"
    );
    let first = get(&piped, "/hello.txt", &[]);
    let etag = header(&first, "etag").expect("an ETag").to_string();
    let date = header(&first, "last-modified").expect("a date").to_string();
    // Twice: the first requests read the files (the pipeline), the second
    // answer them from the kept bytes (without it on the bare host).
    for round in 0..2 {
        let (a, b) = (answers(&bare, &etag, &date), answers(&piped, &etag, &date));
        for ((want, got), (method, uri, headers)) in b.iter().zip(&a).zip(requests(&etag, &date)) {
            assert_eq!(
                got, want,
                "round {round}: {method} {uri} {headers:?} answered differently without the pipeline"
            );
        }
    }
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
    assert_eq!(answers(&bare, &etag, &date), answers(&piped, &etag, &date));
}

/// The server-level settings each keep a host on the pipeline, or not.
#[test]
fn only_settings_that_leave_a_files_answer_alone_keep_a_host_untouched() {
    let fx = Fixture::new();
    let untouched = |edit: &dyn Fn(&mut DirConfig)| {
        let site = fx.with_main(|main| edit(&mut main.dir));
        site.hosts[0].untouched
    };
    let header_rule = HeaderRule::parse(&["set", "X-A", "b"], false).expect("a Header rule");
    let request_rule = HeaderRule::parse(&["set", "X-A", "b"], true).expect("a RequestHeader rule");
    let touching: [Edit<'_>; 11] = [
        ("Require all granted", &|d| {
            d.require = Some(Require::AllGranted)
        }),
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
    let leaving: [Edit<'_>; 5] = [
        ("nothing", &|_| {}),
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
