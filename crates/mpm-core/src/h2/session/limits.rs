//! The bounds against abuse: the stream-reset rate (CVE-2023-44487) and
//! the control frames owed to a client that does not read.

use std::time::Instant;

use super::Session;
use crate::h2::error::{ErrorCode, H2Error};

impl Session {
    pub(super) fn take_reset_token(&mut self, now: Instant) -> Result<(), H2Error> {
        if let Some(then) = self.reset_clock {
            let secs = now.saturating_duration_since(then).as_secs_f64();
            self.reset_tokens = (self.reset_tokens + secs * f64::from(self.cfg.resets_per_second))
                .min(f64::from(self.cfg.reset_burst));
        }
        self.reset_clock = Some(now);
        if self.reset_tokens < 1.0 {
            return Err(calm(
                "the client resets streams faster than the server allows",
            ));
        }
        self.reset_tokens -= 1.0;
        Ok(())
    }

    /// Control frames owed past the bound: the client floods without
    /// reading.
    pub(super) fn check_backlog(&self) -> Result<(), H2Error> {
        if self.ctrl.len() + self.resets_owed > self.cfg.max_control_backlog {
            return Err(calm(
                "the client sends frames that need an answer faster than it reads the answers",
            ));
        }
        Ok(())
    }
}

pub(super) fn calm(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::EnhanceYourCalm, reason)
}
