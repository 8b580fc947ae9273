//! Visible skips. A test whose component (a PostgreSQL server, a Docker engine, a tool) is
//! missing says so on stderr and returns, so a local run without it still passes; where CI
//! requires the component it fails instead, so CI can never pass by skipping.

use std::path::Path;
use std::process::Command;

/// Whether a component the test needs must be present: CI sets `XTASK_REQUIRE_<NAME>=1` (or
/// `CI=true`), so a missing PostgreSQL or Docker fails there instead of skipping.
pub fn required(name: &str) -> bool {
    std::env::var(format!("XTASK_REQUIRE_{name}")).is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says that the calling test skips (the rest of) its work: `SKIPPED: <test>: <why>` on stderr,
/// named by the test's thread, which the test harness names after the test.
pub fn skip(why: &str) {
    let thread = std::thread::current();
    eprintln!("SKIPPED: {}: {why}", thread.name().unwrap_or("?"));
}

/// Whether `component` is `present`; when it is not, a visible skip, or a failure where CI
/// requires it (see [`required`]). `why` says what is missing and how to get it.
#[track_caller]
pub fn require(component: &str, present: bool, why: &str) -> bool {
    if !present {
        assert!(
            !required(component),
            "{why}, and CI requires it (XTASK_REQUIRE_{component}=1 or CI=true)"
        );
        skip(why);
    }
    present
}

/// Whether `program --version` runs and succeeds.
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether XTASK_PG_PATH lists a server bin directory of each of `versions`; in CI a missing
/// one fails the test, locally it is a visible skip.
#[track_caller]
pub fn pg_servers(versions: &[u32]) -> bool {
    let path = std::env::var("XTASK_PG_PATH").unwrap_or_default();
    let found = versions.iter().all(|v| {
        path.split(':')
            .any(|d| d.contains(&format!("/{v}/")) && Path::new(d).join("initdb").exists())
    });
    require(
        "PG",
        found,
        &format!(
            "XTASK_PG_PATH does not list PostgreSQL {versions:?} (bash .ci/provision-postgres.sh)"
        ),
    )
}

/// Whether a docker engine answers; in CI a missing one fails the test, locally it is a
/// visible skip.
#[track_caller]
pub fn docker_engine() -> bool {
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    require(
        "DOCKER",
        up,
        "no docker engine answers (run .ci/start-docker.sh)",
    )
}
