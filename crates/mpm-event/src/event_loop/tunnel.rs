//! Tunnels the loop holds after a `101` (a WebSocket through the reverse
//! proxy): the client's socket and the other one (registered under
//! [`PEER_BASE`] + the connection's key) copied both ways by the core's
//! [`Tunnel::pump`](mpm_core::serve::Tunnel::pump) on their events, with
//! no thread. The tunnel's buffers exist only while one side would not
//! take what the other sent (an idle tunnel holds none), and a side is
//! not read while the other's buffer waits. Its deadline is the idle
//! timeout, moved on by every byte. A graceful stop lets tunnels run
//! until they end (the master's `GracefulShutdownTimeout` bounds the
//! wait); a stop that does not wait closes them.

use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Token};
use mpm_core::deadline::after;
use mpm_core::serve::Tunnel;

use super::held::State;
use super::Loop;

/// A tunnel's other socket has token `PEER_BASE + key`: below the
/// listeners' tokens, above any key.
pub(super) const PEER_BASE: usize = usize::MAX / 4;

impl Loop<'_, '_> {
    /// Join connection `k` (its `101` written) to `tunnel`'s socket.
    pub(super) fn start_tunnel(&mut self, k: usize, tunnel: Box<Tunnel>, now: Instant) {
        let peer = tunnel.peer().as_raw_fd();
        let watched = tunnel.peer().set_nonblocking(true).and_then(|()| {
            self.poll.registry().register(
                &mut SourceFd(&peer),
                Token(PEER_BASE + k),
                Interest::READABLE | Interest::WRITABLE,
            )
        });
        if let Err(e) = watched {
            log::error!("could not watch a tunnel's backend socket: {e}; closing the tunnel");
            self.close(k);
            return;
        }
        let idle = tunnel.idle_timeout();
        self.set_state(k, State::Tunnel(tunnel));
        self.set_deadline(k, Some(after(now, idle)));
        self.pump_tunnel(k);
    }

    /// An event on a tunnel's other socket.
    pub(super) fn on_peer_event(&mut self, token: usize, ev: &mio::event::Event) {
        let k = token - PEER_BASE;
        let Some(State::Tunnel(t)) = self.held(k).map(|h| &mut h.state) else {
            return;
        };
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
        t.peer_ready(readable, writable);
        self.pump_tunnel(k);
    }

    /// Move what the tunnel's sockets allow; close it when both sides
    /// have ended or one failed.
    pub(super) fn pump_tunnel(&mut self, k: usize) {
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        let (Some(conn), State::Tunnel(t)) = (held.conn.as_mut(), &mut held.state) else {
            return;
        };
        let pumped = match t.pump(conn, &mut self.scratch) {
            Ok(p) => p,
            Err(e) => {
                log::debug!("a tunnel ended: {e}");
                self.close(k);
                return;
            }
        };
        if t.is_done() {
            self.close(k);
            return;
        }
        let idle = t.idle_timeout();
        if pumped.more {
            self.tunnels_due.push(k);
        }
        if pumped.moved {
            self.set_deadline(k, Some(after(Instant::now(), idle)));
        }
    }

    /// Pump the tunnels that stopped at their budget last time.
    pub(super) fn pump_due_tunnels(&mut self) {
        for k in std::mem::take(&mut self.tunnels_due) {
            self.pump_tunnel(k);
        }
    }

    /// A tunnel's idle timeout passed without a byte either way.
    pub(super) fn tunnel_idle(&mut self, k: usize) {
        if let Some(Some(conn)) = self.held(k).map(|h| h.conn.as_ref()) {
            log::info!(
                "tunnel from {} closed after its idle timeout without a byte either way",
                conn.info().peer
            );
        }
        self.close(k);
    }
}
