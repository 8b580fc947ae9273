//! SIGINT / SIGTERM handling. The first signal cancels every watched token (their process groups
//! get SIGTERM, then SIGKILL); the run then unwinds normally: `defer`s run, temp dirs are removed,
//! and the process exits 130. A second signal kills every group at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::cancel::CancelToken;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static WATCHED: Mutex<Vec<CancelToken>> = Mutex::new(Vec::new());

pub fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Cancels `token` when the run is interrupted (at once if it already was).
pub fn watch(token: &CancelToken) {
    WATCHED.lock().unwrap().push(token.clone());
    if is_interrupted() {
        token.cancel("interrupted");
    }
}

pub fn unwatch(token: &CancelToken) {
    WATCHED.lock().unwrap().retain(|t| !t.same(token));
}

pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                interrupt(name);
            }
        })?;
    Ok(())
}

/// What a signal does; public so tests and the scheduler share one path.
pub fn interrupt(cause: &str) {
    let first = !INTERRUPTED.swap(true, Ordering::SeqCst);
    let tokens = WATCHED.lock().unwrap().clone();
    for token in tokens {
        if first {
            token.cancel(&format!("interrupted ({cause})"));
        } else {
            token.kill_now();
        }
    }
}
