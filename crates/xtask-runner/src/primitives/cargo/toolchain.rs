//! Which Rust toolchains rustup has, and which optional cargo subcommands are installed, with
//! errors that say how to get what is missing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::CargoError;
use crate::process::{self, Spec};
use crate::script::context;

/// `rustup toolchain list`, one name per entry (`stable-x86_64-unknown-linux-gnu`, `1.88.0-…`).
fn installed() -> Result<Vec<String>, CargoError> {
    let scope = context::current();
    let spec = Spec {
        argv: vec!["rustup".into(), "toolchain".into(), "list".into()],
        env: scope.env_changes(),
        capture_stdout: true,
        timeout: Some(Duration::from_secs(30)),
        ..Spec::default()
    };
    let finished = process::execute(&spec, &scope.token(), Arc::new(|_| {}))
        .map_err(CargoError::ToolchainQuery)?;
    if !finished.success() {
        return Err(CargoError::ToolchainListFailed {
            status: finished.describe(),
        });
    }
    Ok(String::from_utf8_lossy(&finished.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Whether `entry` (as rustup lists it) is what `+name` selects: the name itself, or the name
/// plus the host triple. `1.88` is not `1.88.0`, and `nightly` is not `nightly-2024-05-01`.
fn matches(entry: &str, name: &str) -> bool {
    entry == name
        || entry
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|triple| triple.starts_with(|c: char| c.is_ascii_alphabetic()))
}

pub fn has_toolchain(name: &str) -> Result<bool, CargoError> {
    Ok(installed()?.iter().any(|entry| matches(entry, name)))
}

/// Fails unless rustup has `name`, naming the command that installs it.
pub fn require_toolchain(name: &str) -> Result<(), CargoError> {
    if name.is_empty() || name.starts_with('+') || name.contains(char::is_whitespace) {
        return Err(CargoError::InvalidToolchain { name: name.into() });
    }
    let list = installed()?;
    if list.iter().any(|entry| matches(entry, name)) {
        return Ok(());
    }
    Err(CargoError::MissingToolchain {
        name: name.into(),
        installed: list,
    })
}

/// `nextest`, `cargo-nextest` -> `cargo-nextest`.
pub fn tool_binary(name: &str) -> String {
    if name.starts_with("cargo-") {
        name.to_string()
    } else {
        format!("cargo-{name}")
    }
}

/// Where an optional cargo subcommand is: on the scope's PATH or in `$CARGO_HOME/bin`, the two
/// places cargo looks.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let scope = context::current();
    let binary = tool_binary(name);
    let mut paths: Vec<PathBuf> = scope
        .env_var("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let cargo_home = scope.env_var("CARGO_HOME").map(PathBuf::from).or_else(|| {
        scope
            .env_var("HOME")
            .map(|h| PathBuf::from(h).join(".cargo"))
    });
    if let Some(home) = cargo_home {
        paths.push(home.join("bin"));
    }
    let joined = std::env::join_paths(paths).ok()?;
    let dir = scope.dir.borrow().clone();
    which::which_in(binary, Some(joined), dir).ok()
}

pub fn require_tool(name: &str) -> Result<PathBuf, CargoError> {
    find_tool(name).ok_or_else(|| CargoError::MissingTool {
        binary: tool_binary(name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_names_match_like_rustup() {
        assert!(matches("stable-x86_64-unknown-linux-gnu", "stable"));
        assert!(matches("1.88.0-x86_64-unknown-linux-gnu", "1.88.0"));
        assert!(matches(
            "1.88.0-x86_64-unknown-linux-gnu",
            "1.88.0-x86_64-unknown-linux-gnu"
        ));
        assert!(!matches("1.88.0-x86_64-unknown-linux-gnu", "1.88"));
        assert!(!matches(
            "nightly-2024-05-01-x86_64-unknown-linux-gnu",
            "nightly"
        ));
        assert!(matches("my-custom", "my-custom"));
    }

    #[test]
    fn refusals_are_typed_and_name_what_is_missing() {
        let err = require_toolchain("+stable").unwrap_err();
        assert!(matches!(&err, CargoError::InvalidToolchain { name } if name == "+stable"));
        let dir = tempfile::tempdir().unwrap();
        let _scope = context::enter_for_test(dir.path());
        match require_tool("no-such-tool-xyz") {
            Err(CargoError::MissingTool { binary }) => assert_eq!(binary, "cargo-no-such-tool-xyz"),
            other => panic!("expected a missing tool, got {other:?}"),
        }
        assert!(matches!(
            super::super::metadata::to_map("{", dir.path()),
            Err(CargoError::BadMetadata(_))
        ));
    }

    #[test]
    fn tool_names() {
        assert_eq!(tool_binary("deny"), "cargo-deny");
        assert_eq!(tool_binary("cargo-audit"), "cargo-audit");
    }
}
