//! The inputs primitives imply, recorded for the up-to-date check (`cache::recording`) while a
//! job runs: which files, variables and tool versions a call depends on, and which calls reach
//! outside the tree (then the job is not skipped unless it says `cache: true`). Outside a job
//! every function here does nothing.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::cache::files::FileSet;
use crate::cache::recording;
use crate::process::{display_argv, Spec};

pub use recording::{opaque, volatile};

/// Variables every cargo command depends on (besides those starting with `CARGO_`/`RUST`).
const CARGO_ENV: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTUP_TOOLCHAIN",
    "CARGO_INCREMENTAL",
    "PATH",
];

fn env_display(spec: &Spec) -> String {
    let mut parts: Vec<String> = spec
        .env
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={}", crate::cache::hashing::digest_text(v)),
            None => format!("-{k}"),
        })
        .collect();
    parts.sort();
    parts.join(" ")
}

fn call(what: &str, spec: &Spec) {
    let dir = spec
        .dir
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    recording::call(format!(
        "{what}: {} (env {}) in {dir}",
        display_argv(&spec.argv),
        env_display(spec)
    ));
}

/// `run`/`sh`: the argv, environment changes and directory, and the program itself. What the
/// program reads only the script knows, so the job needs declared `inputs` to be skipped.
pub fn run(spec: &Spec) {
    if !recording::is_recording() {
        return;
    }
    call("run", spec);
    program(spec);
    recording::opaque(display_argv(&spec.argv));
}

/// `run_output`/`sh_output`: a query whose answer the script uses; the check runs it again.
pub fn run_output(spec: &Spec, stdout: &[u8], success: bool) {
    if !recording::is_recording() {
        return;
    }
    call("run_output", spec);
    program(spec);
    recording::command_output(&spec.argv, &spec.env, spec.dir.as_deref(), stdout, success);
}

/// `service::start`: like `run`, a program reading what it likes.
pub fn service(spec: &Spec) {
    if !recording::is_recording() {
        return;
    }
    call("service::start", spec);
    program(spec);
    recording::opaque(display_argv(&spec.argv));
}

/// The executable a command starts: a new build of it is a change.
fn program(spec: &Spec) {
    let Some(name) = spec.argv.first() else {
        return;
    };
    let dir = spec.dir.clone().unwrap_or_default();
    let found = if name.contains('/') {
        Some(dir.join(name))
    } else if let Some(found) = crate::process::find_on_path(spec) {
        // Exactly the file the command starts (see `find_on_path`).
        Some(found)
    } else {
        let path = spec
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone().unwrap_or_default())
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        which::which_in(name, Some(path), &dir).ok()
    };
    if let Some(path) = found {
        recording::file(&path);
    }
}

pub fn env(name: &str, value: Option<&str>) {
    recording::env(name, value);
}

/// `which`: every place on PATH the program could appear (so installing it is a change).
pub fn which(program: &str, path_var: &str) {
    if !recording::is_recording() {
        return;
    }
    recording::env("PATH", Some(path_var));
    if program.contains('/') {
        recording::file(Path::new(program));
        return;
    }
    for dir in std::env::split_paths(path_var) {
        recording::file(&dir.join(program));
    }
}

/// `read`, `exists`, `is_file`, `is_dir`.
pub fn path(path: &Path) {
    recording::file(path);
}

/// `glob(pattern)` relative to the job's directory.
pub fn glob(dir: &Path, pattern: &str) {
    if !recording::is_recording() {
        return;
    }
    recording::files(FileSet::Glob {
        dir: dir.display().to_string(),
        patterns: vec![pattern.to_string()],
    });
}

/// `walk(dir)`.
pub fn tree(dir: &Path) {
    recording::tree(dir, Vec::new());
}

/// What a cargo command depends on. `sub` is the subcommand (`test`, `clippy`, …).
pub fn cargo(sub: &str, spec: &Spec, toolchain: Option<&str>) {
    if !recording::is_recording() {
        return;
    }
    call(&format!("cargo {sub}"), spec);
    match sub {
        "publish" | "login" | "logout" | "install" | "uninstall" | "yank" | "owner" => {
            volatile(format!("`cargo {sub}` acts outside the tree"));
            return;
        }
        "audit" | "deny" | "outdated" | "update" => {
            volatile(format!(
                "`cargo {sub}` reads a database fetched from the network"
            ));
            return;
        }
        _ => {}
    }
    let dir = spec.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    // Tests and benchmarks (and arbitrary cargo commands) may read any file in the workspace;
    // builds and lints read the packages' sources.
    let sources_only = matches!(sub, "fmt" | "clippy" | "build" | "check" | "doc");
    match predicted_workspace(&dir) {
        Some(ws) => {
            if sources_only {
                for d in &ws.source_dirs {
                    recording::tree(d, Vec::new());
                }
                for f in &ws.files {
                    recording::file(f);
                }
                if !ws.member_globs.is_empty() {
                    recording::glob(&ws.root, ws.member_globs.clone());
                }
            } else {
                recording::tree(&ws.root, Vec::new());
            }
        }
        None => recording::tree(&dir, Vec::new()),
    }
    let mut names: BTreeSet<String> = CARGO_ENV.iter().map(|s| s.to_string()).collect();
    for (key, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
        if key.starts_with("CARGO_") || key.starts_with("RUST") {
            names.insert(key);
        }
    }
    // As the job's environment has them (what the check compares with): variables a primitive
    // sets for its own command (`RUSTDOCFLAGS` for `cargo::doc`) are part of its code.
    let scope = crate::script::context::try_current();
    for name in names {
        let value = match &scope {
            Some(scope) => scope.env_var(&name),
            None => std::env::var(&name).ok(),
        };
        recording::env(&name, value.as_deref());
    }
    // The versions depend on which toolchain is picked, not on the command's flags: with only
    // those variables, every cargo job of a run shares one `rustc -vV` and one `cargo -V`.
    let picks_toolchain: Vec<(String, Option<String>)> = spec
        .env
        .iter()
        .filter(|(k, _)| TOOLCHAIN_ENV.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut rustc = vec!["rustc".to_string()];
    rustc.extend(toolchain.map(|t| format!("+{t}")));
    rustc.push("-vV".into());
    recording::command(&rustc, &picks_toolchain, Some(&dir));
    let mut cargo = vec!["cargo".to_string()];
    cargo.extend(toolchain.map(|t| format!("+{t}")));
    cargo.push("-V".into());
    recording::command(&cargo, &picks_toolchain, Some(&dir));
}

/// Variables that choose which `rustc` and `cargo` run (rustup's proxies read the first three).
const TOOLCHAIN_ENV: &[&str] = &[
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_HOME",
    "CARGO_HOME",
    "PATH",
    "RUSTC",
];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Workspace {
    root: PathBuf,
    /// Each package's directory and the directories of its targets' sources (tests/ may sit
    /// outside the package, as in this repository).
    source_dirs: Vec<PathBuf>,
    /// Cargo.lock, the root manifest, cargo configuration and toolchain files.
    files: Vec<PathBuf>,
    /// `<pattern>/Cargo.toml` for each glob in the root's `workspace.members`: a package added
    /// under one joins the workspace without any manifest above it changing.
    member_globs: Vec<String>,
}

/// The workspace a cargo command in `dir` works on, without waiting for `cargo metadata`
/// (36 ms here, before the first cargo command of every run could start) when an earlier run
/// read it: that answer is used at once, this run's `cargo metadata` runs beside the job's
/// command, and the record is confirmed against it when the job ends. A workspace that changed
/// since (a package added or moved, a target's path outside its package) leaves the record
/// unstored, and the new answer is kept for the next run. Without an earlier answer, the job
/// waits for this run's.
fn predicted_workspace(dir: &Path) -> Option<Arc<Workspace>> {
    let key = std::path::absolute(dir).ok()?;
    let Some(cache) = recording::cache_dir() else {
        return workspace(dir);
    };
    let Some(predicted) = earlier_workspaces(&cache).get(&key).cloned() else {
        let read = workspace(dir);
        remember_workspace(&cache, &key, read.as_deref());
        return read;
    };
    // Started now, on its own thread: the record waits for it at the job's end.
    let reading = dir.to_path_buf();
    std::thread::spawn(move || workspace(&reading));
    let expected = Arc::clone(&predicted);
    let dir = dir.to_path_buf();
    recording::confirm(move || {
        let read = workspace(&dir);
        if read.as_deref() == Some(&*expected) {
            return None;
        }
        remember_workspace(&cache, &key, read.as_deref());
        Some(
            "the workspace's packages changed since an earlier run (`cargo metadata`): recorded again on the next run"
                .into(),
        )
    });
    Some(predicted)
}

/// Where [`predicted_workspace`] keeps what `cargo metadata` answered, by directory.
const WORKSPACES_FILE: &str = "workspaces.json";

type Workspaces = HashMap<PathBuf, Arc<Workspace>>;

/// The cache's workspaces file as this run found it, read once.
fn earlier_workspaces(cache: &Path) -> &'static Workspaces {
    static EARLIER: OnceLock<Workspaces> = OnceLock::new();
    EARLIER.get_or_init(|| {
        read_workspaces(&cache.join(WORKSPACES_FILE))
            .into_iter()
            .map(|(dir, ws)| (dir, Arc::new(ws)))
            .collect()
    })
}

/// The workspaces file; missing or unreadable: none.
fn read_workspaces(path: &Path) -> HashMap<PathBuf, Workspace> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Keeps this run's answer for `key` when it differs from the file's (`None`: forgets it).
fn remember_workspace(cache: &Path, key: &Path, read: Option<&Workspace>) {
    static WRITING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let path = cache.join(WORKSPACES_FILE);
    let mut all = read_workspaces(&path);
    if all.get(key) == read {
        return;
    }
    match read {
        Some(ws) => {
            all.insert(key.to_path_buf(), ws.clone());
        }
        None => {
            all.remove(key);
        }
    }
    if let Ok(json) = serde_json::to_vec(&all) {
        let _ = crate::cache::store::write_atomically(&path, &json);
    }
}

/// `cargo metadata --no-deps` for a directory, once per run: cargo jobs that start together
/// wait for one `cargo metadata` rather than running one each.
fn workspace(dir: &Path) -> Option<Arc<Workspace>> {
    type Known = HashMap<PathBuf, Arc<OnceLock<Option<Arc<Workspace>>>>>;
    static KNOWN: Mutex<Option<Known>> = Mutex::new(None);
    let cell = KNOWN
        .lock()
        .unwrap()
        .get_or_insert_default()
        .entry(dir.to_path_buf())
        .or_default()
        .clone();
    cell.get_or_init(|| read_workspace(dir).map(Arc::new))
        .clone()
}

/// `cargo metadata` as the runner reads a workspace: its own packages, offline.
pub(crate) const CARGO_METADATA: &[&str] = &[
    "metadata",
    "--no-deps",
    "--format-version",
    "1",
    "--offline",
];

fn read_workspace(dir: &Path) -> Option<Workspace> {
    let out = Spec::query("cargo", CARGO_METADATA, dir)
        .output(&crate::cancel::CancelToken::new())
        .ok()?;
    if !out.success() {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.finished.stdout).ok()?;
    let root = PathBuf::from(meta["workspace_root"].as_str()?);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for package in meta["packages"].as_array()? {
        let manifest = PathBuf::from(package["manifest_path"].as_str()?);
        dirs.extend(manifest.parent().map(Path::to_path_buf));
        for target in package["targets"].as_array().into_iter().flatten() {
            if let Some(src) = target["src_path"].as_str() {
                // Cargo joins a manifest's `path = "../x.rs"` as written: without the `..`
                // resolved, the directory would look as if it were inside the package.
                dirs.extend(
                    without_dot_dots(Path::new(src))
                        .parent()
                        .map(Path::to_path_buf),
                );
            }
        }
    }
    // Keep only the outermost directories: a tree already covers what is under it.
    dirs.sort();
    dirs.dedup();
    let mut source_dirs: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if !source_dirs.iter().any(|kept| d.starts_with(kept)) {
            source_dirs.push(d);
        }
    }
    let files = [
        "Cargo.lock",
        "Cargo.toml",
        ".cargo/config.toml",
        ".cargo/config",
        "rust-toolchain",
        "rust-toolchain.toml",
        "rustfmt.toml",
        ".rustfmt.toml",
        "clippy.toml",
        ".clippy.toml",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let member_globs = member_globs(&root.join("Cargo.toml"));
    Some(Workspace {
        root,
        source_dirs,
        files,
        member_globs,
    })
}

/// `path` with each `..` taking away the component before it (as the kernel would, but for
/// symbolic links, which a package's sources are not expected to climb out of).
fn without_dot_dots(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push(part);
                }
            }
            std::path::Component::CurDir => {}
            _ => out.push(part),
        }
    }
    out
}

/// The glob patterns among `workspace.members` in the manifest at `path`, as patterns for
/// the manifests they match.
fn member_globs(path: &Path) -> Vec<String> {
    let Some(doc) = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
    else {
        return Vec::new();
    };
    let Some(members) = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
    else {
        return Vec::new();
    };
    members
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| m.contains(['*', '?', '[']))
        .map(|m| format!("{}/Cargo.toml", m.trim_end_matches('/')))
        .collect()
}

/// `docker::build`: the context after `.dockerignore`, the Dockerfile, the command line.
pub fn docker_build(context: &Path, dockerfile: &Path, argv: &[String], pushes: bool) {
    if !recording::is_recording() {
        return;
    }
    recording::call(format!("docker::build: {}", display_argv(argv)));
    if pushes {
        volatile("docker::build pushes the image");
        return;
    }
    let ignore_file = context.join(".dockerignore");
    recording::file(&ignore_file);
    let rules: Vec<String> = std::fs::read_to_string(&ignore_file)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default();
    recording::tree(context, rules);
    recording::file(dockerfile);
}

/// `docker::run` and friends: the image as the engine has it now.
pub fn docker_image(client: &str, image: &str) {
    if !recording::is_recording() {
        return;
    }
    let argv = vec![
        client.to_string(),
        "image".into(),
        "inspect".into(),
        "--format".into(),
        "{{.Id}}".into(),
        image.to_string(),
    ];
    recording::command(&argv, &[], None);
}

/// `pg::` migrations: the migration directory.
pub fn migrations(dir: &Path) {
    recording::tree(dir, Vec::new());
}

/// A PostgreSQL server binary a cluster is started from (its version is in it).
pub fn server_binary(path: &Path) {
    recording::file(path);
}

/// A URL on this machine is part of the run; any other is outside state.
pub fn http(url: &str) {
    if !recording::is_recording() {
        return;
    }
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        recording::call(format!("http: {url}"));
    } else {
        volatile(format!(
            "it sends a request to {host}, outside this machine"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_climbing_out_of_its_package_is_resolved() {
        assert_eq!(
            without_dot_dots(Path::new("/w/crates/a/../../shared/lib.rs")),
            PathBuf::from("/w/shared/lib.rs")
        );
        assert_eq!(
            without_dot_dots(Path::new("/w/./crates/a/src/lib.rs")),
            PathBuf::from("/w/crates/a/src/lib.rs")
        );
        assert_eq!(without_dot_dots(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn member_globs_come_from_the_root_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[workspace]\nmembers = [\"xtask\", \"crates/*\", \"tools/lint-?/\"]\n",
        )
        .unwrap();
        assert_eq!(
            member_globs(&manifest),
            ["crates/*/Cargo.toml", "tools/lint-?/Cargo.toml"]
        );
        std::fs::write(&manifest, "[package]\nname = \"a\"\n").unwrap();
        assert!(member_globs(&manifest).is_empty());
    }
}
