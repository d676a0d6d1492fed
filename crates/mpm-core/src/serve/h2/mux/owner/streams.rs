//! The streams' side of the owner: the session's events become jobs and
//! feed the handlers' request bodies, and what the handlers send comes
//! back into the session (code moved from `owner.rs` unchanged).

use super::*;

impl H2Owner {
    /// Hand out the held requests whose bodies are here (or enough of
    /// them), or whose client paused [`BODY_GRACE`].
    pub(super) fn release_ready(&mut self, now: Instant) {
        let paused = self.last_read + BODY_GRACE <= now;
        let half = self.window / 2;
        let mut ids: Vec<u32> = self
            .streams
            .0
            .iter()
            .filter(|(_, st)| st.held.is_some())
            .filter(|(_, st)| {
                let s = st.link.state.lock();
                paused
                    || s.body_ended
                    || s.gone
                    || s.body.iter().map(|b| b.len()).sum::<usize>() >= half
            })
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(job) = self.streams.0.get_mut(&id).and_then(|st| st.held.take()) {
                self.jobs.push(job);
            }
        }
    }

    /// Act on the session's events: requests become jobs, bodies go to
    /// their handlers, resets reach them.
    pub(super) fn on_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                    ..
                } => {
                    let (signal, info) = self.shared();
                    let link = Link::new(signal, self.stream_mem, end_stream);
                    let job = StreamJob {
                        stream,
                        asked: Asked::Request(Box::new(head)),
                        link: link.clone(),
                        info,
                        started: SystemTime::now(),
                        clock: Instant::now(),
                    };
                    if end_stream {
                        self.jobs.push(job);
                        self.streams.0.insert(stream, owned(link, None));
                    } else {
                        self.streams.0.insert(stream, owned(link, Some(job)));
                    }
                }
                Event::Refused { stream, error } => {
                    let (signal, info) = self.shared();
                    let link = Link::new(signal, self.stream_mem, true);
                    self.jobs.push(StreamJob {
                        stream,
                        asked: Asked::Refused(error),
                        link: link.clone(),
                        info,
                        started: SystemTime::now(),
                        clock: Instant::now(),
                    });
                    self.streams.0.insert(stream, owned(link, None));
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let taken = self.streams.0.get(&stream).and_then(|st| {
                        let mut s = st.link.state.lock();
                        if s.gone || s.done {
                            return None;
                        }
                        if !data.is_empty() {
                            s.body.push_back(data.clone());
                        }
                        s.body_ended |= end_stream;
                        st.link.notify(&mut s);
                        Some(())
                    });
                    if taken.is_none() {
                        // Nobody will read it: the window goes back at once.
                        self.session.consume(stream, data.len());
                    }
                }
                Event::Trailers { stream, .. } => {
                    if let Some(st) = self.streams.0.get(&stream) {
                        let mut s = st.link.state.lock();
                        s.body_ended = true;
                        st.link.notify(&mut s);
                    }
                }
                Event::Reset { stream, code } => {
                    log::debug!("HTTP/2 stream {stream} reset: {code:?}");
                    if let Some(st) = self.streams.0.remove(&stream) {
                        st.link.cut();
                        // A job handed out finds it gone; one held is dropped.
                    }
                }
                Event::ConnectionError(e) => {
                    log::debug!("HTTP/2 connection from {}: {e}", self.io.info().peer);
                }
                Event::GoAway { .. } | Event::Writable { .. } | Event::Finished { .. } => {}
            }
        }
    }

    /// Take the streams' response parts into the session as far as
    /// their buffers allow (all streams when `news`, else those with
    /// bytes of their own waiting); whether anything moved.
    pub(super) fn collect(&mut self, news: bool, buf: &mut [u8]) -> bool {
        let mut moved = false;
        let mut over = Vec::new();
        let session = &mut self.session;
        for (&id, st) in self.streams.0.iter_mut() {
            if !news && st.partial.is_none() && st.tail.is_none() && !st.backlog {
                continue;
            }
            moved |= feed(session, id, st, buf);
            let mut s = st.link.state.lock();
            if s.consumed > 0 {
                session.consume(id, std::mem::take(&mut s.consumed));
                moved = true;
            }
            while st.partial.is_none() && st.tail.is_none() && !st.complete {
                let Some(part) = s.out.pop_front() else {
                    break;
                };
                moved = true;
                match part {
                    Out::Interim(status) => {
                        let _ = session.send_response(id, status, &HeaderMap::new(), false);
                    }
                    Out::Head {
                        status,
                        headers,
                        end,
                    } => {
                        let sent = session.send_response(id, status, &headers, end);
                        st.complete = end || sent.is_err();
                    }
                    Out::Data(b) => {
                        s.out_bytes -= b.len();
                        st.link.notify(&mut s);
                        st.partial = Some(b);
                    }
                    Out::Tail(Tail::Bytes(b)) => {
                        st.tail = Some(Sending::Bytes(b));
                    }
                    Out::Tail(Tail::File { file, offset, len }) => {
                        st.tail = Some(Sending::File {
                            file,
                            offset,
                            left: len,
                        });
                    }
                    Out::End => st.end_after = true,
                    Out::Reset => {
                        session.reset(id, RESET_CODE);
                        st.complete = true;
                    }
                }
                if st.partial.is_some() || st.tail.is_some() || st.end_after {
                    drop(s);
                    feed(session, id, st, buf);
                    s = st.link.state.lock();
                }
            }
            st.backlog = !s.out.is_empty();
            if s.done {
                // The handler is done: what it left unread of the body is
                // not wanted; its window goes back, and what still comes
                // is dropped as it arrives.
                let unread: usize = s.body.drain(..).map(|b| b.len()).sum();
                if unread > 0 {
                    session.consume(id, unread);
                }
                if s.out.is_empty() && st.partial.is_none() && st.tail.is_none() {
                    if !st.complete && !s.gone {
                        // A handler that ended without a whole response
                        // (it cannot, but a cut one must not look whole).
                        session.reset(id, RESET_CODE);
                    }
                    over.push(id);
                }
            }
        }
        for id in over {
            self.streams.0.remove(&id);
        }
        moved
    }
}

pub(super) fn owned(link: Arc<Link>, held: Option<StreamJob>) -> Owned {
    Owned {
        link,
        held,
        partial: None,
        end_after: false,
        tail: None,
        complete: false,
        backlog: false,
    }
}

/// Give the session what it takes of a stream's waiting body bytes (and
/// its end), a file's read through `buf` (the poller's scratch); whether
/// any moved.
fn feed(session: &mut Session, id: u32, st: &mut Owned, buf: &mut [u8]) -> bool {
    let mut moved = false;
    if let Some(b) = st.partial.as_mut() {
        match session.send_data(id, b, false) {
            Ok(n) => {
                moved |= n > 0;
                b.advance(n);
                if b.is_empty() {
                    st.partial = None;
                }
            }
            Err(_) => {
                st.partial = None;
                st.complete = true;
            }
        }
    }
    match st.tail.as_mut() {
        Some(Sending::Bytes(b)) => match session.send_data(id, b, true) {
            Ok(n) => {
                moved |= n > 0;
                b.advance(n);
                if b.is_empty() {
                    st.tail = None;
                    st.complete = true;
                }
            }
            Err(_) => {
                st.tail = None;
                st.complete = true;
            }
        },
        Some(Sending::File { file, offset, left }) => {
            while *left > 0 {
                let room = session.send_capacity(id).min(buf.len()) as u64;
                let want = (*left).min(room) as usize;
                if want == 0 {
                    break;
                }
                let piece = &mut buf[..want];
                if let Err(e) = file.read_exact_at(piece, *offset) {
                    log::error!("file shrank while being sent: {e}");
                    session.reset(id, RESET_CODE);
                    st.tail = None;
                    st.complete = true;
                    return true;
                }
                let last = want as u64 == *left;
                match session.send_data(id, piece, last) {
                    Ok(n) => {
                        moved = true;
                        *offset += n as u64;
                        *left -= n as u64;
                    }
                    Err(_) => {
                        st.tail = None;
                        st.complete = true;
                        return true;
                    }
                }
            }
            if *left == 0 {
                st.tail = None;
                st.complete = true;
            }
        }
        None => {}
    }
    if st.end_after && st.partial.is_none() && st.tail.is_none() && !st.complete {
        st.complete = true;
        st.end_after = false;
        moved = true;
        if session.send_data(id, &[], true).is_err() {
            session.reset(id, RESET_CODE);
        }
    }
    moved
}
