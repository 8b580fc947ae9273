//! The threads jobs run on, kept for the next job when one ends.
//!
//! Starting a thread costs more than a short job's own work: its stack and guard page mapped,
//! its signal stack, the kernel copying the task, all undone when it exits. In a chain of 200
//! jobs running `true`, starting a thread per job was a fifth of the runner's time. A worker
//! that finishes a job waits for the next one instead; new threads start only when every
//! worker is busy, so the number of threads is the most jobs that ran at once.

use std::io;
use std::sync::mpsc::{self, SendError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

/// A job's work: what it returns is sent to the scheduler once the worker is free again.
pub type Work<M> = Box<dyn FnOnce() -> M + Send>;

/// The workers of one scheduler run. Dropping it ends the idle ones, and the busy ones when
/// their job is done.
pub struct Workers<M: Send + 'static> {
    /// Held here only (workers keep a weak reference): the mailboxes in it are the only way
    /// to reach an idle worker, so dropping the list is what lets them end.
    idle: Arc<Mutex<Vec<Mailbox<M>>>>,
    done: Sender<M>,
    stack_size: usize,
}

/// How a job reaches a worker. Each worker has one, which travels with the job it is handed
/// and goes back on the idle list when the job is done.
struct Mailbox<M>(Sender<Assignment<M>>);

struct Assignment<M> {
    work: Work<M>,
    mailbox: Mailbox<M>,
}

impl<M: Send + 'static> Workers<M> {
    /// Workers with stacks of `stack_size` bytes, sending what each job returns to `done`.
    pub fn new(stack_size: usize, done: Sender<M>) -> Self {
        Workers {
            idle: Arc::new(Mutex::new(Vec::new())),
            done,
            stack_size,
        }
    }

    /// Sends `message` to the scheduler as a worker would.
    pub fn report(&self, message: M) {
        let _ = self.done.send(message);
    }

    /// Runs `work` on an idle worker, or on a new thread named `name` when none is idle.
    /// `Err` when no thread could start.
    pub fn run(&self, name: &str, work: Work<M>) -> io::Result<()> {
        let mut work = work;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(Mailbox(worker)) = idle else { break };
            let mailbox = Mailbox(worker.clone());
            match worker.send(Assignment { work, mailbox }) {
                Ok(()) => return Ok(()),
                // That worker has ended (a job of its panicked): try the next.
                Err(SendError(back)) => work = back.work,
            }
        }
        let (tx, rx) = mpsc::channel::<Assignment<M>>();
        let idle = Arc::downgrade(&self.idle);
        let done = self.done.clone();
        let first = Assignment {
            work,
            mailbox: Mailbox(tx),
        };
        thread::Builder::new()
            .name(name.to_string())
            .stack_size(self.stack_size)
            .spawn(move || {
                let mut next = Some(first);
                while let Some(Assignment { work, mailbox }) = next.take() {
                    let result = work();
                    // Idle before the scheduler hears of the result: the job it starts next
                    // (a dependent, often) then finds this worker instead of starting a thread.
                    // When the run is over (no list) the mailbox is dropped and `recv` ends.
                    if let Some(idle) = idle.upgrade() {
                        idle.lock().unwrap_or_else(|e| e.into_inner()).push(mailbox);
                    }
                    if done.send(result).is_err() {
                        return;
                    }
                    next = rx.recv().ok();
                }
            })?;
        Ok(())
    }
}

type Task = Box<dyn FnOnce() + Send>;

/// Idle helper threads (see [`spawn`]).
struct Helpers {
    idle: Mutex<Vec<Sender<Task>>>,
}

impl Helpers {
    const fn new() -> Self {
        Helpers {
            idle: Mutex::new(Vec::new()),
        }
    }

    fn spawn(&'static self, task: Task) -> io::Result<()> {
        let mut task = task;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(helper) = idle else { break };
            match helper.send(task) {
                Ok(()) => return Ok(()),
                Err(SendError(back)) => task = back,
            }
        }
        let (tx, rx) = mpsc::channel::<Task>();
        thread::Builder::new()
            .name("helper".into())
            .spawn(move || {
                let mut next = Some(task);
                while let Some(task) = next.take() {
                    task();
                    self.idle
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(tx.clone());
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

static HELPERS: Helpers = Helpers::new();

/// Runs `task` on an idle helper thread of the process, or a new one: `std::thread::spawn`
/// for tasks nobody joins (a command's output reader), without a new thread each time.
pub fn spawn(task: impl FnOnce() + Send + 'static) -> io::Result<()> {
    HELPERS.spawn(Box::new(task))
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
        static MINE: Helpers = Helpers::new();
        let (tx, rx) = mpsc::channel();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..5 {
            let tx = tx.clone();
            MINE.spawn(Box::new(move || tx.send(thread::current().id()).unwrap()))
                .unwrap();
            ids.insert(rx.recv().unwrap());
            // The helper is idle once it is back on the list (no time bound that load
            // could break: it gets there after its task returns, however late).
            while MINE.idle_count() == 0 {
                thread::yield_now();
            }
        }
        assert_eq!(ids.len(), 1, "one helper ran all five tasks");
    }

    #[test]
    fn dropping_the_workers_ends_their_threads() {
        let (tx, rx) = mpsc::channel::<u32>();
        let workers = Workers::new(64 * 1024, tx);
        workers.run("w", Box::new(|| 1)).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        drop(workers);
        // The worker holds a sender of `rx`: the channel disconnects once its thread ended
        // (were it still waiting for work, this would time out instead).
        let after = rx.recv_timeout(std::time::Duration::from_secs(60));
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
