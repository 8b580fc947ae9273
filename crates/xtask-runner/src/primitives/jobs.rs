//! Declaring jobs (`job`), and what job bodies use about themselves: `skip`, `defer`,
//! `result_of`, `matrix`.

// See script/mod.rs: the call-context store is volatile, not deprecated.
#![allow(deprecated)]

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, Map, NativeCallContext, Position};

use super::{
    call_site, check_keys, display_value, duration_value, error, opt_string, string_list, Result,
};
use crate::graph::{Condition, JobDef, MatrixValue};
use crate::script::context::{self, Deferred};
use crate::script::diagnostic::SkipSignal;
use crate::script::JobBody;

const JOB_OPTIONS: &[&str] = &[
    "needs",
    "matrix",
    "timeout",
    "retries",
    "fail_fast",
    "env",
    "dir",
    "if",
    "when",
    "reason",
    "inputs",
    "outputs",
    "cache",
    "description",
    "cpu",
    "exclusive",
    "resources",
    "confirm",
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
    check_keys("job", options, JOB_OPTIONS)?;
    let store = Arc::new(ctx.store_data());
    let mut def = JobDef {
        name: name.to_string(),
        needs: Vec::new(),
        matrix: Vec::new(),
        timeout: None,
        retries: 0,
        fail_fast: true,
        env: Vec::new(),
        dir: None,
        condition: Condition::Always,
        inputs: Vec::new(),
        outputs: Vec::new(),
        cache: super::opt_bool(options, "cache")?,
        description: opt_string(options, "description")?,
        needs_resources: resource_options(options)?,
        confirm: opt_string(options, "confirm")?,
        body: Arc::new(JobBody {
            closure: body,
            store: Arc::clone(&store),
        }),
        defined_at: call_site(ctx),
    };
    if let Some(needs) = options.get("needs") {
        def.needs = string_list("`needs`", needs)?;
    }
    if let Some(matrix) = options.get("matrix") {
        let Some(axes) = matrix.clone().try_cast::<Map>() else {
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
    if let Some(timeout) = options.get("timeout") {
        def.timeout = Some(duration_value("`timeout`", timeout)?);
    }
    if let Some(retries) = options.get("retries") {
        def.retries = match retries.as_int() {
            Ok(n) if (0..=100).contains(&n) => n as u32,
            _ => return error("`retries` must be a whole number from 0 to 100"),
        };
    }
    if let Some(fail_fast) = options.get("fail_fast") {
        def.fail_fast = match fail_fast.as_bool() {
            Ok(go) => go,
            Err(_) => return error("`fail_fast` must be true or false"),
        };
    }
    if let Some(env) = options.get("env") {
        let Some(env) = env.clone().try_cast::<Map>() else {
            return error("`env` must be a map, e.g. #{ RUST_LOG: \"debug\" }");
        };
        def.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), crate::primitives::display_value(v)))
            .collect();
    }
    def.dir = opt_string(options, "dir")?.map(Into::into);
    if let Some(inputs) = options.get("inputs") {
        def.inputs = string_list("`inputs`", inputs)?;
    }
    if let Some(outputs) = options.get("outputs") {
        def.outputs = string_list("`outputs`", outputs)?;
    }
    let reason = opt_string(options, "reason")?;
    // `if` is a Rhai keyword, so a map literal needs it quoted (`"if": …`); `when` is the same.
    if let Some(condition) = options.get("if").or_else(|| options.get("when")) {
        def.condition = if let Ok(go) = condition.as_bool() {
            if go {
                Condition::Always
            } else {
                Condition::Never {
                    reason: reason.unwrap_or_else(|| "`if` condition is false".into()),
                }
            }
        } else if let Some(check) = condition.clone().try_cast::<FnPtr>() {
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
fn resource_options(options: &Map) -> Result<crate::resources::Needs> {
    let mut needs = crate::resources::Needs::default();
    if let Some(cpu) = options.get("cpu") {
        needs.cpu = match cpu.as_float().or_else(|_| cpu.as_int().map(|n| n as f64)) {
            Ok(n) if (0.0..=1024.0).contains(&n) => n,
            _ => return error("`cpu` must be a number of CPUs from 0 to 1024, e.g. 1 or 0.5"),
        };
    }
    if let Some(exclusive) = options.get("exclusive") {
        needs.exclusive = exclusive
            .as_bool()
            .or_else(|_| error("`exclusive` must be true or false"))?;
    }
    if let Some(resources) = options.get("resources") {
        needs.locks = string_list("`resources`", resources)?
            .into_iter()
            .map(|name| format!("resource `{name}`"))
            .collect();
    }
    Ok(needs)
}
