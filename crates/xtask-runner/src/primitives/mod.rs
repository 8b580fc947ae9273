//! Functions scripts can call. One module per family, each with one `register` entry point.
//! Core names (`job`, `run`, `sh`, file and env helpers) live in the global namespace; the
//! families added later register under their own (`cargo::`, `pg::`, `docker::`, `http::`, …).

// Always there: jobs, commands, files, environment, messages.
pub mod build_dir;
pub mod env;
pub mod error;
pub mod fs;
pub mod implied;
pub mod jobs;
#[cfg(feature = "http")]
pub mod load;
pub mod log;
pub mod options;
pub mod process;
pub mod reference;
// A gate for operators; job option `confirm:` and `confirm()`.
pub mod confirm;
pub mod version;
pub mod wait;

// The families, each behind the cargo feature of its name (all on by default).
#[cfg(feature = "http")]
pub mod assert;
#[cfg(feature = "cargo")]
pub mod cargo;
#[cfg(feature = "docker")]
pub mod docker;
#[cfg(feature = "release")]
pub mod git;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "node")]
pub mod npm;
#[cfg(feature = "perf")]
pub mod perf;
#[cfg(feature = "pg")]
pub mod pg;
#[cfg(feature = "release")]
pub mod release;
#[cfg(feature = "scan")]
pub mod scan;
#[cfg(feature = "http")]
pub mod service;

use rhai::{Dynamic, Engine, EvalAltResult, Map, Position};

pub fn register_all(engine: &mut Engine) {
    jobs::register(engine);
    process::register(engine);
    fs::register(engine);
    env::register(engine);
    log::register(engine);
    version::register(engine);
    #[cfg(feature = "http")]
    {
        http::register(engine);
        service::register(engine);
        assert::register(engine);
    }
    #[cfg(feature = "release")]
    {
        git::register(engine);
        release::register(engine);
    }
    #[cfg(feature = "docker")]
    docker::register(engine);
    #[cfg(feature = "cargo")]
    cargo::register(engine);
    #[cfg(feature = "pg")]
    pg::register(engine);
    #[cfg(feature = "perf")]
    perf::register(engine);
    #[cfg(feature = "node")]
    npm::register(engine);
    confirm::register(engine);
    #[cfg(feature = "scan")]
    scan::register(engine);
}

pub type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// A script value as text: strings as they are (no quotes), everything else as Rhai prints it.
pub fn display_value(value: &Dynamic) -> String {
    if value.is_string() {
        value.clone().into_string().unwrap_or_default()
    } else {
        value.to_string()
    }
}

/// JSON as a script value (objects become maps).
pub fn json_to_dynamic(value: &serde_json::Value) -> std::result::Result<Dynamic, String> {
    rhai::serde::to_dynamic(value).map_err(|e| e.to_string())
}

/// A script value as JSON (job results stored for the up-to-date check, HTTP bodies).
pub fn dynamic_to_json(value: &Dynamic) -> std::result::Result<serde_json::Value, String> {
    rhai::serde::from_dynamic::<serde_json::Value>(value)
        .map_err(|_| format!("a {} cannot be written as JSON", value.type_name()))
}

/// A runtime error carrying a plain message; Rhai adds the call site's position.
pub fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    )))
}

/// Rejects option keys a function does not know, suggesting the one probably meant.
pub fn check_keys(what: &str, options: &Map, known: &[&str]) -> Result<()> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            return error(format!(
                "unknown {what} option `{key}`{} (known: {})",
                crate::suggest::did_you_mean(key, known.iter().copied()),
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// A string option, or an error naming the option and what it got.
pub fn opt_string(options: &Map, key: &str) -> Result<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => error(format!(
            "option `{key}` must be a string, not {}",
            v.type_name()
        )),
    }
}

pub fn opt_bool(options: &Map, key: &str) -> Result<Option<bool>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) => match v.as_bool() {
            Ok(b) => Ok(Some(b)),
            Err(t) => error(format!("option `{key}` must be true or false, not {t}")),
        },
    }
}

/// A list of strings given as an array (or a single string).
pub fn string_list(what: &str, value: &Dynamic) -> Result<Vec<String>> {
    if value.is_string() {
        return Ok(vec![value.to_string()]);
    }
    match value.clone().try_cast::<rhai::Array>() {
        Some(items) => Ok(items.iter().map(crate::primitives::display_value).collect()),
        None => error(format!(
            "{what} must be an array of strings, not {}",
            value.type_name()
        )),
    }
}

/// A duration given as "90s" / "10m" or a number of seconds.
pub fn duration_value(what: &str, value: &Dynamic) -> Result<std::time::Duration> {
    if let Ok(secs) = value.as_int() {
        return Ok(std::time::Duration::from_secs(secs.max(0) as u64));
    }
    if let Ok(secs) = value.as_float() {
        return Ok(std::time::Duration::from_secs_f64(secs.max(0.0)));
    }
    if value.is_string() {
        return crate::duration::parse(&value.to_string())
            .or_else(|e| error(format!("{what}: {e}")));
    }
    error(format!(
        "{what} must be a duration like \"90s\" or \"10m\", not {}",
        value.type_name()
    ))
}

/// `file:line:col` of the calling script code.
pub fn call_site(ctx: &rhai::NativeCallContext) -> String {
    let pos = ctx.call_position();
    let file = ctx
        .call_source()
        .map(str::to_string)
        .unwrap_or_else(|| "<script>".into());
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{file}:{line}:{col}"),
        _ => file,
    }
}

/// Gives an error from a namespaced function (`http::get`) the call site's position: Rhai fills
/// it in for global functions but not for qualified calls, and without it the diagnostic cannot
/// point at the script line.
pub fn at_call_site<T>(ctx: &rhai::NativeCallContext, result: Result<T>) -> Result<T> {
    result.map_err(|mut err| {
        if err.position().is_none() {
            err.set_position(ctx.call_position());
        }
        err
    })
}
