//! Declaring jobs (`job`), and what job bodies use about themselves: `skip`, `defer`,
//! `result_of`, `matrix`.

// See script/mod.rs: the call-context store is volatile, not deprecated.
#![allow(deprecated)]

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position};

use super::options::{self, options, Axes, Condition as When, Duration, Number, Strings, Vars};
use super::reference::plain;
use super::{call_site, display_value, error, Result};
use crate::graph::{Condition, JobDef, MatrixValue};
use crate::script::context::{self, Deferred};
use crate::script::diagnostic::SkipSignal;
use crate::script::JobBody;

options! {
    /// Options of `job`.
    pub struct JobOptions for "job" {
        /// Jobs that must pass (or be skipped) first. A matrix job's name means all its
        /// combinations, `"build (variant=debug)"` only those with that value, and
        /// `"build (variant={variant})"` the combination with the needing job's own value.
        needs: Strings,
        /// `#{ version: [13, 14], os: ["linux"] }`: one job per combination, named
        /// `pg (os=linux, version=13)`; the closure gets the combination as its parameter (or
        /// via `matrix()`).
        matrix: Axes,
        /// `"90s"`, `"10m"`, `"1h30m"` or seconds; the job fails when it runs longer.
        timeout: Option<Duration>,
        /// Runs a failing job again, up to this many times (0 to 100).
        retries: i64 = 0,
        /// For a matrix job, `false` lets the other combinations start and run to their end
        /// when one fails (Actions' `strategy.fail-fast`); the rest of the run still stops.
        fail_fast: bool = true,
        /// `#{ RUST_LOG: "debug" }` for every command in the job.
        env: Vars,
        /// Working directory of the job, relative to the project root.
        dir: Option<String>,
        /// `false` skips the job (`reason` says why); a closure decides when the job is about
        /// to start. `if` is a Rhai keyword, so `"if"` (quoted) is the other spelling.
        #[alias = "if"]
        when: When,
        /// Why the job is skipped when `when` is false, shown in the summary.
        reason: Option<String>,
        /// Globs (relative to the job's `dir`) of files the job reads, and `env:NAME` for a
        /// variable it reads: part of its fingerprint for the up-to-date check.
        inputs: Strings,
        /// Globs of files the job writes: part of its fingerprint, checked after it ran.
        outputs: Strings,
        /// `false`: never skip the job as up to date; `true`: allow it even when the job has
        /// effects outside the tree (a push, a request to another host).
        cache: Option<bool>,
        /// Shown by `--list <task>`.
        description: Option<String>,
        /// CPUs the job keeps busy (0 to 1024; unset: 0, it mostly waits); jobs start while
        /// their weights fit the machine's CPUs.
        cpu: Option<Number>,
        /// `true`: the job runs with nothing else (it waits for running jobs to end, and
        /// nothing starts beside it), for benchmarks.
        exclusive: bool = false,
        /// `["db", "port-8080"]`: named locks the job holds while it runs; jobs sharing a name
        /// never run at once.
        resources: Strings,
        /// `"DEPLOY TO PRODUCTION"`: the job runs only once the operator gave this phrase;
        /// `--dry-run` shows it in the plan.
        confirm: Option<String>,
    }
}

pub(crate) const FUNCTIONS: &[super::reference::Function] = &[
    super::reference::Function {
        name: "job",
        params: &["name: string", "options: map", "body: Fn"],
        summary:
            "Declares a job: the body runs later, on a worker thread, once its `needs` have passed.",
        options: &[<JobOptions as options::Options>::FIELDS],
        result: &[],
    },
    plain("skip", &["reason: string"], "Ends the job as skipped (not failed), giving the reason."),
    plain("defer", &["body: Fn"], "Registers cleanup that runs when the job ends, whether it passed, failed or was cancelled; the last registered runs first."),
    plain("result_of", &["job: string"], "What a job listed in `needs` returned; an error when it has not finished or did not pass."),
    plain("matrix", &[], "This job's matrix values (`#{ os: \"linux\" }`); empty outside a matrix job."),
    plain("job_name", &[], "The running job's name."),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("job", |ctx: NativeCallContext, name: &str, body: FnPtr| {
        declare(&ctx, name, &Map::new(), body)
    });
    engine.register_fn(
        "job",
        |ctx: NativeCallContext, name: &str, options: Map, body: FnPtr| {
            declare(&ctx, name, &options, body)
        },
    );
    engine.register_fn("skip", |reason: &str| -> Result<()> {
        Err(Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(SkipSignal(reason.to_string())),
            Position::NONE,
        )))
    });
    engine.register_fn("defer", |ctx: NativeCallContext, closure: FnPtr| {
        let scope = context::current();
        scope.defers.borrow_mut().push(Deferred {
            closure,
            store: Arc::new(ctx.store_data()),
        });
    });
    engine.register_fn("result_of", |name: &str| -> Result<Dynamic> {
        let scope = context::current();
        let results = scope.host.results.lock().unwrap();
        match results.get(name) {
            Some(value) => Ok(value.clone()),
            None => error(format!(
                "no result for job `{name}`: it has not finished (list it in this job's `needs`) or it did not pass"
            )),
        }
    });
    engine.register_fn("matrix", || -> Map { context::current().matrix.clone() });
    engine.register_fn("job_name", || -> String { context::current().name.clone() });
}

/// Gives a closure its own copy of every variable it captures, as the values are now. Rhai
/// shares a captured variable with the scope it came from, so jobs declared in a loop would all
/// see the loop variable's last value; a job sees what was there when it was declared.
pub fn snapshot_captures(mut closure: FnPtr) -> FnPtr {
    for value in closure.iter_curry_mut() {
        if value.is_shared() {
            *value = value.flatten_clone();
        }
    }
    closure
}

fn declare(ctx: &NativeCallContext, name: &str, options: &Map, body: FnPtr) -> Result<()> {
    let body = snapshot_captures(body);
    let scope = context::current();
    if !scope.is_top_level() {
        return error("`job` declares jobs; call it from the script's top level, not inside a job");
    }
    if name.trim().is_empty() {
        return error("a job needs a name");
    }
    let options = options::parse::<JobOptions>(options)?;
    let store = Arc::new(ctx.store_data());
    if !(0..=100).contains(&options.retries) {
        return error("`retries` must be a whole number from 0 to 100");
    }
    let mut def = JobDef {
        name: name.to_string(),
        needs: options.needs.0,
        matrix: Vec::new(),
        timeout: options.timeout.map(|t| t.0),
        retries: options.retries as u32,
        fail_fast: options.fail_fast,
        env: options
            .env
            .0
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        dir: options.dir.map(Into::into),
        condition: Condition::Always,
        inputs: options.inputs.0,
        outputs: options.outputs.0,
        cache: options.cache,
        description: options.description,
        needs_resources: resources(options.cpu, options.exclusive, options.resources)?,
        confirm: options.confirm,
        body: Arc::new(JobBody {
            closure: body,
            store: Arc::clone(&store),
        }),
        defined_at: call_site(ctx),
    };
    if !options.matrix.0.is_unit() {
        let Some(axes) = options.matrix.0.try_cast::<Map>() else {
            return error("`matrix` must be a map of arrays, e.g. #{ version: [13, 14] }");
        };
        for (key, values) in axes {
            let Some(values) = values.try_cast::<rhai::Array>() else {
                return error(format!("matrix axis `{key}` must be an array of values"));
            };
            if values.is_empty() {
                return error(format!("matrix axis `{key}` has no values"));
            }
            let values = values
                .into_iter()
                .map(|v| MatrixValue::new(display_value(&v), v))
                .collect();
            def.matrix.push((key.to_string(), values));
        }
    }
    let reason = options.reason;
    let condition = options.when.0;
    if !condition.is_unit() {
        def.condition = if let Ok(go) = condition.as_bool() {
            if go {
                Condition::Always
            } else {
                Condition::Never {
                    reason: reason.unwrap_or_else(|| "`if` condition is false".into()),
                }
            }
        } else if let Some(check) = condition.try_cast::<FnPtr>() {
            let check = snapshot_captures(check);
            Condition::Check {
                body: Arc::new(JobBody {
                    closure: check,
                    store,
                }),
                reason,
            }
        } else {
            return error("`if` must be true, false or a closure returning one of them");
        };
    }
    scope.host.jobs.lock().unwrap().push(def);
    Ok(())
}

/// `cpu: 2` (CPUs the job keeps busy; default 0: it mostly waits), `exclusive: true` (runs with
/// nothing else), `resources: ["db"]` (named locks, one holder at a time).
fn resources(
    cpu: Option<Number>,
    exclusive: bool,
    locks: Strings,
) -> Result<crate::resources::Needs> {
    let mut needs = crate::resources::Needs {
        exclusive,
        ..Default::default()
    };
    if let Some(Number(cpu)) = cpu {
        if !(0.0..=1024.0).contains(&cpu) {
            return error("`cpu` must be a number of CPUs from 0 to 1024, e.g. 1 or 0.5");
        }
        needs.cpu = cpu;
    }
    needs.locks = locks
        .0
        .into_iter()
        .map(|name| format!("resource `{name}`"))
        .collect();
    Ok(needs)
}
