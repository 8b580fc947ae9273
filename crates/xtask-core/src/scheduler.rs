//! The scheduler: starts jobs on worker threads in dependency order, the longest remaining
//! chain first, as far as the resource pool admits them (`resources.rs`: `-j` slots, CPU
//! weight, locks, exclusive jobs); on a failure it cancels running siblings (unless keep-going); applies job timeouts and
//! retries; reports everything as events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::events::{Event, EventBus, JobSummary, Outcome};
use crate::graph::{Plan, PlannedJob};
use crate::resources::{self, Hints, Pool};
use crate::signals;
use crate::workers::Workers;

/// Runs one job's body. Implemented by the script host; tests can supply their own.
pub trait JobRunner: Send + Sync + 'static {
    fn run_job(&self, job: &PlannedJob, token: &CancelToken) -> Outcome;

    /// For the up-to-date check: what identifies the job's code and settings, as (what, value)
    /// pairs; `None` means it is never skipped.
    fn identity(&self, _job: &PlannedJob) -> Option<Vec<(String, String)>> {
        None
    }
    /// A variable as the job's commands would see it.
    fn env_var(&self, _job: &PlannedJob, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    /// The return value of a job that just passed, to store; `None` when it cannot be stored.
    fn result(&self, _job: &PlannedJob) -> Option<serde_json::Value> {
        None
    }
    /// Makes a stored return value available as if the job had run; false if it cannot.
    fn restore_result(&self, _job: &PlannedJob, _value: serde_json::Value) -> bool {
        false
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
    /// CPUs to share out by weight (a cargo command takes them all).
    pub cpus: f64,
    /// Per job id, higher starts first among ready jobs (the critical path); empty: plan order.
    pub priority: Vec<f64>,
    /// Per job id, the order among jobs that want the same lock (`resources::Hints::lock_rank`);
    /// empty: `priority`.
    pub lock_priority: Vec<f64>,
    /// Per job id, the locks it claimed when it last ran (see `resources::Hints`); empty: none
    /// known.
    pub expected_locks: Vec<Vec<String>>,
    /// Per job id, its own remembered seconds; `None`: never seen (or an empty vector).
    pub seconds: Vec<Option<f64>>,
    /// The up-to-date check; `None` runs every job.
    pub cache: Option<Arc<crate::cache::Session>>,
}

/// What reaches the scheduler from worker threads and the pool.
enum Message {
    /// A finished job: its id, outcome, attempts and fingerprint (for its dependents' cache
    /// check).
    Done(usize, Outcome, u32, Option<String>),
    /// A parked job gave its slot back, or a claim ended: more may start.
    Wake,
}

/// Worker threads run script code, whose recursion lives on the stack.
const WORKER_STACK: usize = 16 * 1024 * 1024;

enum State {
    Waiting {
        unmet: usize,
    },
    Running {
        token: CancelToken,
        started: Instant,
    },
    Done,
}

pub fn run(
    plan: &Plan,
    options: Options,
    bus: &EventBus,
    runner: Arc<dyn JobRunner>,
) -> Vec<JobSummary> {
    let n = plan.jobs.len();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for job in &plan.jobs {
        for &need in &job.needs {
            dependents[need].push(job.id);
        }
    }
    let mut states: Vec<State> = plan
        .jobs
        .iter()
        .map(|j| State::Waiting {
            unmet: j.needs.len(),
        })
        .collect();
    let mut summaries: Vec<Option<JobSummary>> = vec![None; n];
    let (done_tx, done_rx) = mpsc::channel::<Message>();
    let pool = Arc::new(
        Pool::new(options.jobs, options.cpus, {
            let wake = done_tx.clone();
            Box::new(move || {
                let _ = wake.send(Message::Wake);
            })
        })
        .with_hints(Hints {
            rank: options.priority.clone(),
            locks: options.expected_locks.clone(),
            lock_rank: options.lock_priority.clone(),
        }),
    );
    let workers = Workers::new(WORKER_STACK, done_tx.clone());
    // Ready jobs are tried in this order: the critical path first, then plan order.
    let mut order: Vec<usize> = (0..n).collect();
    if options.priority.len() == n {
        order.sort_by(|&a, &b| options.priority[b].total_cmp(&options.priority[a]));
    }
    // Where each job comes in that order.
    let mut place = vec![0; n];
    for (at, &id) in order.iter().enumerate() {
        place[id] = at;
    }
    let mut fingerprints: Vec<Option<String>> = vec![None; n];
    // Started and not finished (parked ones included).
    let mut running = 0usize;
    let mut stop_reason: Option<String> = None;
    // When a job held back (`held_back`) is to be looked at again, if one is.
    let mut recheck: Option<Instant> = None;
    // A failed `fail_fast: false` matrix job stops the run but not its own matrix: these
    // declared names keep starting and running (Actions' `strategy.fail-fast: false`).
    let mut unstoppable: Vec<String> = Vec::new();

    loop {
        if stop_reason.is_none() && signals::is_interrupted() {
            stop_reason = Some("interrupted".into());
        }
        if stop_reason.is_none() || !unstoppable.is_empty() {
            let stopped = stop_reason.is_some();
            recheck = None;
            for &id in &order {
                if !matches!(states[id], State::Waiting { unmet: 0 }) {
                    continue;
                }
                if stopped && !unstoppable.contains(&plan.jobs[id].base) {
                    continue;
                }
                if let Some(until) = held_back(id, plan, &options, &states, &pool, &place) {
                    recheck = Some(recheck.map_or(until, |r: Instant| r.min(until)));
                    continue;
                }
                let needs = &plan.jobs[id].def.needs_resources;
                let started = match heads_its_locks(id, pool.hints(), &states) {
                    true => pool.try_start_ahead(id, needs),
                    false => pool.try_start(id, needs),
                };
                if !started {
                    if needs.exclusive {
                        break; // let running jobs drain rather than starve it
                    }
                    continue;
                }
                {
                    let token = CancelToken::new();
                    signals::watch(&token);
                    states[id] = State::Running {
                        token: token.clone(),
                        started: Instant::now(),
                    };
                    running += 1;
                    bus.emit(Event::JobStarted {
                        id,
                        name: plan.jobs[id].name.clone(),
                    });
                    let needs = plan.jobs[id]
                        .needs
                        .iter()
                        .map(|&n| (plan.jobs[n].name.clone(), fingerprints[n].clone()))
                        .collect();
                    start_job(
                        &workers,
                        plan.jobs[id].clone(),
                        Arc::clone(&pool),
                        token,
                        Arc::clone(&runner),
                        bus.clone(),
                        (options.cache.clone(), needs),
                    );
                }
            }
        }
        if running == 0 {
            break;
        }
        // A held-back job is looked at again when what it waits behind is due to end.
        let message = match recheck {
            None => done_rx
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(at) => done_rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        let (id, outcome, attempts, fingerprint) = match message {
            Ok(Message::Done(id, outcome, attempts, fingerprint)) => {
                (id, outcome, attempts, fingerprint)
            }
            Ok(Message::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the pool holds a sender"),
        };
        pool.finish(id);
        fingerprints[id] = fingerprint;
        running -= 1;
        let State::Running { token, started } = std::mem::replace(&mut states[id], State::Done)
        else {
            unreachable!("a finished job was running");
        };
        signals::unwatch(&token);
        let ended = Instant::now();
        let summary = JobSummary {
            id,
            name: plan.jobs[id].name.clone(),
            outcome,
            duration: ended - started,
            attempts,
            locks: pool.claimed(id),
            waited: pool.waited(id),
            after_lock: pool
                .lock_released(id)
                .map(|at| ended.saturating_duration_since(at)),
        };
        bus.emit(Event::JobFinished(summary.clone()));

        if summary.outcome.is_failure() && !options.keep_going {
            let job = &plan.jobs[id];
            let spare = (!job.def.fail_fast && !job.matrix.is_empty()).then(|| job.base.clone());
            if let Some(base) = spare.filter(|b| !unstoppable.contains(b)) {
                unstoppable.push(base);
            }
            let reason = stop_reason
                .clone()
                .unwrap_or_else(|| format!("`{}` failed", summary.name));
            for (other, state) in states.iter().enumerate() {
                if let State::Running { token, .. } = state {
                    if !unstoppable.contains(&plan.jobs[other].base) {
                        token.cancel(&reason);
                    }
                }
            }
            stop_reason = Some(reason);
        }
        if summary.outcome.satisfies_needs() {
            for &dep in &dependents[id] {
                if let State::Waiting { unmet } = &mut states[dep] {
                    *unmet -= 1;
                }
            }
        } else {
            block_dependents(plan, &dependents, id, &mut states, &mut summaries, bus);
        }
        summaries[id] = Some(summary);
    }

    // Whatever never started: the run stopped before it.
    let reason = stop_reason.unwrap_or_else(|| "not started".into());
    for job in &plan.jobs {
        if summaries[job.id].is_none() {
            let summary = JobSummary {
                id: job.id,
                name: job.name.clone(),
                outcome: Outcome::Cancelled {
                    reason: format!("not started: {reason}"),
                },
                duration: Duration::ZERO,
                attempts: 0,
                locks: Vec::new(),
                waited: Duration::ZERO,
                after_lock: None,
            };
            bus.emit(Event::JobFinished(summary.clone()));
            summaries[job.id] = Some(summary);
        }
    }
    summaries
        .into_iter()
        .map(|s| s.expect("every job summarised"))
        .collect()
}

/// The jobs that would be served a lock before `id` (`Hints::lock_rank`) and are expected to
/// claim one of the locks `id` is expected to claim (by the remembered history), with those
/// shared locks.
fn rivals<'a>(
    id: usize,
    hints: &'a Hints,
    states: &'a [State],
) -> impl Iterator<Item = (usize, &'a State, Vec<&'a String>)> + 'a {
    let mine = hints.locks_of(id);
    states.iter().enumerate().filter_map(move |(j, state)| {
        if j == id || hints.lock_rank_of(j) <= hints.lock_rank_of(id) {
            return None;
        }
        let shared: Vec<&String> = hints
            .locks_of(j)
            .iter()
            .filter(|l| mine.contains(l))
            .collect();
        (!shared.is_empty()).then_some((j, state, shared))
    })
}

/// Whether job `id` is expected to claim a lock (from an earlier run) and no job still to
/// start that is expected to claim one of the same would be served it first: only then may it
/// take a lock's idle capacity beyond the slots (`Pool::try_start_ahead`). Another job would
/// hold the lock when the one it should serve first comes to need it.
fn heads_its_locks(id: usize, hints: &Hints, states: &[State]) -> bool {
    !hints.locks_of(id).is_empty()
        && !rivals(id, hints, states).any(|(_, state, _)| matches!(state, State::Waiting { .. }))
}

/// Whether job `id`, expected to claim a lock, should wait for a job the lock would serve
/// first (`Hints::lock_rank`) that is expected to claim it and is about to: one that has
/// started but not claimed it yet, one ready and about to start, or one whose needs are all
/// running or done and, by the remembered durations, due to end within `id`'s own remembered
/// time. Started now, `id` would hold the lock when the critical path arrives. The wait is bounded: a job is held back only while the other is due
/// within, and not overdue by more than, `id`'s own time. Returns when to look again; `None`:
/// start as usual.
fn held_back(
    id: usize,
    plan: &Plan,
    options: &Options,
    states: &[State],
    pool: &Pool,
    place: &[usize],
) -> Option<Instant> {
    let hints = pool.hints();
    if hints.locks_of(id).is_empty() {
        return None;
    }
    let own = Duration::from_secs_f64(options.seconds.get(id).copied().flatten()?);
    let now = Instant::now();
    let mut look_again: Option<Instant> = None;
    for (j, state, shared) in rivals(id, hints, states) {
        let due = match state {
            State::Done => None,
            // Ready but not started. Earlier in the start order, it was just tried and could
            // not start; later, it is tried after `id` in this very pass: due now.
            State::Waiting { unmet: 0 } => (place[j] > place[id]).then_some(now),
            State::Waiting { .. } => due_after_needs(j, plan, options, states),
            // Parked on the lock, it is served before `id` would be (by rank).
            State::Running { started, .. } if !pool.is_parked(j) => {
                let claimed = pool.claimed(j);
                (!shared.iter().all(|l| claimed.contains(l))).then_some(*started)
            }
            State::Running { .. } => None,
        };
        let Some(due) = due else { continue };
        let ahead = due.saturating_duration_since(now);
        let overdue = now.saturating_duration_since(due);
        if ahead < own && overdue < own {
            let at = if due > now { due } else { due + own };
            look_again = Some(look_again.map_or(at, |a| a.min(at)));
        }
    }
    look_again
}

/// When job `j`'s last running need is expected to end (in the past when it is late); `None`
/// when one has not started or its duration is unknown.
fn due_after_needs(j: usize, plan: &Plan, options: &Options, states: &[State]) -> Option<Instant> {
    plan.jobs[j]
        .needs
        .iter()
        .try_fold(None, |latest: Option<Instant>, &n| match &states[n] {
            State::Done => Some(latest),
            State::Running { started, .. } => {
                let seconds = options.seconds.get(n).copied().flatten()?;
                let end = *started + Duration::from_secs_f64(seconds);
                Some(Some(latest.map_or(end, |l| l.max(end))))
            }
            State::Waiting { .. } => None,
        })
        .flatten()
}

/// Marks everything downstream of a job that did not pass as blocked by it.
fn block_dependents(
    plan: &Plan,
    dependents: &[Vec<usize>],
    failed: usize,
    states: &mut [State],
    summaries: &mut [Option<JobSummary>],
    bus: &EventBus,
) {
    let mut stack = vec![failed];
    while let Some(id) = stack.pop() {
        for &dep in &dependents[id] {
            if matches!(states[dep], State::Waiting { .. }) {
                states[dep] = State::Done;
                let summary = JobSummary {
                    id: dep,
                    name: plan.jobs[dep].name.clone(),
                    outcome: Outcome::Blocked {
                        by: plan.jobs[id].name.clone(),
                    },
                    duration: Duration::ZERO,
                    attempts: 0,
                    locks: Vec::new(),
                    waited: Duration::ZERO,
                    after_lock: None,
                };
                bus.emit(Event::JobFinished(summary.clone()));
                summaries[dep] = Some(summary);
                stack.push(dep);
            }
        }
    }
}

/// The cache session, if any, and the fingerprints of the jobs a job needs.
type CacheInput = (
    Option<Arc<crate::cache::Session>>,
    Vec<(String, Option<String>)>,
);

/// Runs the job on a worker thread; a job no thread could be started for fails.
fn start_job(
    workers: &Workers<Message>,
    job: PlannedJob,
    pool: Arc<Pool>,
    token: CancelToken,
    runner: Arc<dyn JobRunner>,
    bus: EventBus,
    (cache, needs): CacheInput,
) {
    let id = job.id;
    let work = Box::new(move || {
        resources::enter(pool, job.id);
        let run = || run_with_retries(&job, &token, &*runner, &bus);
        let (outcome, attempts, fingerprint) = match &cache {
            Some(cache) => cache.run_job(&job, &needs, &*runner, &bus, run),
            None => {
                let (outcome, attempts) = run();
                (outcome, attempts, None)
            }
        };
        Message::Done(job.id, outcome, attempts, fingerprint)
    });
    if let Err(e) = workers.run("job", work) {
        let outcome = Outcome::Failed {
            error: format!("could not start a worker thread: {e}"),
        };
        workers.report(Message::Done(id, outcome, 0, None));
    }
}

fn run_with_retries(
    job: &PlannedJob,
    token: &CancelToken,
    runner: &dyn JobRunner,
    bus: &EventBus,
) -> (Outcome, u32) {
    let timed_out = Arc::new(AtomicBool::new(false));
    let _timer = job
        .def
        .timeout
        .map(|limit| start_timer(limit, token.clone(), Arc::clone(&timed_out)));
    let max_attempts = job.def.retries + 1;
    let mut attempt = 1;
    loop {
        let mut outcome = runner.run_job(job, token);
        if timed_out.load(Ordering::SeqCst) {
            let limit = crate::duration::format(job.def.timeout.unwrap_or_default());
            outcome = Outcome::Failed {
                error: format!("job timed out after {limit}"),
            };
            return (outcome, attempt);
        }
        match &outcome {
            Outcome::Failed { error } if attempt < max_attempts && !token.is_cancelled() => {
                bus.emit(Event::JobRetrying {
                    id: job.id,
                    attempt,
                    error: error.clone(),
                });
                attempt += 1;
            }
            _ => return (outcome, attempt),
        }
    }
}

/// Cancels the job's token when its time is up. Dropping the returned sender stops the timer.
fn start_timer(
    limit: Duration,
    token: CancelToken,
    timed_out: Arc<AtomicBool>,
) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            timed_out.store(true, Ordering::SeqCst);
            token.cancel(&format!(
                "timed out after {}",
                crate::duration::format(limit)
            ));
        }
    });
    tx
}
