//! The files `xtask init` writes, rendered from what it found in the repository.

use std::path::Path;

use super::inspect::{Migrations, Repo};

/// Where the generated crate gets the library from.
pub enum Source<'a> {
    /// The released version on crates.io.
    Registry,
    /// A checkout of the runner's repository (`--path DIR`).
    Path(&'a Path),
}

/// The PostgreSQL majors the migration matrix covers.
const PG_VERSIONS: &str = "[13, 14, 15, 16]";

/// The runner's families the generated tasks call: the generated crate enables only these, so
/// its cold build pays for nothing else. `cargo` is always there.
pub fn families(repo: &Repo) -> Vec<&'static str> {
    let mut families = vec!["cargo"];
    if repo.migrations.is_some() {
        families.push("pg");
    }
    if !repo.dockerfiles.is_empty() {
        families.push("docker");
    }
    if repo.members.iter().any(|m| !m.criterion_benches.is_empty()) {
        families.push("perf");
    }
    if release_check(repo) {
        families.push("release");
    }
    families
}

fn release_check(repo: &Repo) -> bool {
    repo.members.iter().any(|m| m.publishable) || repo.changelog
}

/// `to` as seen from `from` (both absolute): `../../runner/crates/xtask-runner`, so a checkout
/// beside the repository keeps working wherever the two are cloned.
fn relative(from: &Path, to: &Path) -> std::path::PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return to.iter().collect();
    }
    let mut out = std::path::PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    out.extend(&to[common..]);
    out
}

pub fn xtask_manifest(repo: &Repo, source: &Source) -> String {
    let families = families(repo);
    let features = families
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let version = env!("CARGO_PKG_VERSION");
    let requirement = match source {
        Source::Registry => format!("version = \"{version}\""),
        Source::Path(dir) => {
            let root = std::fs::canonicalize(&repo.root).unwrap_or(repo.root.clone());
            let library = relative(&root.join("xtask"), &dir.join("crates/xtask-runner"));
            format!(
                "version = \"{version}\", path = {:?}",
                library.display().to_string()
            )
        }
    };
    format!(
        r#"# The repository's task runner: `cargo xtask <task>` runs tasks/<task>.rhai (the alias is in
# .cargo/config.toml). Editing tasks/ or lib/ never rebuilds this crate.
#
# A workspace of its own (the empty [workspace] below), so the runner's dependencies never touch
# the repository's Cargo.lock. Families of primitives are cargo features: this crate enables the
# ones its tasks use; the others are "pg", "docker", "http", "perf", "release", "node" and "scan".
[package]
name = "xtask"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
xtask-runner = {{ {requirement}, default-features = false, features = [{features}] }}

[profile.dev]
# The runner's own code is not what a debugger is for here; no debug info builds and links faster.
debug = false

[workspace]
"#
    )
}

pub const MAIN_RS: &str = "fn main() -> std::process::ExitCode {\n    xtask_runner::main()\n}\n";

pub const XTASK_GITIGNORE: &str = "/target\n";

pub const ALIAS: &str = "run --quiet --manifest-path xtask/Cargo.toml --";

pub fn ci(repo: &Repo) -> String {
    let mut toolchains = vec!["\"stable\"".to_string()];
    if let Some(msrv) = &repo.msrv {
        toolchains.push(format!("{msrv:?}"));
    }
    let mut out = String::from(
        "//! Everything that must pass before a push: format, lint, tests (stable and the MSRV), docs.\n\
         //! Written by `xtask init`; edit freely (nothing regenerates it).\n\n",
    );
    out.push_str(
        "job(\"fmt\", #{ description: \"rustfmt check\" }, || cargo::fmt_check());\n\
         job(\"clippy\", #{ description: \"clippy, all targets, warnings denied\" }, || cargo::clippy());\n",
    );
    let description = if repo.msrv.is_some() {
        "the tests on stable and the MSRV (rust-version)"
    } else {
        "the tests"
    };
    out.push_str(&format!(
        "job(\"test\", #{{\n    description: \"{description}\",\n    matrix: #{{ toolchain: [{}] }},\n    timeout: \"30m\",\n}}, |m| {{\n    if m.toolchain != \"stable\" && !cargo::has_toolchain(m.toolchain) {{\n        skip(`toolchain ${{m.toolchain}} is not installed: rustup toolchain install ${{m.toolchain}}`);\n    }}\n    cargo::test(#{{ toolchain: m.toolchain, kind: \"tests\" }});\n}});\n",
        toolchains.join(", ")
    ));
    if repo.members.iter().any(|m| m.has_lib) {
        out.push_str(
            "job(\"doctest\", #{ description: \"doc tests\" }, || cargo::test(#{ kind: \"doc\" }));\n",
        );
    }
    out.push_str(
        "job(\"docs\", #{ description: \"rustdoc, warnings denied\" }, || cargo::doc());\n",
    );
    out
}

pub const QUICK_TEST: &str =
    "//! The quick loop before a commit: format the code, then lint and test.\n\
//! Written by `xtask init`; edit freely.\n\n\
job(\"format\", || cargo::run([\"fmt\", \"--all\"]));\n\
job(\"lint\", #{ needs: [\"format\"] }, || cargo::clippy());\n\
job(\"test\", #{ needs: [\"format\"] }, || cargo::test());\n";

pub fn migrate(migrations: &Migrations) -> String {
    let (what, call) = match migrations {
        Migrations::Sqlx { dir } => (
            format!("the sqlx migrations in {dir}/"),
            format!("pg::test_migrations(#{{ versions: [m.version], dir: {dir:?} }})"),
        ),
        Migrations::Diesel { dir } => (
            format!("the diesel migrations in {dir}/"),
            format!("pg::test_migrations(#{{ versions: [m.version], dir: {dir:?} }})"),
        ),
        Migrations::SeaOrm { package } => (
            format!("the SeaORM migrations of the `{package}` crate (through its own binary)"),
            format!(
                "pg::test_migrations(#{{\n        versions: [m.version],\n        cli: [\"cargo\", \"run\", \"--quiet\", \"-p\", {package:?}, \"--\"],\n    }})"
            ),
        ),
    };
    format!(
        "//! {what}: applied, rolled back and applied again on a throwaway PostgreSQL\n\
         //! cluster of each version. `cargo xtask migrate --job \"migrate (version=16)\"` runs one.\n\
         //! Written by `xtask init`; edit freely.\n\n\
         job(\"migrate\", #{{\n    description: \"migrations up/down/up on a throwaway cluster\",\n    matrix: #{{ version: {PG_VERSIONS} }},\n    timeout: \"10m\",\n}}, |m| {{\n    if !pg::versions().contains(m.version) && env(\"CI\", \"\") != \"true\" {{\n        skip(`PostgreSQL ${{m.version}} is not installed here (XTASK_PG_PATH lists server bin directories)`);\n    }}\n    {call};\n}});\n"
    )
}

pub fn docker_build(repo: &Repo) -> String {
    let mut out = String::from(
        "//! Builds each Dockerfile (and each of its named stages) into a local image.\n\
         //! Written by `xtask init`; edit freely.\n\n",
    );
    for (name, file, context, stage) in images(repo) {
        let target = stage
            .map(|s| format!(", target: {s:?}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "job(\"build {name}\", || docker::build(#{{ context: {context:?}, file: {file:?}, tags: [\"{name}:dev\"]{target} }}));\n"
        ));
    }
    out
}

pub fn docker_test(repo: &Repo) -> String {
    let mut out = String::from(
        "//! Builds each image, then checks it exists and stays under a size budget.\n\
         //! Written by `xtask init`: add a docker::run smoke test of what the image serves.\n\n",
    );
    for (name, file, context, stage) in images(repo) {
        let target = stage
            .map(|s| format!(", target: {s:?}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "job(\"build {name}\", || docker::build(#{{ context: {context:?}, file: {file:?}, tags: [\"{name}:test\"]{target} }}));\n\
             job(\"size {name}\", #{{ needs: [\"build {name}\"] }}, || docker::check_size(\"{name}:test\", #{{ max_mb: 500 }}));\n"
        ));
    }
    out
}

/// One image per Dockerfile, plus one per named stage of a multi-stage file:
/// (image name, file, context, stage).
fn images(repo: &Repo) -> Vec<(String, String, String, Option<String>)> {
    let mut out = Vec::new();
    for file in &repo.dockerfiles {
        let base = image_name(&file.path);
        if file.stages.is_empty() {
            out.push((base, file.path.clone(), file.context.clone(), None));
        } else {
            for stage in &file.stages {
                out.push((
                    format!("{base}-{}", sanitize(stage)),
                    file.path.clone(),
                    file.context.clone(),
                    Some(stage.clone()),
                ));
            }
        }
    }
    out
}

/// `Dockerfile` → `app`, `api/Dockerfile` → `api`, `Dockerfile.debug` → `app-debug`.
fn image_name(path: &str) -> String {
    let (dir, file) = match path.rsplit_once('/') {
        Some((dir, file)) => (Some(dir), file),
        None => (None, path),
    };
    let base = dir
        .and_then(|d| d.rsplit('/').next())
        .map(sanitize)
        .unwrap_or_else(|| "app".into());
    let variant = file
        .strip_prefix("Dockerfile.")
        .or_else(|| file.strip_suffix(".Dockerfile"));
    match variant {
        Some(v) => format!("{base}-{}", sanitize(v)),
        None => base,
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

pub fn perf_test(repo: &Repo) -> String {
    let mut out = String::from(
        "//! The benchmark gate: criterion benches against the saved baseline (10 % warns, 20 % fails).\n\
         //! The first run saves the baseline; `--save-baseline` makes this run the new one.\n\
         //! Written by `xtask init`; edit freely.\n\n",
    );
    for member in &repo.members {
        for bench in &member.criterion_benches {
            out.push_str(&format!(
                "job(\"bench {bench}\", #{{ timeout: \"40m\" }}, || {{\n    let current = perf::bench(#{{ bench: {bench:?}, \"package\": {:?} }});\n    let saved = perf::load_baseline({bench:?});\n    if saved == () || opts.save_baseline == true {{\n        perf::save_baseline({bench:?}, current);\n        info(\"saved the baseline\");\n        return;\n    }}\n    let cmp = perf::compare(saved, current, #{{ warn: 10.0, fail: 20.0 }});\n    print(perf::report(cmp, #{{ summary: true }}));\n    perf::enforce(cmp);\n}});\n",
                member.name
            ));
        }
    }
    out
}

pub fn release_check_task(repo: &Repo) -> String {
    let changelog = repo.changelog;
    format!(
        "//! The release rehearsed without publishing: versions agree, the tree is clean{}, and\n\
         //! every publishable crate packages (`cargo package`).\n\
         //! Written by `xtask init`; edit freely.\n\n\
         job(\"versions\", #{{ description: \"versions, tag and a clean tree agree\" }}, || release::check(#{{ changelog: {changelog} }}));\n\
         job(\"package\", #{{ description: \"cargo package for every publishable crate\", needs: [\"versions\"] }}, || release::pack(#{{ bins: [] }}));\n",
        if changelog {
            ", CHANGELOG.md has the version"
        } else {
            ""
        }
    )
}

pub const MAKEFILE_HEADER: &str =
    "# Generated by `xtask init`: `make <task>` runs `cargo xtask <task>`; `cargo xtask makefile` rewrites it.\n";

pub fn makefile(tasks: &[String]) -> String {
    let mut out = String::from(MAKEFILE_HEADER);
    out.push_str(&format!(".PHONY: {}\n\n", tasks.join(" ")));
    for task in tasks {
        out.push_str(&format!("{task}:\n\tcargo xtask {task} $(ARGS)\n"));
    }
    out
}

pub fn workflow() -> String {
    "# Written by `xtask init`: the same `cargo xtask ci` as on a laptop (groups, annotations,\n\
     # step summary come from the runner itself when GITHUB_ACTIONS is set).\n\
     name: ci\n\
     on:\n  push:\n    branches: [main]\n  pull_request:\n\
     permissions:\n  contents: read\n\
     jobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: dtolnay/rust-toolchain@stable\n        with:\n          components: rustfmt, clippy\n      - uses: Swatinem/rust-cache@v2\n        with:\n          workspaces: |\n            . -> target\n            xtask -> xtask/target\n      - run: cargo xtask ci\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_paths_are_relative_to_the_xtask_crate() {
        assert_eq!(
            relative(
                Path::new("/work/repo/xtask"),
                Path::new("/work/runner/crates/xtask-runner")
            ),
            Path::new("../../runner/crates/xtask-runner")
        );
        assert_eq!(
            relative(
                Path::new("/w/r/examples/service/xtask"),
                Path::new("/w/r/crates/xtask-runner")
            ),
            Path::new("../../../crates/xtask-runner")
        );
    }

    #[test]
    fn image_names_follow_the_file() {
        assert_eq!(image_name("Dockerfile"), "app");
        assert_eq!(image_name("api/Dockerfile"), "api");
        assert_eq!(image_name("Dockerfile.debug"), "app-debug");
        assert_eq!(image_name("deploy/worker.Dockerfile"), "deploy-worker");
    }
}
