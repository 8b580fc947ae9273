//! The optional security and freshness tools: cargo-audit, cargo-deny, cargo-outdated. Each
//! needs its tool installed (a clear install line when it is not) and the network for its
//! database; offline, the fetch failure is reported as such, and a timeout keeps it from hanging.

use std::time::Duration;

use rhai::Map;

use super::output::Watch;
use super::{execute, failure, CargoError, Common};
use super::{toolchain, Invocation, Result};
use crate::events::Level;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options, Duration as OptDuration, Strings, Vars};
use crate::script::context;

/// Long enough for a slow fetch of an advisory database, short enough not to hang a pipeline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

cargo_options! {
    AuditOptions for "cargo::audit" {
        /// Uses the local database copy instead of fetching it.
        offline: bool = false,
        /// When the fetch fails (no network), returns `#{ offline: true }` with a warning
        /// instead of failing.
        allow_offline: bool = false,
    }
}

cargo_options! {
    DenyOptions for "cargo::deny" {
        /// Uses the local database copy instead of fetching it.
        offline: bool = false,
        /// When the fetch fails (no network), returns `#{ offline: true }` with a warning
        /// instead of failing.
        allow_offline: bool = false,
        /// Which checks to run (`advisories`, `bans`, `licenses`, `sources`); default all.
        checks: Strings,
    }
}

cargo_options! {
    OutdatedOptions for "cargo::outdated" {
        /// Uses the local registry index instead of fetching it.
        offline: bool = false,
        /// When the fetch fails (no network), returns `#{ offline: true }` with a warning
        /// instead of failing.
        allow_offline: bool = false,
    }
}

/// `cargo audit`; `offline: true` uses the local advisory database copy (`--no-fetch`).
pub fn audit(options: Map) -> Result<Map> {
    let options: AuditOptions = options::parse(&options)?;
    let mut args = vec!["audit"];
    if options.offline {
        args.push("--no-fetch");
    }
    run_tool(
        "cargo-audit",
        &args,
        options.common(),
        options.allow_offline,
    )
}

/// `cargo deny check [checks…]`; `offline: true` skips fetching (`--disable-fetch`).
pub fn deny(options: Map) -> Result<Map> {
    let options: DenyOptions = options::parse(&options)?;
    let mut args = vec!["deny", "check"];
    if options.offline {
        args.push("--disable-fetch");
    }
    args.extend(options.checks.0.iter().map(String::as_str));
    run_tool("cargo-deny", &args, options.common(), options.allow_offline)
}

/// `cargo outdated --exit-code 1 --root-deps-only`: fails when a direct dependency is behind.
pub fn outdated(options: Map) -> Result<Map> {
    let options: OutdatedOptions = options::parse(&options)?;
    let mut args = vec!["outdated", "--exit-code", "1", "--root-deps-only"];
    if options.offline {
        args.push("--offline");
    }
    run_tool(
        "cargo-outdated",
        &args,
        options.common(),
        options.allow_offline,
    )
}

fn run_tool(tool: &str, args: &[&str], common: Common, allow_offline: bool) -> Result<Map> {
    toolchain::require_tool(tool).script()?;
    let mut inv = Invocation::new(args, Watch::Build);
    inv.default_timeout = Some(DEFAULT_TIMEOUT);
    inv.fetches = true;
    let outcome = execute(inv, &common).script()?;
    let fetch_failed = !outcome.success && outcome.parser.fetch_failure.is_some();
    let map = options::to_map(&super::CargoResult {
        offline: Some(fetch_failed),
        ..outcome.result.clone()
    });
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
        return Err(CargoError::Offline {
            tool: tool.into(),
            line: line.into(),
        })
        .script();
    }
    Err(failure(&outcome)).script()
}
