//! The optional security and freshness tools: cargo-audit, cargo-deny, cargo-outdated. Each
//! needs its tool installed (a clear install line when it is not) and the network for its
//! database; offline, the fetch failure is reported as such, and a timeout keeps it from hanging.

use std::time::Duration;

use rhai::{Dynamic, Map};

use super::output::Watch;
use super::{check_keys, common, error, execute, failure_message, known, list, opt_bool};
use super::{toolchain, Invocation, Result};
use crate::events::Level;
use crate::script::context;

/// Long enough for a slow fetch of an advisory database, short enough not to hang a pipeline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

const OPTIONS: &[&str] = &["offline", "allow_offline"];

/// `cargo audit`; `offline: true` uses the local advisory database copy (`--no-fetch`).
pub fn audit(options: Map) -> Result<Map> {
    check_keys("cargo::audit", &options, &known(OPTIONS))?;
    let mut args = vec!["audit"];
    if opt_bool(&options, "offline")?.unwrap_or(false) {
        args.push("--no-fetch");
    }
    run_tool("cargo-audit", &args, &options)
}

/// `cargo deny check [checks…]`; `offline: true` skips fetching (`--disable-fetch`).
pub fn deny(options: Map) -> Result<Map> {
    let keys = known(&[OPTIONS, &["checks"]].concat());
    check_keys("cargo::deny", &options, &keys)?;
    let checks = list(&options, "checks")?;
    let mut args = vec!["deny", "check"];
    if opt_bool(&options, "offline")?.unwrap_or(false) {
        args.push("--disable-fetch");
    }
    args.extend(checks.iter().map(String::as_str));
    run_tool("cargo-deny", &args, &options)
}

/// `cargo outdated --exit-code 1 --root-deps-only`: fails when a direct dependency is behind.
pub fn outdated(options: Map) -> Result<Map> {
    check_keys("cargo::outdated", &options, &known(OPTIONS))?;
    let mut args = vec!["outdated", "--exit-code", "1", "--root-deps-only"];
    if opt_bool(&options, "offline")?.unwrap_or(false) {
        args.push("--offline");
    }
    run_tool("cargo-outdated", &args, &options)
}

fn run_tool(tool: &str, args: &[&str], options: &Map) -> Result<Map> {
    toolchain::require_tool(tool).or_else(error)?;
    let common = common(options)?;
    let allow_offline = opt_bool(options, "allow_offline")?.unwrap_or(false);
    let mut inv = Invocation::new(args, Watch::Build);
    inv.default_timeout = Some(DEFAULT_TIMEOUT);
    inv.fetches = true;
    let outcome = execute(inv, &common)?;
    let mut map = outcome.map.clone();
    let fetch_failed = !outcome.success && outcome.parser.fetch_failure.is_some();
    map.insert("offline".into(), Dynamic::from_bool(fetch_failed));
    if outcome.success || common.allow_fail {
        return Ok(map);
    }
    if let Some(line) = outcome.parser.fetch_failure.as_deref() {
        let text =
            format!("{tool} could not fetch its database (is this machine offline?): {line}");
        if allow_offline {
            let scope = context::current();
            scope.host.bus.message(scope.job, Level::Warn, text);
            return Ok(map);
        }
        return error(format!("{text}; pass `offline: true` to use a local copy"));
    }
    error(failure_message(&outcome))
}
