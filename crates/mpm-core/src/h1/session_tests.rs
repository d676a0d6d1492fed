//! The session driven the way quinn-proto's tests drive a connection: no
//! socket, bytes fed in every split, the events asserted.
use super::session::{BodyStep, HeadEvent, Session, MIN_BUFFER};
use super::{BodyDecoder, Framing};
use crate::config::Limits;

/// Feed `wire` in pieces cut at `cuts` through `space`/`filled`, polling
/// after each; returns every event (NeedMore folded away) and the bytes
/// left buffered.
fn drive(wire: &[u8], cuts: &[usize], limits: &Limits) -> (Vec<String>, Vec<u8>) {
    let mut s = Session::new(limits);
    let mut events = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        let end = end.clamp(at, wire.len());
        while at < end {
            let Some(room) = s.space(end - at) else {
                break;
            };
            let n = room.len().min(end - at);
            room[..n].copy_from_slice(&wire[at..at + n]);
            s.filled(n);
            at += n;
        }
        loop {
            match s.poll_head(limits) {
                HeadEvent::Ready(h) => events.push(format!("head {} {}", h.method, h.uri)),
                HeadEvent::NeedMore => break,
                HeadEvent::Refuse(e) => {
                    events.push(format!("refuse {}", e.status.as_u16()));
                    return (events, s.buffered().to_vec());
                }
            }
        }
    }
    (events, s.buffered().to_vec())
}

const PIPELINE: &[u8] =
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHo";

#[test]
fn a_pipeline_split_at_any_two_points_gives_the_same_heads_and_leftover() {
    let limits = Limits::default();
    let whole = drive(PIPELINE, &[], &limits);
    assert_eq!(whole.0, ["head GET /a", "head GET /b"]);
    assert_eq!(whole.1, b"GET /c HTTP/1.1\r\nHo");
    for i in 0..=PIPELINE.len() {
        for j in i..=PIPELINE.len() {
            assert_eq!(
                drive(PIPELINE, &[i, j], &limits),
                whole,
                "cut at {i} and {j}"
            );
        }
    }
}

#[test]
fn offer_parses_from_the_callers_buffer_and_keeps_only_what_follows() {
    let limits = Limits::default();
    let mut s = Session::new(&limits);
    let HeadEvent::Ready(h) = s.offer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &limits) else {
        panic!("a whole head")
    };
    assert_eq!(h.uri, "/");
    // Nothing was kept, so nothing was allocated: an idle connection
    // holds no buffer.
    assert_eq!(s.capacity(), 0);
    // Part of a head is kept, in a small buffer.
    assert!(matches!(s.offer(b"GET /n", &limits), HeadEvent::NeedMore));
    assert_eq!(s.buffered(), b"GET /n");
    assert_eq!(s.capacity(), MIN_BUFFER);
    assert!(matches!(
        s.offer(b" HTTP/1.1\r\nHost: x\r\n\r\nGET", &limits),
        HeadEvent::Ready(_)
    ));
    assert_eq!(s.buffered(), b"GET");
}

#[test]
fn every_piece_of_a_head_offered_byte_by_byte_is_scanned_once() {
    let limits = Limits::default();
    let mut s = Session::new(&limits);
    let wire = b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    let mut got = None;
    for b in wire.iter() {
        match s.offer(std::slice::from_ref(b), &limits) {
            HeadEvent::Ready(h) => got = Some(h),
            HeadEvent::NeedMore => {}
            HeadEvent::Refuse(e) => panic!("refused: {e}"),
        }
    }
    let head = got.expect("the head");
    assert_eq!(head.framing, Framing::Length(5));
    assert_eq!(s.buffered(), b"hello");
}

#[test]
fn a_head_that_fills_the_head_limit_is_refused_with_431_and_space_stops_at_the_limit() {
    let limits = Limits {
        request_line: 100,
        field_size: 100,
        fields: 4,
        ..Limits::default()
    };
    let cap = limits.head_capacity();
    let mut s = Session::new(&limits);
    s.extend(b"GET / HTTP/1.1\r\n");
    let mut fed = 0;
    while let Some(room) = s.space(4096) {
        let n = room.len();
        room.fill(b'a');
        s.filled(n);
        fed += n;
        if fed > 10 * cap {
            panic!("space never stopped");
        }
    }
    assert!(
        fed <= cap.next_power_of_two(),
        "buffered {fed} for a cap of {cap}"
    );
    match s.poll_head(&limits) {
        HeadEvent::Refuse(e) => assert_eq!(e.status.as_u16(), 431, "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_chunked_body_split_anywhere_reads_as_whole_and_leaves_the_next_request() {
    let limits = Limits::default();
    let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
    for cut in 0..=body.len() {
        for out_len in [1, 3, 64] {
            let mut s = Session::new(&limits);
            let mut dec = BodyDecoder::new(Framing::Chunked, 0);
            let mut data = Vec::new();
            let mut out = vec![0u8; out_len];
            for piece in [&body[..cut], &body[cut..]] {
                s.extend(piece);
                while let BodyStep::Data(n) = s.read_body(&mut dec, &mut out).expect("valid body") {
                    data.extend_from_slice(&out[..n]);
                }
            }
            assert_eq!(
                s.read_body(&mut dec, &mut out),
                Ok(BodyStep::End),
                "cut {cut}"
            );
            assert_eq!(data, b"hello world", "cut {cut}, out {out_len}");
            assert_eq!(s.buffered(), b"GET /next HTTP/1.1\r\n");
        }
    }
}

#[test]
fn shrink_gives_back_a_grown_buffer_and_keeps_pipelined_bytes() {
    let limits = Limits::default();
    let mut s = Session::new(&limits);
    s.extend(&vec![b'x'; 300 * 1024]);
    let mut dec = BodyDecoder::new(Framing::Length(300 * 1024 - 3), 0);
    let mut out = vec![0u8; 64 * 1024];
    while let Ok(BodyStep::Data(_)) = s.read_body(&mut dec, &mut out) {}
    assert_eq!(s.buffered(), b"xxx");
    assert!(s.capacity() > 256 * 1024);
    s.shrink(false);
    assert_eq!(s.buffered(), b"xxx");
    assert!(s.capacity() <= MIN_BUFFER, "{}", s.capacity());
    let mut s = Session::new(&limits);
    s.extend(b"abc");
    let _ = s.space(1);
    s.shrink(true);
    assert_eq!(s.buffered(), b"abc", "release keeps buffered bytes");
}

#[test]
fn used_bytes_are_the_head_and_the_framed_body_and_not_what_is_pipelined() {
    let limits = Limits::default();
    let head = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let next = b"GET /next HTTP/1.1\r\n";
    for offered in [true, false] {
        let mut s = Session::new(&limits);
        let wire = [&head[..], body, next].concat();
        let event = if offered {
            s.offer(&wire, &limits)
        } else {
            s.extend(&wire);
            s.poll_head(&limits)
        };
        assert!(matches!(event, HeadEvent::Ready(_)), "{event:?}");
        let mut dec = BodyDecoder::new(Framing::Chunked, 0);
        let mut out = [0u8; 64];
        while let Ok(BodyStep::Data(_)) = s.read_body(&mut dec, &mut out) {}
        assert_eq!(
            s.take_used(),
            (head.len() + body.len()) as u64,
            "offered: {offered}"
        );
        assert_eq!(s.take_used(), 0, "taken twice");
        assert_eq!(s.buffered(), next);
    }
}
