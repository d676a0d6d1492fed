use std::io::{Read, Write};

use http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, ETAG, VARY};
use http::{HeaderValue, Method, StatusCode};
use mpm_core::{Body, Response};

use super::*;

fn text(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"the quick brown fox jumps over the lazy dog "[i % 44])
        .collect()
}

fn config() -> CompressConfig {
    CompressConfig {
        by_type: vec![
            ("text/plain".into(), Encoding::Gzip),
            ("text/plain".into(), Encoding::Br),
            ("text/html".into(), Encoding::Gzip),
        ],
        ..CompressConfig::default()
    }
}

fn response(body: Body, content_type: &str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    headers.insert(ETAG, HeaderValue::from_static("\"abc\""));
    response
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn run(
    cfg: &CompressConfig,
    cache: &VariantCache,
    method: Method,
    request_headers: &[(&str, &str)],
    env: &dyn Fn(&str) -> Option<String>,
    response: Response,
) -> Response {
    let mut headers = HeaderMap::new();
    for (name, value) in request_headers {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let req = CompressRequest {
        method: &method,
        headers: &headers,
        path: b"/doc.txt",
        env,
        filename: None,
    };
    apply(cfg, cache, &req, response)
}

/// A GET accepting `accept`, with no environment and no cache.
fn get(cfg: &CompressConfig, accept: &str, response: Response) -> Response {
    let cache = VariantCache::new(0);
    run(
        cfg,
        &cache,
        Method::GET,
        &[("accept-encoding", accept)],
        &no_env,
        response,
    )
}

fn body_bytes(body: Body) -> Vec<u8> {
    match body {
        Body::Bytes(b) => b.to_vec(),
        Body::Reader { mut reader, .. } => {
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            out
        }
        other => panic!("unexpected body {other:?}"),
    }
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn header(response: &Response, name: http::HeaderName) -> Option<&str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn a_configured_type_is_gzipped_with_vary_and_a_suffixed_etag() {
    let plain = text(5000);
    let out = get(
        &config(),
        "gzip",
        response(Body::from(plain.clone()), "text/plain; charset=utf-8"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), Some("gzip"));
    assert_eq!(header(&out, VARY), Some("Accept-Encoding"));
    assert_eq!(header(&out, ETAG), Some("\"abc-gzip\""));
    assert_eq!(out.body().len(), None, "a streamed body is sent chunked");
    assert_eq!(gunzip(&body_bytes(out.into_body())), plain);
}

#[test]
fn brotli_is_chosen_when_accepted_and_configured() {
    let plain = text(5000);
    let out = get(
        &config(),
        "gzip, deflate, br",
        response(Body::from(plain.clone()), "text/plain"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), Some("br"));
    assert_eq!(header(&out, ETAG), Some("\"abc-br\""));
    assert_eq!(unbrotli(&body_bytes(out.into_body())), plain);
}

#[test]
fn a_client_without_accept_encoding_gets_identity_with_vary() {
    let cache = VariantCache::new(0);
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[],
        &no_env,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert_eq!(header(&out, VARY), Some("Accept-Encoding"));
    assert_eq!(header(&out, ETAG), Some("\"abc\""));
}

#[test]
fn types_not_configured_and_encoded_bodies_are_left_alone() {
    let out = get(
        &config(),
        "gzip",
        response(Body::from(text(100)), "image/png"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert_eq!(header(&out, VARY), None);

    let mut pre = response(Body::from(text(100)), "text/plain");
    pre.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    let out = get(&config(), "gzip", pre);
    assert_eq!(header(&out, ETAG), Some("\"abc\""));
    assert_eq!(body_bytes(out.into_body()), text(100), "re-encoded");
}

#[test]
fn partial_and_no_content_are_not_compressed() {
    for (status, body) in [
        (StatusCode::PARTIAL_CONTENT, Body::from(text(100))),
        (StatusCode::NO_CONTENT, Body::Empty),
    ] {
        let mut resp = response(body, "text/plain");
        *resp.status_mut() = status;
        let out = get(&config(), "gzip", resp);
        assert_eq!(header(&out, CONTENT_ENCODING), None, "{status} compressed");
    }
}

#[test]
fn no_gzip_and_gzip_only_text_html_turn_gzip_off() {
    let cache = VariantCache::new(0);
    let no_gzip = |name: &str| (name == "no-gzip").then(|| "1".to_string());
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip, br")],
        &no_gzip,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(
        header(&out, CONTENT_ENCODING),
        Some("br"),
        "brotli is not gzip"
    );
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip")],
        &no_gzip,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), None);

    let only_html = |name: &str| (name == "gzip-only-text/html").then(|| "1".to_string());
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip")],
        &only_html,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip")],
        &only_html,
        response(Body::from(text(100)), "text/html"),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), Some("gzip"));
}

#[test]
fn if_none_match_with_the_suffixed_tag_is_answered_304() {
    let cache = VariantCache::new(0);
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[
            ("accept-encoding", "gzip"),
            ("if-none-match", "\"abc-gzip\""),
        ],
        &no_env,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(out.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&out, ETAG), Some("\"abc-gzip\""));
    assert_eq!(header(&out, VARY), Some("Accept-Encoding"));
    assert_eq!(header(&out, CONTENT_ENCODING), None);
    assert!(out.body().is_empty());
    // The brotli tag does not validate the gzip variant.
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip"), ("if-none-match", "\"abc-br\"")],
        &no_env,
        response(Body::from(text(100)), "text/plain"),
    );
    assert_eq!(out.status(), StatusCode::OK);
}

#[test]
fn alter_etag_nochange_and_remove_are_honoured() {
    for (alter, expected) in [
        (AlterEtag::NoChange, Some("\"abc\"")),
        (AlterEtag::Remove, None),
    ] {
        let cfg = CompressConfig {
            tuning: Tuning {
                deflate_alter_etag: Some(alter),
                ..Tuning::default()
            },
            ..config()
        };
        let out = get(&cfg, "gzip", response(Body::from(text(100)), "text/plain"));
        assert_eq!(header(&out, ETAG), expected, "{alter:?}");
    }
}

fn temp_file(contents: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.txt");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(contents)
        .unwrap();
    (dir, path)
}

fn file_body(path: &std::path::Path) -> Body {
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    Body::File {
        file,
        offset: 0,
        len,
    }
}

#[test]
fn a_whole_file_is_compressed_once_and_then_served_from_the_cache_with_a_length() {
    let plain = text(100 * 1024);
    let (_dir, path) = temp_file(&plain);
    let cache = VariantCache::new(8 << 20);
    for round in 0..2 {
        let out = run(
            &config(),
            &cache,
            Method::GET,
            &[("accept-encoding", "gzip")],
            &no_env,
            response(file_body(&path), "text/plain"),
        );
        let len = out.body().len();
        let data = body_bytes(out.into_body());
        assert_eq!(len, Some(data.len() as u64), "round {round}: no length");
        assert_eq!(gunzip(&data), plain);
        assert_eq!(cache.len(), 1, "round {round}");
    }
    // A changed file is another key.
    std::fs::write(&path, text(50 * 1024)).unwrap();
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip")],
        &no_env,
        response(file_body(&path), "text/plain"),
    );
    assert_eq!(gunzip(&body_bytes(out.into_body())), text(50 * 1024));
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_file_too_large_for_the_cache_is_streamed_from_its_offset() {
    let plain = text(20_000);
    let (_dir, path) = temp_file(&plain);
    let cache = VariantCache::new(8 * 1024);
    let mut body = file_body(&path);
    if let Body::File { offset, len, .. } = &mut body {
        *offset = 100;
        *len = 10_000;
    }
    let out = run(
        &config(),
        &cache,
        Method::GET,
        &[("accept-encoding", "gzip")],
        &no_env,
        response(body, "text/plain"),
    );
    assert_eq!(out.body().len(), None);
    assert_eq!(gunzip(&body_bytes(out.into_body())), &plain[100..10_100]);
    assert!(cache.is_empty());
}

#[test]
fn head_gets_the_headers_of_get_without_running_an_encoder() {
    let cache = VariantCache::new(0);
    let before = encoder::live_here();
    let out = run(
        &config(),
        &cache,
        Method::HEAD,
        &[("accept-encoding", "gzip")],
        &no_env,
        response(
            Body::Reader {
                reader: Box::new(std::io::Cursor::new(text(100))),
                len: Some(100),
            },
            "text/plain",
        ),
    );
    assert_eq!(header(&out, CONTENT_ENCODING), Some("gzip"));
    assert_eq!(header(&out, ETAG), Some("\"abc-gzip\""));
    assert_eq!(out.body().len(), None);
    assert_eq!(encoder::live_here(), before);
}

#[test]
fn add_output_filter_and_set_output_filter_apply_whatever_the_type() {
    let by_ext = CompressConfig {
        by_extension: vec![("txt".into(), Encoding::Gzip)],
        ..CompressConfig::default()
    };
    let set = CompressConfig {
        always: Some(Offer {
            gzip: false,
            br: true,
        }),
        ..CompressConfig::default()
    };
    for (cfg, token) in [(by_ext, "gzip"), (set, "br")] {
        let out = get(
            &cfg,
            "gzip, br",
            response(Body::from(text(100)), "application/octet-stream"),
        );
        assert_eq!(header(&out, CONTENT_ENCODING), Some(token));
    }
}

#[test]
fn gzip_leaves_bodies_under_69_bytes_alone_without_vary_as_mod_deflate_does() {
    let gzip_only = CompressConfig {
        by_type: vec![("text/plain".into(), Encoding::Gzip)],
        ..CompressConfig::default()
    };
    for (len, encoded) in [(68, false), (69, true)] {
        let out = get(
            &gzip_only,
            "gzip",
            response(Body::from(text(len)), "text/plain"),
        );
        let coding = header(&out, CONTENT_ENCODING);
        assert_eq!(coding.is_some(), encoded, "{len} bytes: {coding:?}");
        assert_eq!(header(&out, VARY).is_some(), encoded, "{len} bytes: Vary");
    }
    // mod_brotli has no such bound, down to an empty body.
    for body in [Body::from(text(3)), Body::Empty] {
        let out = get(&config(), "br", response(body, "text/plain"));
        assert_eq!(header(&out, CONTENT_ENCODING), Some("br"));
        let data = body_bytes(out.into_body());
        assert!(
            !data.is_empty(),
            "an empty Brotli body is not a Brotli stream"
        );
        assert!(unbrotli(&data).len() <= 3);
    }
}

#[test]
fn redirects_and_errors_are_sent_as_they_are() {
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        let mut resp = response(Body::from(text(500)), "text/plain");
        *resp.status_mut() = status;
        let out = get(&config(), "gzip", resp);
        assert_eq!(header(&out, CONTENT_ENCODING), None, "{status}");
        assert_eq!(header(&out, VARY), None, "{status}");
    }
}

fn noting() -> CompressConfig {
    use super::notes::NoteKind;
    let mut cfg = config();
    for (kind, name) in [
        (NoteKind::Input, "in"),
        (NoteKind::Output, "out"),
        (NoteKind::Ratio, "ratio"),
    ] {
        cfg.deflate_notes.set(kind, name.into());
        cfg.brotli_notes.set(kind, name.into());
    }
    cfg
}

/// The three notes of a compressed response, read after its body.
fn noted(out: Response) -> (Vec<u8>, [Option<String>; 3]) {
    let (parts, body) = out.into_parts();
    let notes = parts
        .extensions
        .get::<super::notes::SizeNotes>()
        .cloned()
        .expect("the sizes are noted");
    assert_eq!(notes.get("ratio"), None, "noted before the body was read");
    let bytes = body_bytes(body);
    (bytes, ["in", "out", "ratio"].map(|n| notes.get(n)))
}

#[test]
fn filter_notes_give_the_sizes_of_a_streamed_body_once_it_was_read_to_its_end() {
    let plain = text(20_000);
    let body = Body::Reader {
        reader: Box::new(std::io::Cursor::new(plain.clone())),
        len: None,
    };
    let (gz, [input, output, ratio]) = noted(get(&noting(), "gzip", response(body, "text/plain")));
    assert_eq!(gunzip(&gz), plain);
    // The deflate stream without gzip's header and trailer, as zlib counts.
    let out = gz.len() as u64 - 18;
    assert_eq!(input.as_deref(), Some("20000"));
    assert_eq!(output, Some(out.to_string()));
    assert_eq!(ratio, Some((out * 100 / 20_000).to_string()));
    let body = Body::Reader {
        reader: Box::new(std::io::Cursor::new(plain.clone())),
        len: None,
    };
    let (br, [_, output, _]) = noted(get(&noting(), "br", response(body, "text/plain")));
    assert_eq!(unbrotli(&br), plain);
    assert_eq!(output, Some(br.len().to_string()), "Brotli's whole output");
}

#[test]
fn filter_notes_give_the_sizes_of_a_cached_file_to_a_get_and_a_head() {
    let plain = text(5_000);
    let (_dir, path) = temp_file(&plain);
    let cache = VariantCache::new(1 << 20);
    for _ in 0..2 {
        let out = run(
            &noting(),
            &cache,
            Method::GET,
            &[("accept-encoding", "gzip")],
            &no_env,
            response(file_body(&path), "text/plain"),
        );
        let notes = out
            .extensions()
            .get::<super::notes::SizeNotes>()
            .cloned()
            .expect("noted");
        let gz = body_bytes(out.into_body());
        assert_eq!(notes.get("in").as_deref(), Some("5000"));
        assert_eq!(notes.get("out"), Some((gz.len() - 18).to_string()));
    }
    // As Apache: a HEAD notes what the GET would send.
    let head = run(
        &noting(),
        &cache,
        Method::HEAD,
        &[("accept-encoding", "gzip")],
        &no_env,
        response(file_body(&path), "text/plain"),
    );
    let notes = head.extensions().get::<super::notes::SizeNotes>().cloned();
    assert_eq!(notes.and_then(|n| n.get("in")).as_deref(), Some("5000"));
}
