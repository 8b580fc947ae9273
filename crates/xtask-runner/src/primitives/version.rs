//! `require_xtask(requirement)` and `xtask_version()`: a task states the runner version it was
//! written for, and an older or newer runner says so instead of failing somewhere inside.

use rhai::{Engine, NativeCallContext};

use super::reference::{plain, Function};
use super::{at_call_site, error, Result};

/// The script API's version: the `xtask-runner` crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) const FUNCTIONS: &[Function] = &[
    plain("xtask_version", &[], "The runner's version (the `xtask-runner` crate's), e.g. `0.1.0`."),
    plain("require_xtask", &["requirement: string"], "Fails the task unless the runner's version matches `requirement` (cargo's syntax: `\"0.2\"`, `\">=0.1, <0.3\"`)."),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("xtask_version", || VERSION.to_string());
    engine.register_fn(
        "require_xtask",
        |ctx: NativeCallContext, requirement: &str| at_call_site(&ctx, require(requirement)),
    );
}

/// Checks `requirement` (cargo's syntax: `"0.2"` means `^0.2`, `">=0.1, <0.3"`) against this
/// runner's version.
fn require(requirement: &str) -> Result<()> {
    let req = semver::VersionReq::parse(requirement).or_else(|e| {
        error(format!(
            "require_xtask({requirement:?}): not a version requirement ({e}); write e.g. \"0.1\" or \">=0.1, <0.3\""
        ))
    })?;
    let have = semver::Version::parse(VERSION).expect("the crate's own version parses");
    if req.matches(&have) {
        Ok(())
    } else {
        error(format!(
            "this task needs xtask {requirement}, but the runner is xtask {VERSION}: \
             set the xtask-runner dependency in xtask/Cargo.toml to a matching version"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_match_the_crate_version() {
        assert!(require(VERSION).is_ok());
        assert!(require(">=0.0.1").is_ok());
        let err = require("99").unwrap_err().to_string();
        assert!(
            err.contains("needs xtask 99") && err.contains(VERSION),
            "{err}"
        );
        assert!(require("not a version")
            .unwrap_err()
            .to_string()
            .contains("not a version requirement"));
    }
}
