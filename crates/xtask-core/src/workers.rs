//! The threads jobs run on, kept for the next job when one ends.
//!
//! Starting a thread costs more than a short job's own work: its stack and guard page mapped,
//! its signal stack, the kernel copying the task, all undone when it exits. In a chain of 200
//! jobs running `true`, starting a thread per job was a fifth of the runner's time. A worker
//! that finishes a job waits for the next one instead; new threads start only when every
//! worker is busy, so the number of threads is the most jobs that ran at once. A command's
//! output reader is kept the same way, for the process (`spawn`).

use std::io;
use std::sync::mpsc::{self, SendError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

/// A job's work: what it returns is sent to the scheduler once the worker is free again.
pub type Work<M> = Box<dyn FnOnce() -> M + Send>;

/// The workers of one scheduler run. Dropping it ends the idle ones, and the busy ones when
/// their job is done.
pub struct Workers<M: Send + 'static> {
    threads: Kept,
    done: Sender<M>,
}

impl<M: Send + 'static> Workers<M> {
    /// Workers with stacks of `stack_size` bytes, sending what each job returns to `done`.
    pub fn new(stack_size: usize, done: Sender<M>) -> Self {
        Workers {
            threads: Kept::new(Some(stack_size)),
            done,
        }
    }

    /// Sends `message` to the scheduler as a worker would.
    pub fn report(&self, message: M) {
        let _ = self.done.send(message);
    }

    /// Runs `work` on an idle worker, or on a new thread named `name` when none is idle.
    /// `Err` when no thread could start.
    pub fn run(&self, name: &str, work: Work<M>) -> io::Result<()> {
        let done = self.done.clone();
        self.threads.run(
            name,
            Box::new(move || {
                let result = work();
                // Sent once the worker is idle again: the job the scheduler starts next (a
                // dependent, often) then finds it instead of starting a thread.
                Some(Box::new(move || {
                    let _ = done.send(result);
                }))
            }),
        )
    }
}

/// Runs `task` on an idle helper thread of the process, or a new one: `std::thread::spawn`
/// for tasks nobody joins (a command's output reader), without a new thread each time.
pub fn spawn(task: impl FnOnce() + Send + 'static) -> io::Result<()> {
    static HELPERS: OnceLock<Kept> = OnceLock::new();
    let helpers = HELPERS.get_or_init(|| Kept::new(None));
    helpers.run(
        "helper",
        Box::new(move || {
            task();
            None
        }),
    )
}

/// What a task leaves to do once its thread is back on the idle list.
type Then = Option<Box<dyn FnOnce() + Send>>;
type Task = Box<dyn FnOnce() -> Then + Send>;

/// Threads kept for the next task: what [`Workers`] and [`spawn`] share.
struct Kept {
    /// Held here only (threads keep a weak reference): the mailboxes in it are the only way
    /// to reach an idle thread, so dropping the list is what lets them end.
    idle: Arc<Mutex<Vec<Mailbox>>>,
    /// `None`: the standard library's default.
    stack_size: Option<usize>,
}

/// How a task reaches a thread. Each thread has one, which travels with the task it is handed
/// and goes back on the idle list when the task is done.
struct Mailbox(Sender<Assignment>);

struct Assignment {
    task: Task,
    mailbox: Mailbox,
}

impl Kept {
    fn new(stack_size: Option<usize>) -> Self {
        Kept {
            idle: Arc::new(Mutex::new(Vec::new())),
            stack_size,
        }
    }

    /// Runs `task` on an idle thread, or on a new one named `name` when none is idle.
    fn run(&self, name: &str, task: Task) -> io::Result<()> {
        let mut task = task;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(Mailbox(thread)) = idle else { break };
            let mailbox = Mailbox(thread.clone());
            match thread.send(Assignment { task, mailbox }) {
                Ok(()) => return Ok(()),
                // That thread has ended (a task of its panicked): try the next.
                Err(SendError(back)) => task = back.task,
            }
        }
        let (tx, rx) = mpsc::channel::<Assignment>();
        let idle = Arc::downgrade(&self.idle);
        let first = Assignment {
            task,
            mailbox: Mailbox(tx),
        };
        let mut builder = thread::Builder::new().name(name.to_string());
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        builder.spawn(move || {
            let mut next = Some(first);
            while let Some(Assignment { task, mailbox }) = next.take() {
                let then = task();
                // When the list is gone (its owner was dropped) the mailbox is dropped here,
                // and `recv` ends the thread.
                if let Some(idle) = idle.upgrade() {
                    idle.lock().unwrap_or_else(|e| e.into_inner()).push(mailbox);
                }
                if let Some(then) = then {
                    then();
                }
                next = rx.recv().ok();
            }
        })?;
        Ok(())
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn a_worker_that_finished_runs_the_next_job() {
        let (tx, rx) = mpsc::channel();
        let workers = Workers::new(64 * 1024, tx);
        let threads: std::collections::HashSet<_> = (0..5)
            .map(|_| {
                let work = Box::new(|| thread::current().id());
                workers.run("w", work).unwrap();
                // The result arrives after the worker went idle, so the next job finds it.
                rx.recv().unwrap()
            })
            .collect();
        assert_eq!(threads.len(), 1, "one thread ran every job in turn");
    }

    #[test]
    fn busy_workers_mean_new_threads() {
        let (tx, rx) = mpsc::channel();
        let workers = Workers::new(64 * 1024, tx);
        let barrier = Arc::new(Barrier::new(3));
        for _ in 0..3 {
            let barrier = Arc::clone(&barrier);
            workers
                .run(
                    "w",
                    Box::new(move || {
                        // All three wait here together: each must be on a thread of its own.
                        barrier.wait();
                        thread::current().id()
                    }),
                )
                .unwrap();
        }
        let ids: std::collections::HashSet<_> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn an_idle_helper_takes_the_next_task() {
        let mine = Kept::new(None);
        let (tx, rx) = mpsc::channel();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..5 {
            let tx = tx.clone();
            let task = Box::new(move || {
                tx.send(thread::current().id()).unwrap();
                None
            });
            mine.run("helper", task).unwrap();
            ids.insert(rx.recv().unwrap());
            // The helper is idle once it is back on the list (no time bound that load
            // could break: it gets there after its task returns, however late).
            while mine.idle_count() == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(ids.len(), 1, "one helper ran all five tasks");
    }

    #[test]
    fn dropping_the_workers_ends_their_threads() {
        thread_local! {
            // Dropped only when the thread that set it ends.
            static UNTIL_EXIT: std::cell::RefCell<Option<Sender<()>>> =
                const { std::cell::RefCell::new(None) };
        }
        let (tx, rx) = mpsc::channel::<u32>();
        let (alive_tx, alive_rx) = mpsc::channel::<()>();
        let workers = Workers::new(64 * 1024, tx);
        let work = Box::new(move || {
            UNTIL_EXIT.with(|u| *u.borrow_mut() = Some(alive_tx));
            1
        });
        workers.run("w", work).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        drop(workers);
        // The channel disconnects once the worker's thread ended (were it still waiting for
        // work, this would time out instead).
        let after = alive_rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(after, Err(mpsc::RecvTimeoutError::Disconnected));
    }

    #[test]
    fn a_job_that_panics_does_not_stop_later_jobs() {
        let (tx, rx) = mpsc::channel::<u32>();
        let workers = Workers::new(64 * 1024, tx);
        workers.run("w", Box::new(|| 1)).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        // The idle worker takes this job and ends with it; it is no longer on the idle list.
        workers.run("w", Box::new(|| panic!("planted"))).unwrap();
        workers.run("w", Box::new(|| 2)).unwrap();
        let answer = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(answer, Ok(2));
    }
}
