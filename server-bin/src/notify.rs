//! Telling the service manager (systemd, `Type=notify` or
//! `Type=notify-reload`) the server's state, through the `sd-notify`
//! crate: nothing is sent when `NOTIFY_SOCKET` is not set.
//!
//! | when | message |
//! |---|---|
//! | the first generation's children accept | `READY=1`, `STATUS=…`, `MAINPID=` ours |
//! | a restart or graceful restart begins | `RELOADING=1`, `MONOTONIC_USEC=…` |
//! | the new generation's children accept | `READY=1`, `STATUS=…` |
//! | while serving, at most once a second when it changed | `STATUS=…` |
//! | a stop begins | `STOPPING=1` |
//! | a binary upgrade's new master serves (sent by the old one) | `MAINPID=` the new master's |
//! | every half `WATCHDOG_USEC`, while children of the current generation accept | `WATCHDOG=1` |
//!
//! The decisions (when each is due) are [`crate::supervise`]'s; this
//! module sends and keeps the watchdog's clock.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// The service manager's end, as the environment describes it.
#[derive(Debug)]
pub struct Notify {
    /// `NOTIFY_SOCKET` is set.
    on: bool,
    /// Half of `WATCHDOG_USEC`, when the watchdog is on for this process.
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
    /// A failed send was logged (once).
    warned: bool,
}

impl Notify {
    /// Read `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Notify {
        let on = std::env::var_os("NOTIFY_SOCKET").is_some();
        let mut usec = 0;
        let watchdog = (on && sd_notify::watchdog_enabled(false, &mut usec) && usec > 0)
            .then(|| Duration::from_micros(usec) / 2);
        Notify {
            on,
            watchdog,
            last_ping: None,
            warned: false,
        }
    }

    fn send(&mut self, states: &[NotifyState<'_>]) {
        if !self.on {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            if !self.warned {
                self.warned = true;
                log::warn!(
                    "could not notify the service manager (NOTIFY_SOCKET): {}",
                    mpm::strategy::error::describe_io(&e)
                );
            }
        }
    }

    /// `READY=1` with a status line, and our pid as the main one.
    pub fn ready(&mut self, status: &str) {
        self.send(&[
            NotifyState::Ready,
            NotifyState::Status(status),
            NotifyState::MainPid(std::process::id()),
        ]);
    }

    /// `RELOADING=1` with the monotonic time, as `Type=notify-reload`
    /// requires.
    pub fn reloading(&mut self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading the configuration"),
            ]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `STOPPING=1`.
    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// `STATUS=…`.
    pub fn status(&mut self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// `MAINPID=pid`: the service's main process is now `pid`.
    pub fn main_pid(&mut self, pid: u32, status: &str) {
        self.send(&[NotifyState::MainPid(pid), NotifyState::Status(status)]);
    }

    /// `WATCHDOG=1` when half the interval passed since the last one (and
    /// `healthy`); the longest to wait before asking again.
    pub fn watchdog(&mut self, now: Instant, healthy: bool) -> Option<Duration> {
        let every = self.watchdog?;
        let due = self.last_ping.map_or(now, |t| t + every);
        if now >= due && healthy {
            self.send(&[NotifyState::Watchdog]);
            self.last_ping = Some(now);
            return Some(every);
        }
        Some(
            due.saturating_duration_since(now)
                .max(Duration::from_millis(50)),
        )
    }
}
