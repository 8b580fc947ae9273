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

use rhai::{Dynamic, Engine, EvalAltResult, Position};

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
