//! Injected time: every expiry decision goes through a [`Clock`], so tests move time by hand.

use std::fmt;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// A source of the current time.
///
/// `Connect` holds an `Arc<dyn Clock>`; every expiry decision (state lifetime, pending flows,
/// token expiry) and every timestamp written to a store comes from it, and the stores bind it
/// into SQL instead of calling the database's `now()`. Tests use [`ManualClock`].
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the system time
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests.
///
/// ```
/// use dravo_connect_core::{Clock, ManualClock};
/// use time::{Duration, macros::datetime};
/// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
/// clock.advance(Duration::minutes(11));
/// assert_eq!(clock.now(), datetime!(2026-01-01 0:11 UTC));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        Self { now: Mutex::new(now) }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
