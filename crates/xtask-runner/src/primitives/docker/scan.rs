//! Optional scanners: `docker::lint(dockerfile)` (hadolint) and `docker::scan(image)` (trivy).
//! Each runs when its tool is on PATH and fails the job on findings; when it is absent the call
//! says so (with where to get it) and returns `#{ ran: false, reason }`, so a pipeline works on
//! machines without them.

use rhai::{FuncRegistration, Map, Module, NativeCallContext};

use super::stream;
use crate::events::Level;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options, result};
use crate::primitives::{at_call_site, Result};

options! {
    /// Options of `docker::scan`.
    pub struct ScanOptions for "docker::scan" {
        /// The severities trivy fails on.
        severity: String = "HIGH,CRITICAL".into() => "\"HIGH,CRITICAL\"",
    }
}
use crate::script::{context, Mode};

pub fn register(module: &mut Module) {
    FuncRegistration::new("lint").set_into_module(module, |ctx: NativeCallContext, file: &str| {
        at_call_site(&ctx, lint(file))
    });
    FuncRegistration::new("scan").set_into_module(module, |ctx: NativeCallContext, image: &str| {
        at_call_site(&ctx, scan(image, Map::new()))
    });
    FuncRegistration::new("scan").set_into_module(
        module,
        |ctx: NativeCallContext, image: &str, options: Map| {
            at_call_site(&ctx, scan(image, options))
        },
    );
}

result! {
    /// What `docker::lint` and `docker::scan` return.
    pub struct ToolResult {
        /// Whether the tool ran (and passed: findings fail the job).
        ran: bool as "bool",
        /// Why it did not run (not installed, or `--list` / `--dry-run`); `()` when it ran.
        reason: Option<String> as "string",
    }
}

fn outcome(ran: bool, reason: Option<String>) -> Map {
    options::to_map(&ToolResult { ran, reason })
}

/// The tool's path as the scope's PATH finds it, or the skip note.
fn tool(name: &str, url: &str, what: &str) -> std::result::Result<String, String> {
    let scope = context::current();
    let path = scope.env_var("PATH").unwrap_or_default();
    let cwd = scope.dir.borrow().clone();
    which::which_in(name, Some(path), cwd)
        .map(|p| p.display().to_string())
        .map_err(|_| format!("{name} is not installed: {what} skipped (get it from {url})"))
}

fn run_tool(
    name: &str,
    url: &str,
    what: &str,
    argv: impl FnOnce(String) -> Vec<String>,
) -> Result<Map> {
    let scope = context::current();
    if scope.host.mode == Mode::Plan {
        return Ok(outcome(false, Some("planning".into())));
    }
    match tool(name, url, what) {
        Ok(program) => {
            stream(&scope, &argv(program), &[]).script()?;
            Ok(outcome(true, None))
        }
        Err(note) => {
            scope.host.bus.message(scope.job, Level::Info, note.clone());
            Ok(outcome(false, Some(note)))
        }
    }
}

fn lint(file: &str) -> Result<Map> {
    let path = context::current().path(file).display().to_string();
    run_tool(
        "hadolint",
        "https://github.com/hadolint/hadolint/releases",
        "Dockerfile lint",
        |program| vec![program, path],
    )
}

fn scan(image: &str, options: Map) -> Result<Map> {
    let severity = options::parse::<ScanOptions>(&options)?.severity;
    let image = image.to_string();
    run_tool(
        "trivy",
        "https://github.com/aquasecurity/trivy/releases",
        "image vulnerability scan",
        |program| {
            vec![
                program,
                "image".into(),
                "--exit-code".into(),
                "1".into(),
                "--no-progress".into(),
                "--severity".into(),
                severity,
                image,
            ]
        },
    )
}
