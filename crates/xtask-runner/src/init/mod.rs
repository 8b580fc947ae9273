//! `xtask init [--force] [--path DIR]`: makes a repository run `cargo xtask ci` in one command.
//!
//! It inspects the repository ([`inspect`]), renders the files it needs ([`render`]) and writes
//! each one that is missing. A file that exists is left alone unless `--force` (the summary says
//! so); one already as `init` would write it is "unchanged", so running `init` twice changes
//! nothing. `.cargo/config.toml` and the root `Cargo.toml` are merged into with `toml_edit`,
//! keeping the user's formatting and comments.

pub mod inspect;
pub mod render;

use std::path::{Path, PathBuf};

use render::Source;

struct Options {
    force: bool,
    path: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
enum Written {
    Created,
    Overwritten,
    Unchanged,
    /// Exists with other contents and `--force` was not given.
    Kept,
}

pub const USAGE: &str = "usage: xtask init [-C DIR] [--force] [--path RUNNER_CHECKOUT]";

/// Runs `init` in `root`; returns the exit code.
pub fn run(root: &Path, args: &[String]) -> i32 {
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return crate::cli::EXIT_USAGE;
        }
    };
    match init(root, &options) {
        Ok(()) => crate::cli::EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            crate::cli::EXIT_FAILED
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        force: false,
        path: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--force" => options.force = true,
            "--path" => {
                let dir = args.next().ok_or("--path needs a directory")?;
                options.path = Some(PathBuf::from(dir));
            }
            other => match other.strip_prefix("--path=") {
                Some(dir) => options.path = Some(PathBuf::from(dir)),
                None => return Err(format!("unknown argument `{other}`")),
            },
        }
    }
    if let Some(path) = &options.path {
        let path =
            std::fs::canonicalize(path).map_err(|e| format!("--path {}: {e}", path.display()))?;
        if !path.join("crates/xtask-runner/Cargo.toml").is_file() {
            return Err(format!(
                "--path {}: not a checkout of the runner (no crates/xtask-runner/Cargo.toml)",
                path.display()
            ));
        }
        options.path = Some(path);
    }
    Ok(options)
}

fn init(root: &Path, options: &Options) -> Result<(), String> {
    let repo = inspect::inspect(root)?;
    let source = match &options.path {
        Some(dir) => Source::Path(dir),
        None => Source::Registry,
    };
    let mut files: Vec<(String, String)> = vec![
        (
            "xtask/Cargo.toml".into(),
            render::xtask_manifest(&repo, &source),
        ),
        ("xtask/src/main.rs".into(), render::MAIN_RS.into()),
        ("xtask/.gitignore".into(), render::XTASK_GITIGNORE.into()),
        ("tasks/ci.rhai".into(), render::ci(&repo)),
        ("tasks/quick-test.rhai".into(), render::QUICK_TEST.into()),
    ];
    if let Some(migrations) = &repo.migrations {
        files.push(("tasks/migrate.rhai".into(), render::migrate(migrations)));
    }
    if !repo.dockerfiles.is_empty() {
        files.push((
            "tasks/docker-build.rhai".into(),
            render::docker_build(&repo),
        ));
        files.push(("tasks/docker-test.rhai".into(), render::docker_test(&repo)));
    }
    if repo.members.iter().any(|m| !m.criterion_benches.is_empty()) {
        files.push(("tasks/perf-test.rhai".into(), render::perf_test(&repo)));
    }
    if repo.members.iter().any(|m| m.publishable) || repo.changelog {
        files.push((
            "tasks/release-check.rhai".into(),
            render::release_check_task(&repo),
        ));
    }
    let tasks: Vec<String> = files
        .iter()
        .filter_map(|(path, _)| path.strip_prefix("tasks/")?.strip_suffix(".rhai"))
        .map(str::to_string)
        .collect();
    files.push(("Makefile.compat".into(), render::makefile(&tasks)));
    files.push((".github/workflows/ci.yml".into(), render::workflow()));

    let mut report = Vec::new();
    for (path, contents) in &files {
        let written = write_file(&root.join(path), contents, options.force)
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        report.push((path.clone(), written));
    }
    report.push((
        ".cargo/config.toml".into(),
        merge_alias(&root.join(".cargo/config.toml"), options.force)?,
    ));
    // A crate of the repository's own already at xtask/ (a hand-written xtask, maybe a workspace
    // member) is left as it is, and so is the workspace around it.
    let own_xtask = report
        .iter()
        .any(|(path, written)| path == "xtask/Cargo.toml" && *written == Written::Kept);
    if repo.root_is_workspace && !own_xtask {
        report.push((
            "Cargo.toml".into(),
            exclude_xtask(&root.join("Cargo.toml"))?,
        ));
    }
    if let Some(checkout) = &options.path {
        seed_lock(root, checkout);
    }

    for (path, written) in &report {
        let what = match written {
            Written::Created => "created",
            Written::Overwritten => "overwrote",
            Written::Unchanged => "unchanged",
            Written::Kept => "kept (exists; --force overwrites)",
        };
        println!("{what:>10}  {path}");
    }
    if own_xtask {
        println!(
            "warning: xtask/Cargo.toml is the repository's own: to run tasks/ with it, depend on \
             xtask-runner there and call xtask_runner::main() from its main.rs (--force replaces it)"
        );
    }
    for warning in ignored_warnings(root) {
        println!("warning: {warning}");
    }
    println!(
        "\nfamilies enabled in xtask/Cargo.toml: {}",
        render::families(&repo).join(", ")
    );
    println!("next: cargo xtask ci   (cargo xtask --list shows every task)");
    println!(
        "the workflow runs `cargo xtask ci` as one Actions job; `cargo xtask workflow ci` writes one \
         Actions job per xtask job instead"
    );
    Ok(())
}

fn write_file(path: &Path, contents: &str, force: bool) -> std::io::Result<Written> {
    let written = match std::fs::read_to_string(path) {
        Ok(existing) if existing == contents => return Ok(Written::Unchanged),
        Ok(_) if !force => return Ok(Written::Kept),
        Ok(_) => Written::Overwritten,
        Err(_) => Written::Created,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)?;
    Ok(written)
}

/// Adds `[alias] xtask = …` to `.cargo/config.toml`, keeping everything else in it.
fn merge_alias(path: &Path, force: bool) -> Result<Written, String> {
    let existing = std::fs::read_to_string(path).ok();
    let mut doc: toml_edit::DocumentMut = existing
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let current = doc
        .get("alias")
        .and_then(|a| a.get("xtask"))
        .map(|v| v.as_str().map(str::to_string));
    let written = match (&existing, current) {
        (_, Some(Some(alias))) if alias == render::ALIAS => return Ok(Written::Unchanged),
        (_, Some(_)) if !force => return Ok(Written::Kept),
        (_, Some(_)) => Written::Overwritten,
        (None, None) => Written::Created,
        (Some(_), None) => Written::Overwritten,
    };
    let alias = doc
        .entry("alias")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| format!("{}: `alias` is not a table", path.display()))?;
    alias.insert("xtask", toml_edit::value(render::ALIAS));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, doc.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(written)
}

/// Keeps `xtask/` out of the repository's own workspace (it is a workspace of its own), so a
/// `members = ["*"]` glob cannot take it in.
fn exclude_xtask(path: &Path) -> Result<Written, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(workspace) = doc.get_mut("workspace").and_then(|w| w.as_table_like_mut()) else {
        return Ok(Written::Unchanged);
    };
    let exclude = workspace
        .entry("exclude")
        .or_insert(toml_edit::value(toml_edit::Array::new()));
    let Some(list) = exclude.as_array_mut() else {
        return Err(format!(
            "{}: workspace.exclude is not an array",
            path.display()
        ));
    };
    if list.iter().any(|v| v.as_str() == Some("xtask")) {
        return Ok(Written::Unchanged);
    }
    list.push("xtask");
    std::fs::write(path, doc.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Written::Overwritten)
}

/// With `--path`, start the generated crate's lock file from the checkout's, so it builds with
/// the versions the runner was tested with (cargo drops what the crate does not use).
fn seed_lock(root: &Path, checkout: &Path) {
    let lock = root.join("xtask/Cargo.lock");
    if !lock.exists() {
        let _ = std::fs::copy(checkout.join("Cargo.lock"), lock);
    }
}

/// `.cargo/config.toml` and `tasks/` must be committed for CI to run the same thing.
fn ignored_warnings(root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    for path in [".cargo/config.toml", "tasks/ci.rhai", "xtask/Cargo.toml"] {
        if is_ignored(root, path) {
            warnings.push(format!(
                "{path} is ignored by .gitignore: CI will not see it (add `!{path}` or remove the rule)"
            ));
        }
    }
    warnings
}

/// Asks git; outside a git repository, reads the root `.gitignore` for a rule naming the
/// path's first component.
fn is_ignored(root: &Path, path: &str) -> bool {
    let check =
        crate::process::Spec::query("git", &["check-ignore", "-q", "--no-index", path], root);
    match check
        .output(&crate::cancel::CancelToken::new())
        .map(|a| a.finished.code)
    {
        Ok(Some(0)) => true,
        Ok(Some(1)) => false,
        _ => {
            let first = path.split('/').next().unwrap_or(path);
            std::fs::read_to_string(root.join(".gitignore"))
                .unwrap_or_default()
                .lines()
                .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
                .any(|l| l == first)
        }
    }
}
