//! Waiting that stays interruptible: cancellable sleeps, bounded backoff, and polling until
//! something is ready. Shared by `http::wait`, `tcp::wait`, `service::start` and `retry`.
//! Every wait wakes at least every [`TICK`] to check the job's cancel token, so fail-fast and
//! Ctrl-C stop it within a second.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// How often a wait looks at its cancel token.
pub const TICK: Duration = Duration::from_millis(50);

/// A wait or a blocking call given up because the job's token was cancelled: the token's reason.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Cancelled {
    pub reason: String,
}

impl Cancelled {
    fn of(token: &CancelToken) -> Self {
        Cancelled {
            reason: cancel_reason(token),
        }
    }
}

/// Sleeps `total`, or less when the token is cancelled (then `Err` with its reason).
pub fn sleep(token: &CancelToken, total: Duration) -> Result<(), Cancelled> {
    let until = Instant::now() + total;
    loop {
        if token.is_cancelled() {
            return Err(Cancelled::of(token));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep(TICK.min(until - now));
    }
}

pub fn cancel_reason(token: &CancelToken) -> String {
    token.reason().unwrap_or_else(|| "cancelled".into())
}

/// Intervals that start short (a fresh server is usually up within milliseconds) and double up
/// to a ceiling, or stay fixed when the script asked for an interval.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff { next: first, max }
    }

    pub fn fixed(interval: Duration) -> Self {
        Backoff::new(interval, interval)
    }

    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// One look at whatever is being waited for.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what was seen, for the timeout message.
    NotYet(String),
    /// Waiting further is pointless (the service died, the address is invalid).
    Fatal(String),
}

/// Why [`until`] gave up; callers put what was waited for in front of the message.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("not ready after {} (last attempt: {last})", crate::duration::format(*after))]
    TimedOut { after: Duration, last: String },
    #[error("stopped: {0}")]
    Cancelled(String),
    /// What the check saw that makes waiting further pointless.
    #[error("{0}")]
    Fatal(String),
}

/// Calls `check` (with the time left) until it is ready, fatal, the timeout passes or the token
/// is cancelled. `check` is always called at least once.
pub fn until<T>(
    token: &CancelToken,
    timeout: Duration,
    mut backoff: Backoff,
    mut check: impl FnMut(Duration) -> Poll<T>,
) -> Result<T, WaitError> {
    let started = Instant::now();
    loop {
        if token.is_cancelled() {
            return Err(WaitError::Cancelled(cancel_reason(token)));
        }
        let left = timeout.saturating_sub(started.elapsed());
        let last = match check(left) {
            Poll::Ready(value) => return Ok(value),
            Poll::Fatal(text) => return Err(WaitError::Fatal(text)),
            Poll::NotYet(text) => text,
        };
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(WaitError::TimedOut {
                after: timeout,
                last,
            });
        }
        sleep(token, backoff.next_delay().min(left)).map_err(|c| WaitError::Cancelled(c.reason))?;
    }
}

/// Runs blocking `work` on a helper thread and waits for it while watching the token. On
/// cancellation the helper is abandoned; it ends by itself (callers give it a timeout).
pub fn cancellable<T: Send + 'static>(
    token: &CancelToken,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Cancelled> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    loop {
        match rx.recv_timeout(TICK) {
            Ok(value) => return Ok(value),
            Err(mpsc::RecvTimeoutError::Timeout) if token.is_cancelled() => {
                return Err(Cancelled::of(token))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Cancelled {
                    reason: "the request thread ended without an answer".into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
    }

    #[test]
    fn until_reports_the_last_state_at_the_timeout() {
        let token = CancelToken::new();
        let mut calls = 0;
        let err = until(
            &token,
            Duration::from_millis(120),
            Backoff::fixed(Duration::from_millis(20)),
            |_| -> Poll<()> {
                calls += 1;
                Poll::NotYet(format!("attempt {calls}"))
            },
        )
        .unwrap_err();
        match &err {
            WaitError::TimedOut { last, .. } => assert_eq!(last, &format!("attempt {calls}")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!("not ready after 120ms (last attempt: attempt {calls})")
        );
        assert!(calls >= 2);
    }

    #[test]
    fn cancellation_interrupts_a_sleep() {
        let token = CancelToken::new();
        let canceller = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            canceller.cancel("stop now");
        });
        let started = Instant::now();
        assert_eq!(
            sleep(&token, Duration::from_secs(30)).unwrap_err().reason,
            "stop now"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn cancellable_abandons_blocking_work() {
        let token = CancelToken::new();
        token.cancel("gone");
        let err = cancellable(&token, || std::thread::sleep(Duration::from_secs(2))).unwrap_err();
        assert_eq!(err.reason, "gone");
        assert_eq!(cancellable(&CancelToken::new(), || 7).unwrap(), 7);
    }
}
