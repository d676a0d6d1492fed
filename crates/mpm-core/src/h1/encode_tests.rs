use super::*;
use crate::config::Limits;
use crate::h1::parse::parse_head;

fn head(buf: &[u8]) -> RequestHead {
    match parse_head(buf, &Limits::default()) {
        Ok(Some((h, _))) => h,
        other => panic!("test head did not parse: {other:?}"),
    }
}

fn encode(
    status: StatusCode,
    headers: &HeaderMap,
    length: ResponseLength,
    keep_alive: bool,
    version: Version,
    server: &str,
) -> String {
    let mut out = Vec::new();
    encode_head(
        &mut out, status, headers, length, keep_alive, version, server,
    );
    String::from_utf8(out).expect("head is ASCII")
}

#[test]
fn plan_length_rules() {
    use ResponseLength::*;
    let get = Method::GET;
    let v11 = Version::HTTP_11;
    assert_eq!(plan_length(v11, &get, StatusCode::OK, Some(13)), Known(13));
    assert_eq!(plan_length(v11, &get, StatusCode::OK, None), Chunked);
    assert_eq!(
        plan_length(Version::HTTP_10, &get, StatusCode::OK, None),
        CloseDelimited
    );
    for s in [100, 101, 204, 304] {
        let status = StatusCode::from_u16(s).unwrap();
        assert_eq!(
            plan_length(v11, &get, status, Some(5)),
            NoBody,
            "status {s}"
        );
        assert_eq!(plan_length(v11, &get, status, None), NoBody, "status {s}");
    }
    // HEAD advertises what GET would send.
    assert_eq!(
        plan_length(v11, &Method::HEAD, StatusCode::OK, Some(13)),
        Known(13)
    );
    assert_eq!(
        plan_length(v11, &Method::HEAD, StatusCode::OK, None),
        Chunked
    );
}

#[test]
fn keep_alive_after_rules() {
    let h11 = head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let close = head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let t = Timeouts::default();
    let known = ResponseLength::Known(1);
    assert!(keep_alive_after(&h11, 1, &t, known));
    assert!(keep_alive_after(&h11, 99, &t, known));
    assert!(
        !keep_alive_after(&h11, 100, &t, known),
        "100th response kept alive"
    );
    assert!(!keep_alive_after(&close, 1, &t, known));
    assert!(!keep_alive_after(
        &h11,
        1,
        &t,
        ResponseLength::CloseDelimited
    ));
    let off = Timeouts {
        keep_alive: false,
        ..Timeouts::default()
    };
    assert!(!keep_alive_after(&h11, 1, &off, known));
    let unlimited = Timeouts {
        max_keep_alive_requests: 0,
        ..Timeouts::default()
    };
    assert!(keep_alive_after(&h11, u32::MAX, &unlimited, known));
}

#[test]
fn encode_head_writes_status_date_server_headers_and_framing() {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/plain"));
    let s = encode(
        StatusCode::OK,
        &headers,
        ResponseLength::Known(13),
        true,
        Version::HTTP_11,
        "mpmd/0.1",
    );
    let lines: Vec<&str> = s.split("\r\n").collect();
    assert_eq!(lines[0], "HTTP/1.1 200 OK");
    assert!(
        lines[1].starts_with("Date: ") && lines[1].ends_with(" GMT"),
        "{s}"
    );
    assert_eq!(lines[1].len(), 6 + 29);
    assert_eq!(lines[2], "Server: mpmd/0.1");
    assert_eq!(lines[3], "Content-Type: text/plain");
    assert_eq!(lines[4], "Content-Length: 13");
    assert_eq!(
        &lines[5..],
        ["", ""],
        "head of {s:?} does not end after Content-Length"
    );
}

#[test]
fn encode_head_always_says_http11_and_spells_out_keep_alive_for_http10() {
    let s = encode(
        StatusCode::NOT_FOUND,
        &HeaderMap::new(),
        ResponseLength::Known(0),
        true,
        Version::HTTP_10,
        "",
    );
    assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"), "{s}");
    assert!(s.contains("\r\nConnection: keep-alive\r\n"), "{s}");
    assert!(!s.contains("Server:"), "empty server name sent: {s}");
    let s = encode(
        StatusCode::OK,
        &HeaderMap::new(),
        ResponseLength::CloseDelimited,
        false,
        Version::HTTP_10,
        "",
    );
    assert!(s.ends_with("\r\nConnection: close\r\n\r\n"), "{s}");
    assert!(
        !s.contains("Content-Length") && !s.contains("Transfer-Encoding"),
        "{s}"
    );
}

#[test]
fn encode_head_owns_framing_and_connection_headers() {
    let mut headers = HeaderMap::new();
    headers.insert("content-length", HeaderValue::from_static("99"));
    headers.insert("transfer-encoding", HeaderValue::from_static("gzip"));
    headers.insert("connection", HeaderValue::from_static("upgrade"));
    headers.insert(
        "date",
        HeaderValue::from_static("Mon, 01 Jan 2001 00:00:00 GMT"),
    );
    headers.insert("server", HeaderValue::from_static("custom"));
    let s = encode(
        StatusCode::OK,
        &headers,
        ResponseLength::Chunked,
        true,
        Version::HTTP_11,
        "mpmd",
    );
    assert!(
        !s.contains("99") && !s.contains("gzip") && !s.contains("upgrade"),
        "{s}"
    );
    assert!(
        s.contains("\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\n"),
        "{s}"
    );
    assert_eq!(s.matches("ate: ").count(), 1, "two Date headers: {s}");
    assert!(
        s.contains("\r\nServer: custom\r\n") && !s.contains("mpmd"),
        "{s}"
    );
    assert!(s.contains("\r\nTransfer-Encoding: chunked\r\n"), "{s}");
    assert!(!s.contains("Connection"), "{s}");
}

#[test]
fn header_names_are_written_in_customary_case() {
    let mut headers = HeaderMap::new();
    headers.insert("etag", HeaderValue::from_static("\"x\""));
    headers.insert("last-modified", HeaderValue::from_static("y"));
    headers.insert("www-authenticate", HeaderValue::from_static("Basic"));
    let s = encode(
        StatusCode::OK,
        &headers,
        ResponseLength::NoBody,
        true,
        Version::HTTP_11,
        "",
    );
    for line in [
        "\r\nETag: \"x\"\r\n",
        "\r\nLast-Modified: y\r\n",
        "\r\nWWW-Authenticate: Basic\r\n",
    ] {
        assert!(s.contains(line), "{line:?} missing from {s:?}");
    }
}

#[test]
fn encode_head_drops_values_with_cr_lf_nul() {
    let mut headers = HeaderMap::new();
    // The `http` crate's checked constructors refuse such values, so the
    // one way in is the `server` string: it must be dropped too.
    let evil = HeaderValue::from_maybe_shared(bytes::Bytes::from_static(b"a\r\nX-Injected: 1"));
    assert!(evil.is_err(), "http accepted a CR LF value");
    headers.insert("x-ok", HeaderValue::from_static("fine"));
    let s = encode(
        StatusCode::OK,
        &headers,
        ResponseLength::NoBody,
        true,
        Version::HTTP_11,
        "bad\r\nX-Injected: 1",
    );
    assert!(!s.contains("X-Injected"), "{s}");
    assert!(s.contains("X-Ok: fine"), "{s}");
}

#[test]
fn no_body_statuses_carry_no_length() {
    let s = encode(
        StatusCode::NOT_MODIFIED,
        &HeaderMap::new(),
        ResponseLength::NoBody,
        true,
        Version::HTTP_11,
        "",
    );
    assert!(s.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{s}");
    assert!(
        !s.contains("Content-Length") && !s.contains("Transfer-Encoding"),
        "{s}"
    );
}

#[test]
fn unknown_status_gets_unknown_reason() {
    let s = encode(
        StatusCode::from_u16(599).unwrap(),
        &HeaderMap::new(),
        ResponseLength::Known(0),
        false,
        Version::HTTP_11,
        "",
    );
    assert!(s.starts_with("HTTP/1.1 599 Unknown\r\n"), "{s}");
}

#[test]
fn chunk_framing_helpers() {
    let mut out = Vec::new();
    chunk_header(0x1a2b, &mut out);
    assert_eq!(out, b"1a2b\r\n");
    out.clear();
    chunk_header(1, &mut out);
    assert_eq!(out, b"1\r\n");
    out.clear();
    chunk_header(usize::MAX, &mut out);
    assert_eq!(out.len(), 2 * std::mem::size_of::<usize>() + 2);
    assert_eq!(CHUNK_END, b"\r\n");
    assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn chunk_framing_round_trips_through_the_decoder() {
    let mut wire = Vec::new();
    for piece in [&b"hello "[..], b"world", &[b'x'; 300]] {
        chunk_header(piece.len(), &mut wire);
        wire.extend_from_slice(piece);
        wire.extend_from_slice(CHUNK_END);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let mut dec = crate::h1::BodyDecoder::new(crate::h1::Framing::Chunked, 0);
    let mut body = Vec::new();
    let mut at = 0;
    while !dec.is_complete() {
        let d = dec.decode(&wire[at..]).expect("own chunks decode");
        body.extend_from_slice(&wire[at..][d.data]);
        at += d.consumed;
    }
    assert_eq!(at, wire.len());
    assert_eq!(body.len(), 11 + 300);
}

#[test]
fn error_page_is_apache_shaped_and_escapes_the_detail() {
    let (headers, body) = error_page(StatusCode::BAD_REQUEST, "bad <b>&\"x\"");
    assert_eq!(headers["content-type"], "text/html; charset=iso-8859-1");
    let html = std::str::from_utf8(&body).unwrap();
    // Apache 2.4's page for a 400, whatever the engine found wrong.
    assert_eq!(
        html,
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\
         <html><head>\n<title>400 Bad Request</title>\n</head><body>\n<h1>Bad Request</h1>\n\
         <p>Your browser sent a request that this server could not understand.<br />\n</p>\n\
         </body></html>\n"
    );
    // A status without Apache's fixed text shows the (escaped) detail.
    let (_, body) = error_page(StatusCode::EXPECTATION_FAILED, "bad <b>&\"x\"");
    let html = std::str::from_utf8(&body).unwrap();
    assert!(
        html.contains("<title>417 Expectation Failed</title>"),
        "{html}"
    );
    assert!(
        html.contains("<p>bad &lt;b&gt;&amp;&quot;x&quot;</p>\n</body>"),
        "{html}"
    );
    let (_, body) = error_page(StatusCode::RANGE_NOT_SATISFIABLE, "");
    let html = std::str::from_utf8(&body).unwrap();
    assert!(
        html.contains("<title>416 Requested Range Not Satisfiable</title>"),
        "{html}"
    );
}

#[test]
fn fields_encoded_once_are_written_as_the_same_fields_in_the_map_would_be() {
    let mut fields = HeaderMap::new();
    fields.insert("etag", HeaderValue::from_static("\"5-abc\""));
    fields.insert("accept-ranges", HeaderValue::from_static("bytes"));
    fields.insert("content-type", HeaderValue::from_static("text/plain"));
    // The engine's own fields are never taken into the encoded lines.
    let mut with_own = fields.clone();
    with_own.insert(
        DATE,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
    );
    with_own.insert(SERVER, HeaderValue::from_static("other"));
    with_own.insert(CONTENT_LENGTH, HeaderValue::from_static("9"));
    with_own.insert(CONNECTION, HeaderValue::from_static("close"));
    let encoded = EncodedFields::new(&with_own);
    assert_eq!(
        encoded.as_bytes(),
        EncodedFields::new(&fields).as_bytes(),
        "the engine's own fields were encoded"
    );
    for (length, keep, version) in [
        (ResponseLength::Known(5), true, Version::HTTP_11),
        (ResponseLength::Chunked, false, Version::HTTP_11),
        (ResponseLength::Known(0), true, Version::HTTP_10),
    ] {
        let (mut from_map, mut from_encoded) = (Vec::new(), Vec::new());
        encode_head(
            &mut from_map,
            StatusCode::OK,
            &fields,
            length,
            keep,
            version,
            "mpmd",
        );
        encode_head_with(
            &mut from_encoded,
            StatusCode::OK,
            &HeaderMap::new(),
            Some(&encoded),
            length,
            keep,
            version,
            "mpmd",
        );
        // The Date line may differ only if the second turned between them.
        let strip = |head: &[u8]| {
            String::from_utf8_lossy(head)
                .lines()
                .filter(|l| !l.starts_with("Date: "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&from_encoded),
            strip(&from_map),
            "{length:?} {keep} {version:?}"
        );
        assert!(String::from_utf8_lossy(&from_encoded).contains("\r\nETag: \"5-abc\"\r\n"));
    }
}

#[test]
fn a_200s_first_lines_made_once_a_second_follow_the_server_value_and_the_handlers_own_fields() {
    let plain = HeaderMap::new();
    let mut dated = HeaderMap::new();
    dated.insert(
        DATE,
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    let mut named = HeaderMap::new();
    named.insert(SERVER, HeaderValue::from_static("own"));
    let ok = |headers: &HeaderMap, server: &str| {
        encode(
            StatusCode::OK,
            headers,
            ResponseLength::Known(0),
            true,
            Version::HTTP_11,
            server,
        )
    };
    // Twice each, on one thread within (nearly always) one second, so
    // the second answer of each pair comes from the thread's lines.
    for _ in 0..2 {
        for (headers, server, want) in [
            (&plain, "mpmd/a", Some("Server: mpmd/a")),
            (&plain, "mpmd/b", Some("Server: mpmd/b")),
            (&plain, "", None),
            (&named, "mpmd/a", Some("Server: own")),
            (&named, "", Some("Server: own")),
        ] {
            let text = ok(headers, server);
            let lines: Vec<&str> = text.split("\r\n").collect();
            assert_eq!(lines[0], "HTTP/1.1 200 OK", "{text:?}");
            assert!(
                lines[1].starts_with("Date: ") && lines[1].ends_with(" GMT"),
                "no Date second: {text:?}"
            );
            let servers: Vec<&&str> = lines.iter().filter(|l| l.starts_with("Server: ")).collect();
            assert_eq!(
                servers.first().map(|l| **l),
                want,
                "server value {server:?}, handler's fields {headers:?}: {text:?}"
            );
            assert!(servers.len() <= 1, "two Server lines: {text:?}");
        }
        let text = ok(&dated, "mpmd/a");
        assert_eq!(
            text.matches("Date: ").count(),
            1,
            "the handler's own Date and another: {text:?}"
        );
        assert!(
            text.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{text:?}"
        );
    }
}
