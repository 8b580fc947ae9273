//! `http::load` and `http::canary`: canary analysis rehearsed on one machine. `load` sends
//! requests to a loopback service from `concurrency` threads (one keep-alive connection pool
//! each) until `requests` were sent or `duration` passed, and returns the error rate and latency
//! percentiles; `canary` compares a candidate's figures with the baseline's by OmniHub's rule
//! (roll back when the error rate exceeds 2× the baseline's or p95 latency 1.5×).
//!
//! Loopback only: this is a rehearsal tool, never a way to load someone else's server.

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhai::{Dynamic, FuncRegistration, Map, Module, NativeCallContext};

use super::error::IntoScript as _;
use super::http::{Headers, Text};
use super::options::Options as _;
use super::options::{self, options, result, Duration as OptDuration, Fields as _, Number};
use super::reference::Function;
use super::{at_call_site, Result};
use crate::events::Level;
use crate::script::{context, Mode};

options! {
    /// Options of `http::load`.
    pub struct LoadOptions for "http::load" {
        /// Requests to send (positive; with `duration` alone, as many as fit).
        requests: Option<i64> = None => "200",
        /// Threads sending, each with its own keep-alive connection (positive, at most 256).
        concurrency: i64 = DEFAULT_CONCURRENCY as i64 => "4",
        /// Stops sending after this long.
        duration: Option<OptDuration>,
        /// The method.
        method: String = "GET".into() => "\"GET\"",
        /// Gives up on one request after this long.
        timeout: OptDuration = OptDuration(Duration::from_secs(10)) => "\"10s\"",
        /// Request headers, e.g. `#{ "x-token": "…" }`.
        headers: Headers,
        /// The body of every request, as text.
        body: Option<Text>,
    }
}

options! {
    /// Options of `http::canary`.
    pub struct CanaryOptions for "http::canary" {
        /// Fails when the candidate's error rate exceeds this many times the baseline's.
        max_error_ratio: Number = Number(2.0) => "2.0",
        /// Fails when the candidate's p95 latency exceeds this many times the baseline's.
        max_p95_ratio: Number = Number(1.5) => "1.5",
        /// The baseline's error rate counts as at least this (one error against a clean
        /// baseline is not "infinitely worse").
        min_error_rate: Number = Number(0.01) => "0.01",
    }
}

pub(crate) const FUNCTIONS: &[Function] = &[
    Function {
        name: "http::load",
        params: &["url: string", "options: map"],
        summary: "Load from threads against a loopback service (or several URLs at once, returning an array of results), latencies in ms.",
        options: &[LoadOptions::FIELDS],
        result: LoadResult::FIELDS,
    },
    Function {
        name: "http::canary",
        params: &["baseline: map", "candidate: map", "options: map"],
        summary: "Compares two `http::load` results: fails when the candidate's error rate or p95 is over its limit, naming both figures and the limit.",
        options: &[CanaryOptions::FIELDS],
        result: CanaryResult::FIELDS,
    },
];
const DEFAULT_REQUESTS: u64 = 200;
const DEFAULT_CONCURRENCY: u64 = 4;

/// Registers into the `http` module (one static module per namespace).
pub fn register_into(http: &mut Module) {
    FuncRegistration::new("load").set_into_module(http, |ctx: NativeCallContext, url: &str| {
        at_call_site(&ctx, load(url, &Map::new()))
    });
    FuncRegistration::new("load")
        .set_into_module(http, |ctx: NativeCallContext, url: &str, options: Map| {
            at_call_site(&ctx, load(url, &options))
        });
    FuncRegistration::new("load").set_into_module(
        http,
        |ctx: NativeCallContext, urls: rhai::Array, options: Map| {
            at_call_site(&ctx, load_side_by_side(&urls, &options))
        },
    );
    FuncRegistration::new("canary").set_into_module(
        http,
        |ctx: NativeCallContext, baseline: Map, candidate: Map| {
            at_call_site(&ctx, canary(&baseline, &candidate, &Map::new()))
        },
    );
    FuncRegistration::new("canary").set_into_module(
        http,
        |ctx: NativeCallContext, baseline: Map, candidate: Map, options: Map| {
            at_call_site(&ctx, canary(&baseline, &candidate, &options))
        },
    );
}

/// What goes wrong in `http::load` and `http::canary`, worded as scripts see it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("option `{key}` must be a positive whole number")]
    NotPositive { key: &'static str },
    #[error("http::load: `{url}` is not an http:// URL")]
    NotHttp { url: String },
    #[error("http::load: cannot resolve `{authority}`: {source}")]
    Unresolved {
        authority: String,
        source: std::io::Error,
    },
    #[error(
        "http::load only loads loopback services (127.0.0.1, ::1, localhost); `{authority}` is not one"
    )]
    NotLoopback { authority: String },
    #[error("http::load: give at least one URL")]
    NoUrl,
    #[error("http::load stopped: {reason}")]
    Stopped { reason: String },
    /// `what` is `baseline` or `candidate`; `got` the type of what was there.
    #[error("{what}.{key} must be a number, not {got}")]
    NotANumber {
        what: &'static str,
        key: &'static str,
        got: String,
    },
    #[error("{what} has no `{key}`: pass what http::load returned")]
    Missing {
        what: &'static str,
        key: &'static str,
    },
    /// The checks the candidate failed.
    #[error(
        "canary rejected, roll back: {}",
        failed.iter().map(Check::describe).collect::<Vec<_>>().join("; ")
    )]
    Rejected { failed: Vec<Check> },
}

fn positive(key: &'static str, n: i64) -> std::result::Result<u64, LoadError> {
    match n {
        n if n > 0 => Ok(n as u64),
        _ => Err(LoadError::NotPositive { key }),
    }
}

/// The URL's host must be a loopback address.
fn check_loopback(url: &str) -> std::result::Result<(), LoadError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(LoadError::NotHttp { url: url.into() });
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<_> = match with_port.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(source) => {
            return Err(LoadError::Unresolved {
                authority: authority.into(),
                source,
            })
        }
    };
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(LoadError::NotLoopback {
            authority: authority.into(),
        });
    }
    Ok(())
}

/// What the threads gather.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: std::collections::BTreeMap<String, i64>,
    errors: u64,
    first_error: Option<String>,
}

/// How to load a target, from the options.
#[derive(Clone)]
struct Settings {
    requests: u64,
    concurrency: u64,
    duration: Option<Duration>,
    timeout: Duration,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn settings(options: &Map) -> Result<Settings> {
    let options: LoadOptions = options::parse(options)?;
    let requests = match options.requests {
        Some(n) => positive("requests", n).script()?,
        None if options.duration.is_some() => u64::MAX,
        None => DEFAULT_REQUESTS,
    };
    Ok(Settings {
        requests,
        concurrency: positive("concurrency", options.concurrency)
            .script()?
            .min(256),
        duration: options.duration.map(|d| d.0),
        timeout: options.timeout.0,
        method: options.method.to_ascii_uppercase(),
        headers: options.headers.0,
        body: options.body.map(|b| b.0.into_bytes()),
    })
}

fn load(url: &str, options: &Map) -> Result<Map> {
    let settings = settings(options)?;
    check_loopback(url).script()?;
    let mut results = run_targets(&[url.to_string()], &settings)?;
    Ok(results.remove(0))
}

/// Several targets loaded at the same time, each with its own `concurrency` threads: a
/// baseline and a candidate side by side see the same machine (the same neighbours, the same
/// CPU contention), so their figures compare.
fn load_side_by_side(urls: &rhai::Array, options: &Map) -> Result<rhai::Array> {
    let settings = settings(options)?;
    let urls: Vec<String> = urls.iter().map(crate::primitives::display_value).collect();
    if urls.is_empty() {
        return Err(LoadError::NoUrl).script();
    }
    for url in &urls {
        check_loopback(url).script()?;
    }
    Ok(run_targets(&urls, &settings)?
        .into_iter()
        .map(Dynamic::from_map)
        .collect())
}

fn run_targets(urls: &[String], settings: &Settings) -> Result<Vec<Map>> {
    let scope = context::current();
    if scope.host.mode == Mode::Plan {
        return Ok(urls
            .iter()
            .map(|_| options::to_map(&summary(&Tally::default(), Duration::ZERO)))
            .collect());
    }
    let token = scope.token();
    let started = Instant::now();
    let deadline = settings.duration.map(|d| started + d);
    let mut targets = Vec::new();
    for url in urls {
        let sent = Arc::new(AtomicU64::new(0));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let workers: Vec<_> = (0..settings.concurrency)
            .map(|_| {
                let (sent, tally, token) = (Arc::clone(&sent), Arc::clone(&tally), token.clone());
                let (url, settings) = (url.clone(), settings.clone());
                std::thread::spawn(move || worker(&url, &settings, deadline, &sent, &tally, &token))
            })
            .collect();
        targets.push((url, tally, workers));
    }
    let mut results = Vec::new();
    for (url, tally, workers) in targets {
        for worker in workers {
            let _ = worker.join();
        }
        let elapsed = started.elapsed();
        let tally = Arc::try_unwrap(tally)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default();
        let result = summary(&tally, elapsed);
        scope.host.bus.message(
            scope.job,
            Level::Info,
            format!(
                "http::load {url}: {} requests in {:.1}s, {} errors ({:.2}%), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{}",
                result.count,
                elapsed.as_secs_f64(),
                result.errors,
                result.error_rate * 100.0,
                result.p50,
                result.p95,
                result.p99,
                tally
                    .first_error
                    .as_ref()
                    .map(|e| format!("; first transport error: {e}"))
                    .unwrap_or_default()
            ),
        );
        results.push(options::to_map(&result));
    }
    if let Some(reason) = token.reason() {
        return Err(LoadError::Stopped { reason }).script();
    }
    Ok(results)
}

/// One loading thread: its own connection pool, requests until the count or the deadline.
fn worker(
    url: &str,
    settings: &Settings,
    deadline: Option<Instant>,
    sent: &AtomicU64,
    tally: &Mutex<Tally>,
    token: &crate::cancel::CancelToken,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .timeout_global(Some(settings.timeout))
        .build()
        .into();
    let mut local = Tally::default();
    loop {
        if token.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if sent.fetch_add(1, Ordering::Relaxed) >= settings.requests {
            break;
        }
        let at = Instant::now();
        let outcome = send(
            &agent,
            &settings.method,
            url,
            &settings.headers,
            settings.body.as_deref(),
        );
        local.latencies.push(at.elapsed());
        match outcome {
            Ok(status) => {
                *local.statuses.entry(status.to_string()).or_default() += 1;
                if status >= 500 {
                    local.errors += 1;
                }
            }
            Err(e) => {
                *local.statuses.entry("error".into()).or_default() += 1;
                local.errors += 1;
                local.first_error.get_or_insert(e);
            }
        }
    }
    let mut all = tally.lock().unwrap();
    all.latencies.append(&mut local.latencies);
    all.errors += local.errors;
    for (k, v) in local.statuses {
        *all.statuses.entry(k).or_default() += v;
    }
    if all.first_error.is_none() {
        all.first_error = local.first_error;
    }
}

fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> std::result::Result<u16, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let response = match body {
        Some(body) => builder
            .body(body.to_vec())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| e.to_string())),
        None => builder
            .body(())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| e.to_string())),
    };
    let mut response = response?;
    // Read the body so the connection can be reused.
    let _ = response.body_mut().read_to_vec();
    Ok(response.status().as_u16())
}

/// Nearest-rank percentile of sorted values, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

result! {
    /// What `http::load` returns (per URL); latencies in milliseconds.
    pub struct LoadResult {
        /// Requests answered or failed.
        count: i64 as "int",
        /// Requests that failed: transport errors and 5xx answers.
        errors: i64 as "int",
        /// `errors / count`; 0 without requests.
        error_rate: f64 as "float",
        /// Median latency.
        p50: f64 as "float",
        /// 95th percentile latency.
        p95: f64 as "float",
        /// 99th percentile latency.
        p99: f64 as "float",
        /// The slowest request.
        max: f64 as "float",
        /// How long the load ran.
        seconds: f64 as "float",
        /// Requests per second.
        rps: f64 as "float",
        /// Answers by status code (`"200"`), transport errors as `"error"`.
        statuses: std::collections::BTreeMap<String, i64> as "map of ints",
    }
}

fn summary(tally: &Tally, elapsed: Duration) -> LoadResult {
    let mut sorted = tally.latencies.clone();
    sorted.sort_unstable();
    let count = sorted.len() as u64;
    LoadResult {
        count: count as i64,
        errors: tally.errors as i64,
        error_rate: if count == 0 {
            0.0
        } else {
            tally.errors as f64 / count as f64
        },
        p50: percentile(&sorted, 50.0),
        p95: percentile(&sorted, 95.0),
        p99: percentile(&sorted, 99.0),
        max: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        seconds: elapsed.as_secs_f64(),
        rps: if elapsed.is_zero() {
            0.0
        } else {
            count as f64 / elapsed.as_secs_f64()
        },
        statuses: tally.statuses.clone(),
    }
}

fn number(map: &Map, what: &'static str, key: &'static str) -> std::result::Result<f64, LoadError> {
    match map.get(key) {
        Some(v) => v
            .as_float()
            .or_else(|_| v.as_int().map(|i| i as f64))
            .map_err(|t| LoadError::NotANumber {
                what,
                key,
                got: t.to_string(),
            }),
        None => Err(LoadError::Missing { what, key }),
    }
}

/// The verdict of one figure: candidate against `ratio` times the baseline.
#[derive(Clone, Debug)]
pub struct Check {
    pub figure: &'static str,
    pub baseline: f64,
    pub candidate: f64,
    pub limit: f64,
}

impl Check {
    /// `error rate: candidate 3.00% vs baseline 1.00% (limit 2.00%)`.
    pub fn describe(&self) -> String {
        match self.figure {
            "error rate" => format!(
                "error rate: candidate {:.2}% vs baseline {:.2}% (limit {:.2}%)",
                self.candidate * 100.0,
                self.baseline * 100.0,
                self.limit * 100.0
            ),
            _ => format!(
                "p95 latency: candidate {:.1} ms vs baseline {:.1} ms (limit {:.1} ms)",
                self.candidate, self.baseline, self.limit
            ),
        }
    }
}

/// OmniHub's rule. An error-rate baseline of zero would make any candidate error a failure
/// of "infinitely many times": `min_error_rate` (default 1 %) is the floor the ratio applies to.
pub fn canary_checks(
    baseline: (f64, f64),
    candidate: (f64, f64),
    max_error_ratio: f64,
    max_p95_ratio: f64,
    min_error_rate: f64,
) -> Vec<Check> {
    vec![
        Check {
            figure: "error rate",
            baseline: baseline.0,
            candidate: candidate.0,
            limit: baseline.0.max(min_error_rate) * max_error_ratio,
        },
        Check {
            figure: "p95 latency",
            baseline: baseline.1,
            candidate: candidate.1,
            limit: baseline.1 * max_p95_ratio,
        },
    ]
}

fn canary(baseline: &Map, candidate: &Map, options: &Map) -> Result<Map> {
    let options: CanaryOptions = options::parse(options)?;
    let max_error_ratio = options.max_error_ratio.0;
    let max_p95_ratio = options.max_p95_ratio.0;
    let min_error_rate = options.min_error_rate.0;
    let base = (
        number(baseline, "baseline", "error_rate").script()?,
        number(baseline, "baseline", "p95").script()?,
    );
    let cand = (
        number(candidate, "candidate", "error_rate").script()?,
        number(candidate, "candidate", "p95").script()?,
    );
    let checks = canary_checks(base, cand, max_error_ratio, max_p95_ratio, min_error_rate);
    let scope = context::current();
    for c in &checks {
        scope.host.bus.message(scope.job, Level::Info, c.describe());
    }
    let failed: Vec<Check> = checks
        .into_iter()
        .filter(|c| c.candidate > c.limit)
        .collect();
    if !failed.is_empty() && scope.host.mode != Mode::Plan {
        return Err(LoadError::Rejected { failed }).script();
    }
    Ok(options::to_map(&CanaryResult {
        passed: true,
        error_rate: cand.0,
        p95: cand.1,
    }))
}

result! {
    /// What `http::canary` returns when the candidate passes (it fails the job otherwise).
    pub struct CanaryResult {
        /// Always true: a rejected candidate fails the job.
        passed: bool as "bool",
        /// The candidate's error rate.
        error_rate: f64 as "float",
        /// The candidate's p95 latency, in ms.
        p95: f64 as "float",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), 50.0);
        assert_eq!(percentile(&ms, 95.0), 95.0);
        assert_eq!(percentile(&ms, 99.0), 99.0);
        assert_eq!(percentile(&[], 95.0), 0.0);
    }

    #[test]
    fn omnihub_thresholds() {
        let over = |c: Vec<Check>| -> Vec<&str> {
            c.iter()
                .filter(|c| c.candidate > c.limit)
                .map(|c| c.figure)
                .collect()
        };
        // 3x the errors fails; equal passes; 1.6x the p95 fails.
        assert_eq!(
            over(canary_checks((0.05, 10.0), (0.15, 10.0), 2.0, 1.5, 0.01)),
            ["error rate"]
        );
        assert!(over(canary_checks((0.05, 10.0), (0.05, 10.0), 2.0, 1.5, 0.01)).is_empty());
        assert_eq!(
            over(canary_checks((0.0, 10.0), (0.0, 16.0), 2.0, 1.5, 0.01)),
            ["p95 latency"]
        );
        // No baseline errors: the floor keeps a 1 % candidate from failing on a 0 % baseline.
        assert!(over(canary_checks((0.0, 10.0), (0.01, 10.0), 2.0, 1.5, 0.01)).is_empty());
    }

    #[test]
    fn only_loopback_targets() {
        assert!(check_loopback("http://127.0.0.1:8080/x").is_ok());
        assert!(check_loopback("http://localhost:8080").is_ok());
        assert!(check_loopback("http://[::1]:8080/").is_ok());
        assert!(matches!(
            check_loopback("http://10.1.2.3:80/"),
            Err(LoadError::NotLoopback { authority }) if authority == "10.1.2.3:80"
        ));
        assert!(matches!(
            check_loopback("https://127.0.0.1/"),
            Err(LoadError::NotHttp { .. })
        ));
    }

    #[test]
    fn a_rejected_canary_names_each_failed_figure_and_its_limit() {
        let failed: Vec<Check> = canary_checks((0.01, 10.0), (0.05, 20.0), 2.0, 1.5, 0.01);
        let err = LoadError::Rejected { failed };
        assert_eq!(
            err.to_string(),
            "canary rejected, roll back: error rate: candidate 5.00% vs baseline 1.00% (limit \
             2.00%); p95 latency: candidate 20.0 ms vs baseline 10.0 ms (limit 15.0 ms)"
        );
        let mut result = Map::new();
        result.insert("p95".into(), "fast".into());
        assert!(matches!(
            number(&result, "candidate", "p95"),
            Err(LoadError::NotANumber { key: "p95", .. })
        ));
        assert!(matches!(
            number(&result, "candidate", "error_rate"),
            Err(LoadError::Missing { .. })
        ));
    }
}
