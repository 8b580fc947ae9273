//! What running jobs compete for, and who may start or go on.
//!
//! Three things are rationed:
//! - **slots** (`-j`): jobs doing something at once. A job *parked* on a claim below gives its
//!   slot back while it waits, so a job waiting for cargo's build directory never keeps a
//!   `sleep`, a service wait or a migration test from running.
//! - **CPU** (the machine's CPUs): each job holds its `cpu` weight; a cargo command raises it to
//!   the whole machine for as long as it runs. A weight that does not fit waits, unless nothing
//!   else holds CPU (a job heavier than the machine still runs, alone).
//! - **named locks** (`resources: ["db"]`, and cargo's build directory, which admits one
//!   writer at a time): one holder each.
//!
//! And `exclusive`: a job that runs with nothing else (declared: nothing else started or
//! waiting; claimed while running, as `perf::` does to measure: nothing else active).
//!
//! The scheduler admits jobs with [`Pool::try_start`]; job threads make claims during a job
//! through [`claim`], which finds the pool and job of the calling thread. Waiters are served
//! before new starts: an exclusive claim first, then parked jobs whose lock is free, the one
//! heading the longest remaining chain first ([`Hints::rank`]). Among waiters for a lock, that
//! chain is counted from when each would let the lock go ([`Hints::lock_rank`]): a job that
//! holds the build directory for a moment before a long chain goes before one that holds it
//! for as long, with nothing after it.
//!
//! A lock nobody holds or is about to use is idle capacity the slots know nothing of: the
//! highest-ranked job expected to claim that lock (it did in an earlier run, [`Hints::locks`]),
//! when ready, may start with every slot taken ([`Pool::try_start_ahead`]). The lock admits one
//! holder, so this adds at most one running job per lock; without it, four migration tests can
//! fill `-j 4` while cargo's build directory sits unused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// What a job needs before it starts (from its options).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Needs {
    pub cpu: f64,
    pub exclusive: bool,
    pub locks: Vec<String>,
}

/// What a job asks for while it runs (a cargo command, a measurement).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claim {
    /// A lock to hold for the claim's duration.
    pub lock: Option<String>,
    /// CPU weight for the claim's duration; `f64::INFINITY` means the whole machine.
    pub cpu: Option<f64>,
    /// Nothing else active meanwhile.
    pub exclusive: bool,
    /// A directory other xtask processes must not use meanwhile ([`crate::dir_lock`]).
    pub dir_lock: Option<std::path::PathBuf>,
}

impl Claim {
    /// Cargo's build directory, and the whole machine: what every cargo command implies.
    pub fn cargo(build_dir: &str) -> Claim {
        Claim {
            lock: Some(format!("cargo build directory {build_dir}")),
            cpu: Some(f64::INFINITY),
            exclusive: false,
            dir_lock: Some(build_dir.into()),
        }
    }

    /// A measurement: the machine to itself.
    pub fn measurement() -> Claim {
        Claim {
            exclusive: true,
            ..Claim::default()
        }
    }
}

/// What earlier runs say about each job (indexed by job id). Empty vectors: no history.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    /// The critical-path rank: among waiters that could go, the highest goes first.
    pub rank: Vec<f64>,
    /// The locks each job claimed while it last ran (cargo's build directory, mostly).
    pub locks: Vec<Vec<String>>,
    /// Among jobs that want the same lock, the highest goes first: how long the run still goes
    /// on once the job lets the lock go (its own work after it, then the longest chain of
    /// dependents). Serving a single lock in that order is what keeps the run shortest
    /// (Jackson's rule); by [`Hints::rank`] alone, a long job with nothing after it would go
    /// before a short lock holder heading a long chain. Empty: [`Hints::rank`] stands.
    pub lock_rank: Vec<f64>,
}

impl Hints {
    pub fn rank_of(&self, id: usize) -> f64 {
        self.rank.get(id).copied().unwrap_or(0.0)
    }

    /// [`Hints::lock_rank`] of job `id`, else its [`Hints::rank`].
    pub fn lock_rank_of(&self, id: usize) -> f64 {
        self.lock_rank
            .get(id)
            .copied()
            .unwrap_or_else(|| self.rank_of(id))
    }

    /// The order among waiters for `claim`: [`Hints::lock_rank_of`] when it is for a lock.
    fn rank_for(&self, id: usize, claim: &Claim) -> f64 {
        match claim.lock {
            Some(_) => self.lock_rank_of(id),
            None => self.rank_of(id),
        }
    }

    pub fn locks_of(&self, id: usize) -> &[String] {
        self.locks.get(id).map(Vec::as_slice).unwrap_or_default()
    }
}

#[derive(Debug)]
struct Held {
    /// The job's own weight, and the weight it holds now (raised by a claim).
    base_cpu: f64,
    cpu: f64,
    /// Holding a slot and CPU (false while parked on a claim).
    active: bool,
    /// Declared `exclusive: true`: nothing else starts or rejoins until it ends.
    declared_exclusive: bool,
    claims: Vec<Claim>,
}

#[derive(Debug, Default)]
struct State {
    slots: usize,
    cpus: f64,
    jobs: HashMap<usize, Held>,
    /// Lock name -> holding job.
    locks: HashMap<String, usize>,
    /// Parked jobs and what they wait for, in arrival order.
    waiting: Vec<(usize, Claim)>,
    /// The locks each job has claimed in this run (kept after it ends, for the next run's
    /// [`Hints::locks`]).
    claimed: HashMap<usize, Vec<String>>,
    /// When each parked job parked.
    parked_since: HashMap<usize, Instant>,
    /// How long each job has been parked in all (kept after it ends, like `claimed`).
    waited: HashMap<usize, Duration>,
    /// When each job last gave a claimed lock back (kept after it ends).
    lock_released: HashMap<usize, Instant>,
}

impl State {
    fn active(&self) -> usize {
        self.jobs.values().filter(|h| h.active).count()
    }

    fn cpu_used_except(&self, id: usize) -> f64 {
        self.jobs
            .iter()
            .filter(|(j, h)| **j != id && h.active)
            .map(|(_, h)| h.cpu)
            .sum()
    }

    fn exclusive_holder(&self) -> Option<usize> {
        self.jobs
            .iter()
            .find(|(_, h)| {
                h.active && (h.declared_exclusive || h.claims.iter().any(|c| c.exclusive))
            })
            .map(|(&id, _)| id)
    }

    fn lock_free_for(&self, lock: &str, id: usize) -> bool {
        self.locks.get(lock).is_none_or(|&holder| holder == id)
    }

    fn cpu_fits(&self, id: usize, weight: f64) -> bool {
        let others = self.cpu_used_except(id);
        // Something heavier than the machine runs when nothing else holds CPU.
        others <= 0.0 || others + weight.min(self.cpus) <= self.cpus + 1e-9
    }

    /// Could `id`'s claim be granted now (it may be active or parked)?
    fn grantable(&self, id: usize, claim: &Claim) -> bool {
        if self.exclusive_holder().is_some_and(|h| h != id) {
            return false;
        }
        if let Some(lock) = &claim.lock {
            if !self.lock_free_for(lock, id) {
                return false;
            }
        }
        let me = &self.jobs[&id];
        let others_active = self.active() - usize::from(me.active);
        if claim.exclusive {
            return others_active == 0;
        }
        if !me.active && others_active >= self.slots {
            return false;
        }
        self.cpu_fits(id, claim.cpu.unwrap_or(0.0).max(me.base_cpu))
    }

    /// A waiter that would be served first: an exclusive claim, or a parked job whose lock is
    /// free (it only waits for a slot or CPU, which new starts would take).
    fn waiter_has_priority(&self) -> bool {
        self.waiting.iter().any(|(id, claim)| {
            claim.exclusive
                || claim
                    .lock
                    .as_deref()
                    .is_none_or(|l| self.lock_free_for(l, *id))
        })
    }

    /// Whether `lock` is idle: nobody holds it, waits for it, or (by `hints`) is expected to
    /// claim it.
    fn lock_idle(&self, lock: &str, hints: &Hints) -> bool {
        !self.locks.contains_key(lock)
            && !self
                .waiting
                .iter()
                .any(|(_, c)| c.lock.as_deref() == Some(lock))
            && !self
                .jobs
                .keys()
                .any(|&j| hints.locks_of(j).iter().any(|l| l == lock))
    }

    fn take(&mut self, id: usize, claim: &Claim) {
        if let Some(lock) = &claim.lock {
            self.locks.insert(lock.clone(), id);
            let claimed = self.claimed.entry(id).or_default();
            if !claimed.contains(lock) {
                claimed.push(lock.clone());
            }
        }
        let held = self.jobs.get_mut(&id).expect("a started job");
        held.active = true;
        if let Some(cpu) = claim.cpu {
            held.cpu = held.cpu.max(cpu.min(self.cpus));
        }
        held.claims.push(claim.clone());
    }

    fn give_back(&mut self, id: usize) {
        let Some(held) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(claim) = held.claims.pop() else {
            return;
        };
        held.cpu = held
            .claims
            .iter()
            .filter_map(|c| c.cpu)
            .fold(held.base_cpu, |a, b| a.max(b.min(self.cpus)));
        if let Some(lock) = claim.lock {
            if self.locks.get(&lock) == Some(&id)
                && !held.claims.iter().any(|c| c.lock.as_ref() == Some(&lock))
            {
                self.locks.remove(&lock);
            }
            self.lock_released.insert(id, Instant::now());
        }
    }

    fn park(&mut self, id: usize, claim: &Claim) {
        self.jobs.get_mut(&id).expect("a started job").active = false;
        self.waiting.push((id, claim.clone()));
        self.parked_since.insert(id, Instant::now());
    }

    fn unpark(&mut self, id: usize) {
        self.waiting.retain(|(w, _)| *w != id);
        if let Some(since) = self.parked_since.remove(&id) {
            *self.waited.entry(id).or_default() += since.elapsed();
        }
    }
}

/// The run's rations. Shared by the scheduler and the job threads.
pub struct Pool {
    state: Mutex<State>,
    changed: Condvar,
    /// Tells the scheduler that a slot or CPU came free outside a job's end (a job parked).
    wake: Box<dyn Fn() + Send + Sync>,
    hints: Hints,
}

impl Pool {
    pub fn new(slots: usize, cpus: f64, wake: Box<dyn Fn() + Send + Sync>) -> Pool {
        Pool {
            state: Mutex::new(State {
                slots: slots.max(1),
                cpus: cpus.max(1.0),
                ..State::default()
            }),
            changed: Condvar::new(),
            wake,
            hints: Hints::default(),
        }
    }

    /// What earlier runs said about the jobs (see [`Hints`]).
    pub fn with_hints(mut self, hints: Hints) -> Pool {
        self.hints = hints;
        self
    }

    /// What the pool was told of earlier runs.
    pub fn hints(&self) -> &Hints {
        &self.hints
    }

    /// Whether job `id` is parked, waiting for a claim.
    pub fn is_parked(&self, id: usize) -> bool {
        self.lock().waiting.iter().any(|(w, _)| *w == id)
    }

    /// The locks job `id` claimed in this run, in the order it first took them.
    pub fn claimed(&self, id: usize) -> Vec<String> {
        self.lock().claimed.get(&id).cloned().unwrap_or_default()
    }

    /// How long job `id` has spent parked, waiting for claims, in this run.
    pub fn waited(&self, id: usize) -> Duration {
        self.lock().waited.get(&id).copied().unwrap_or_default()
    }

    /// When job `id` last gave back a lock it claimed; `None`: it claimed none.
    pub fn lock_released(&self, id: usize) -> Option<Instant> {
        self.lock().lock_released.get(&id).copied()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts job `id` if its needs can be met now, taking a slot, its CPU and its locks.
    pub fn try_start(&self, id: usize, needs: &Needs) -> bool {
        self.start(id, needs, false)
    }

    /// [`Pool::try_start`] for a job that heads the queue for the locks it is expected to
    /// claim (no job still to start that expects them outranks it): with every slot taken, it
    /// may still start when one of those locks is idle. Only the head gets that, so a lock's
    /// spare capacity goes to the critical path, not to whichever cargo job is ready (which
    /// would then hold the build directory when the critical path needs it).
    pub fn try_start_ahead(&self, id: usize, needs: &Needs) -> bool {
        self.start(id, needs, true)
    }

    fn start(&self, id: usize, needs: &Needs, ahead: bool) -> bool {
        let mut s = self.lock();
        if s.exclusive_holder().is_some() || s.waiter_has_priority() {
            return false;
        }
        if needs.exclusive && !s.jobs.is_empty() {
            return false;
        }
        if s.jobs.values().any(|h| h.declared_exclusive) {
            return false;
        }
        if needs.locks.iter().any(|l| s.locks.contains_key(l)) {
            return false;
        }
        if s.active() >= s.slots
            && !(ahead
                && self
                    .hints
                    .locks_of(id)
                    .iter()
                    .any(|l| s.lock_idle(l, &self.hints)))
        {
            return false;
        }
        let cpu = needs.cpu.max(0.0);
        s.jobs.insert(
            id,
            Held {
                base_cpu: cpu,
                cpu: 0.0,
                active: true,
                declared_exclusive: needs.exclusive,
                claims: Vec::new(),
            },
        );
        if !s.cpu_fits(id, cpu) {
            s.jobs.remove(&id);
            return false;
        }
        s.jobs.get_mut(&id).expect("just inserted").cpu = cpu.min(s.cpus);
        for lock in &needs.locks {
            s.locks.insert(lock.clone(), id);
        }
        true
    }

    /// Job `id` ended: everything it held is free again.
    pub fn finish(&self, id: usize) {
        let mut s = self.lock();
        s.jobs.remove(&id);
        s.locks.retain(|_, holder| *holder != id);
        s.waiting.retain(|(w, _)| *w != id);
        drop(s);
        self.changed.notify_all();
    }

    /// Waits (parked: slot and CPU given back) until `claim` can be granted to `id`, or the
    /// token is cancelled.
    fn acquire(&self, id: usize, claim: Claim, token: &CancelToken) -> Result<(), String> {
        let mut s = self.lock();
        if !s.jobs.contains_key(&id) {
            return Ok(()); // not a scheduled job (a unit test's direct call): nothing to ration
        }
        if (claim.exclusive || !s.waiter_has_priority()) && s.grantable(id, &claim) {
            s.take(id, &claim);
            drop(s);
            // The scheduler may be holding a job back until this lock is taken.
            if claim.lock.is_some() {
                (self.wake)();
            }
            return Ok(());
        }
        s.park(id, &claim);
        drop(s);
        self.changed.notify_all();
        (self.wake)();
        let mut s = self.lock();
        loop {
            if token.is_cancelled() {
                s.unpark(id);
                // Rejoin without waiting: the job is about to unwind and end.
                if let Some(held) = s.jobs.get_mut(&id) {
                    held.active = true;
                }
                return Err(token.reason().unwrap_or_else(|| "cancelled".into()));
            }
            // The first exclusive claim; else, among waiters that could go now, the one heading
            // the longest remaining chain (first come, first served among equals).
            let first_exclusive = s.waiting.iter().find(|(_, c)| c.exclusive).map(|w| w.0);
            let my_turn = match first_exclusive {
                Some(first) => first == id,
                None => s
                    .waiting
                    .iter()
                    .filter(|(w, c)| s.grantable(*w, c))
                    .map(|(w, c)| (*w, self.hints.rank_for(*w, c)))
                    .fold(None, |best: Option<(usize, f64)>, (w, rank)| match best {
                        Some(b) if b.1 >= rank => Some(b),
                        _ => Some((w, rank)),
                    })
                    .is_some_and(|(w, _)| w == id),
            };
            if my_turn && s.grantable(id, &claim) {
                s.unpark(id);
                s.take(id, &claim);
                drop(s);
                self.changed.notify_all();
                if claim.lock.is_some() {
                    (self.wake)();
                }
                return Ok(());
            }
            // Cancellation is not a condvar event: look again now and then.
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn release(&self, id: usize) {
        let mut s = self.lock();
        s.give_back(id);
        drop(s);
        self.changed.notify_all();
        (self.wake)();
    }
}

thread_local! {
    static CURRENT: RefCell<Option<(Arc<Pool>, usize)>> = const { RefCell::new(None) };
}

/// Makes `pool` and `job` the calling thread's, for [`claim`]. The scheduler's worker threads
/// call it before running the job.
pub fn enter(pool: Arc<Pool>, job: usize) {
    CURRENT.with(|c| *c.borrow_mut() = Some((pool, job)));
}

/// Holds a claim until dropped.
pub struct ClaimGuard {
    pool: Option<(Arc<Pool>, usize)>,
    _dir: Option<crate::dir_lock::DirLock>,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some((pool, id)) = self.pool.take() {
            pool.release(id);
        }
    }
}

/// Waits for `claim` on behalf of the calling thread's job, giving its slot back while it
/// waits. Outside a scheduled job (the script's top level, other threads) the pool grants it at
/// once: there is nothing to share with. A directory lock is then taken in either case, since
/// other processes are there to share with either way.
pub fn claim(claim: Claim, token: &CancelToken) -> Result<ClaimGuard, String> {
    let dir = claim.dir_lock.clone();
    let pool = match CURRENT.with(|c| c.borrow().clone()) {
        Some((pool, id)) => {
            pool.acquire(id, claim, token)?;
            Some((pool, id))
        }
        None => None,
    };
    // Built before the directory lock, so that a cancelled wait still gives the pool back.
    let mut guard = ClaimGuard { pool, _dir: None };
    if let Some(dir) = dir {
        guard._dir = crate::dir_lock::lock(&dir, token)?;
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(slots: usize, cpus: f64) -> Pool {
        Pool::new(slots, cpus, Box::new(|| {}))
    }

    fn light() -> Needs {
        Needs::default()
    }

    #[test]
    fn slots_bound_light_jobs() {
        let p = pool(2, 2.0);
        assert!(p.try_start(0, &light()));
        assert!(p.try_start(1, &light()));
        assert!(!p.try_start(2, &light()));
        p.finish(0);
        assert!(p.try_start(2, &light()));
    }

    #[test]
    fn cpu_weight_limits_heavy_jobs_but_a_lone_giant_runs() {
        let p = pool(4, 2.0);
        let heavy = Needs {
            cpu: 2.0,
            ..Needs::default()
        };
        assert!(p.try_start(0, &heavy));
        assert!(!p.try_start(1, &heavy));
        assert!(p.try_start(2, &light()), "a weightless job fits beside it");
        p.finish(0);
        let giant = Needs {
            cpu: 8.0,
            ..Needs::default()
        };
        assert!(
            p.try_start(1, &giant),
            "heavier than the machine, nothing else on CPU"
        );
    }

    #[test]
    fn a_declared_exclusive_job_waits_for_everything_and_blocks_everything() {
        let p = pool(4, 2.0);
        let exclusive = Needs {
            exclusive: true,
            ..Needs::default()
        };
        assert!(p.try_start(0, &light()));
        assert!(!p.try_start(1, &exclusive));
        p.finish(0);
        assert!(p.try_start(1, &exclusive));
        assert!(!p.try_start(2, &light()));
        p.finish(1);
        assert!(p.try_start(2, &light()));
    }

    #[test]
    fn declared_locks_have_one_holder() {
        let p = pool(4, 2.0);
        let db = Needs {
            locks: vec!["db".into()],
            ..Needs::default()
        };
        assert!(p.try_start(0, &db));
        assert!(!p.try_start(1, &db));
        p.finish(0);
        assert!(p.try_start(1, &db));
    }

    #[test]
    fn a_parked_claim_gives_its_slot_back_and_rejoins_when_the_lock_frees() {
        let p = Arc::new(pool(2, 2.0));
        assert!(p.try_start(0, &light()));
        assert!(p.try_start(1, &light()));
        let token = CancelToken::new();
        p.acquire(0, Claim::cargo("t"), &token).unwrap();
        let waiter = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                p.acquire(1, Claim::cargo("t"), &CancelToken::new())
                    .unwrap();
            })
        };
        // Job 1 parks: its slot is free for a third job even though -j is 2.
        while !p.try_start(2, &light()) {
            std::thread::yield_now();
        }
        p.finish(2);
        p.release(0);
        waiter.join().unwrap();
        let s = p.lock();
        assert_eq!(s.locks.get("cargo build directory t"), Some(&1));
    }

    /// Job 0 holds the build directory; job 1 parks on it, then job 2: their threads.
    fn one_holder_two_parked(
        hints: Hints,
    ) -> (
        Arc<Pool>,
        std::thread::JoinHandle<()>,
        std::thread::JoinHandle<()>,
    ) {
        let p = Arc::new(pool(4, 2.0).with_hints(hints));
        for id in 0..3 {
            assert!(p.try_start(id, &light()));
        }
        p.acquire(0, Claim::cargo("t"), &CancelToken::new())
            .unwrap();
        let park = |id: usize| {
            let shared = Arc::clone(&p);
            let waiter = std::thread::spawn(move || {
                shared
                    .acquire(id, Claim::cargo("t"), &CancelToken::new())
                    .unwrap();
            });
            while !p.is_parked(id) {
                std::thread::yield_now();
            }
            waiter
        };
        let first = park(1);
        let second = park(2);
        (p, first, second)
    }

    #[test]
    fn parked_waiters_are_served_by_rank_not_arrival() {
        let hints = Hints {
            rank: vec![0.0, 1.0, 5.0],
            ..Hints::default()
        };
        // Job 1 parks first, job 2 (heading a longer chain) after it.
        let (p, first, second) = one_holder_two_parked(hints);
        p.release(0);
        second.join().unwrap();
        assert_eq!(p.lock().locks.get("cargo build directory t"), Some(&2));
        assert!(p.is_parked(1), "the lower rank still waits");
        p.release(2);
        first.join().unwrap();
        assert_eq!(p.claimed(1), vec!["cargo build directory t".to_string()]);
    }

    #[test]
    fn lock_waiters_go_by_what_follows_the_lock_and_their_wait_is_counted() {
        // Job 1 heads the longer chain (rank 8 against 6) but holds the lock to its end with
        // nothing after it; job 2 lets it go at once and heads 5.9 s of work after it.
        let hints = Hints {
            rank: vec![0.0, 8.0, 6.0],
            lock_rank: vec![0.0, 0.0, 5.9],
            ..Hints::default()
        };
        // One after the other, so job 1's wait spans job 2's whatever the threads' timing.
        let (p, long, feeder) = one_holder_two_parked(hints);
        assert_eq!(p.waited(2), Duration::ZERO, "counted when the wait ends");
        assert_eq!(p.lock_released(0), None);
        p.release(0);
        assert!(p.lock_released(0).is_some());
        feeder.join().unwrap();
        assert_eq!(p.lock().locks.get("cargo build directory t"), Some(&2));
        assert!(p.is_parked(1), "the long leaf job waits");
        assert!(p.waited(2) > Duration::ZERO);
        p.release(2);
        long.join().unwrap();
        assert!(p.waited(1) >= p.waited(2), "it waited for both holders");
        // A claim without a lock (CPU, a measurement) keeps ranking by the chain.
        let cpu = Claim {
            cpu: Some(1.0),
            ..Claim::default()
        };
        assert_eq!(p.hints().rank_for(1, &cpu), 8.0);
        assert_eq!(p.hints().rank_for(1, &Claim::cargo("t")), 0.0);
        assert_eq!(Hints::default().lock_rank_of(3), 0.0);
    }

    #[test]
    fn the_head_of_an_idle_lock_starts_with_every_slot_taken() {
        let cargo = vec!["cargo build directory t".to_string()];
        let hints = Hints {
            locks: vec![vec![], cargo.clone(), cargo.clone(), vec![]],
            ..Hints::default()
        };
        let p = pool(1, 2.0).with_hints(hints);
        assert!(p.try_start(0, &light()));
        assert!(!p.try_start(1, &light()), "the plain start respects -j");
        assert!(
            !p.try_start_ahead(3, &light()),
            "no lock expected: no exception"
        );
        assert!(
            p.try_start_ahead(1, &light()),
            "the build directory is idle"
        );
        assert!(
            !p.try_start_ahead(2, &light()),
            "job 1 is expected to claim it: one extra job per lock at most"
        );
        p.finish(1);
        p.acquire(0, Claim::cargo("t"), &CancelToken::new())
            .unwrap();
        assert!(!p.try_start_ahead(2, &light()), "held: not idle");
    }

    #[test]
    fn a_cancelled_wait_returns_the_reason() {
        let p = pool(2, 2.0);
        assert!(p.try_start(0, &light()));
        assert!(p.try_start(1, &light()));
        p.acquire(0, Claim::cargo("t"), &CancelToken::new())
            .unwrap();
        let token = CancelToken::new();
        token.cancel("stop");
        assert_eq!(p.acquire(1, Claim::cargo("t"), &token), Err("stop".into()));
    }
}
