//! Cancellation: a token per job (and one for top-level script code). Cancelling a token
//! terminates every process group started under it: SIGTERM first, SIGKILL after a grace period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a process group gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(1500);

#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    reason: Mutex<Option<String>>,
    groups: Mutex<Vec<i32>>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    pub fn reason(&self) -> Option<String> {
        self.inner.reason.lock().unwrap().clone()
    }

    /// Cancels the token; the first reason given is the one kept. Returns false if it was
    /// already cancelled.
    pub fn cancel(&self, reason: &str) -> bool {
        {
            let mut slot = self.inner.reason.lock().unwrap();
            if slot.is_some() {
                return false;
            }
            *slot = Some(reason.to_string());
        }
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.terminate_groups();
        true
    }

    /// Sends SIGKILL to every live group at once (a second Ctrl-C).
    pub fn kill_now(&self) {
        for &pgid in self.inner.groups.lock().unwrap().iter() {
            signal_group(pgid, libc::SIGKILL);
        }
    }

    fn terminate_groups(&self) {
        let groups = self.inner.groups.lock().unwrap().clone();
        if groups.is_empty() {
            return;
        }
        for &pgid in &groups {
            signal_group(pgid, libc::SIGTERM);
        }
        let inner = Arc::clone(&self.inner);
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            for &pgid in inner.groups.lock().unwrap().iter() {
                signal_group(pgid, libc::SIGKILL);
            }
        });
    }

    /// Tracks a freshly spawned process group. The guard kills whatever is left of the group
    /// when dropped, so a command cannot leave background processes behind.
    pub fn track_group(&self, pgid: i32) -> GroupGuard {
        self.inner.groups.lock().unwrap().push(pgid);
        if self.is_cancelled() {
            signal_group(pgid, libc::SIGKILL);
        }
        GroupGuard {
            token: self.clone(),
            pgid,
        }
    }
}

pub struct GroupGuard {
    token: CancelToken,
    pgid: i32,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.pgid, libc::SIGKILL);
        self.token
            .inner
            .groups
            .lock()
            .unwrap()
            .retain(|&g| g != self.pgid);
    }
}

pub fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

impl CancelToken {
    /// Whether two handles refer to the same token.
    pub fn same(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
