//! File helpers on top of walkdir and glob. Relative paths resolve against the job's directory
//! (the project root unless the job sets `dir`). Errors name the path.

use std::path::Path;

use rhai::{Array, Dynamic, Engine};

use super::{error, Result};
use crate::script::context;

use super::reference::{plain, Function};

pub(crate) const FUNCTIONS: &[Function] = &[
    plain(
        "exists",
        &["path: string"],
        "Whether the path exists (relative paths resolve against the job's directory).",
    ),
    plain("is_file", &["path: string"], "Whether the path is a file."),
    plain(
        "is_dir",
        &["path: string"],
        "Whether the path is a directory.",
    ),
    plain(
        "read",
        &["path: string"],
        "The file's text; fails naming the path.",
    ),
    plain(
        "write",
        &["path: string", "text: string"],
        "Writes the text to the file, creating its directories.",
    ),
    plain(
        "mkdir",
        &["path: string"],
        "Creates the directory and its parents.",
    ),
    plain(
        "remove",
        &["path: string"],
        "Removes a file or a directory tree.",
    ),
    plain("copy", &["from: string", "to: string"], "Copies a file."),
    plain(
        "glob",
        &["pattern: string"],
        "The paths matching a glob pattern.",
    ),
    plain("walk", &["dir: string"], "Every file under the directory."),
    plain(
        "tempdir",
        &[],
        "A new temporary directory, removed when the run ends.",
    ),
];

pub fn register(engine: &mut Engine) {
    engine.register_fn("exists", |path: &str| {
        let full = context::current().path(path);
        super::implied::path(&full);
        full.exists()
    });
    engine.register_fn("is_file", |path: &str| {
        let full = context::current().path(path);
        super::implied::path(&full);
        full.is_file()
    });
    engine.register_fn("is_dir", |path: &str| {
        let full = context::current().path(path);
        super::implied::path(&full);
        full.is_dir()
    });
    engine.register_fn("read", |path: &str| -> Result<String> {
        let full = context::current().path(path);
        super::implied::path(&full);
        std::fs::read_to_string(&full)
            .or_else(|e| error(format!("cannot read {}: {e}", full.display())))
    });
    engine.register_fn("write", |path: &str, text: &str| -> Result<()> {
        let full = context::current().path(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .or_else(|e| error(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&full, text)
            .or_else(|e| error(format!("cannot write {}: {e}", full.display())))?;
        // What the job left is part of its state: gone or changed, the job runs again.
        super::implied::path(&full);
        Ok(())
    });
    engine.register_fn("mkdir", |path: &str| -> Result<()> {
        let full = context::current().path(path);
        std::fs::create_dir_all(&full)
            .or_else(|e| error(format!("cannot create {}: {e}", full.display())))?;
        super::implied::path(&full);
        Ok(())
    });
    engine.register_fn("remove", |path: &str| -> Result<()> {
        let full = context::current().path(path);
        remove(&full).or_else(|e| error(format!("cannot remove {}: {e}", full.display())))?;
        super::implied::path(&full);
        Ok(())
    });
    engine.register_fn("copy", |from: &str, to: &str| -> Result<()> {
        let scope = context::current();
        let (from, to) = (scope.path(from), scope.path(to));
        super::implied::path(&from);
        std::fs::copy(&from, &to).map(|_| ()).or_else(|e| {
            error(format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                to.display()
            ))
        })?;
        super::implied::path(&to);
        Ok(())
    });
    engine.register_fn("glob", |pattern: &str| -> Result<Array> { glob(pattern) });
    engine.register_fn("walk", |dir: &str| -> Result<Array> { walk(dir) });
    engine.register_fn("tempdir", || -> Result<String> {
        let scope = context::current();
        let dir = tempfile::Builder::new()
            .prefix("xtask-")
            .tempdir()
            .or_else(|e| error(format!("cannot create a temp dir: {e}")))?;
        let path = dir.path().display().to_string();
        scope.host.tempdirs.lock().unwrap().push(dir);
        Ok(path)
    });
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Matches, sorted; relative patterns give paths relative to the job's directory.
fn glob(pattern: &str) -> Result<Array> {
    let scope = context::current();
    let base = scope.dir.borrow().clone();
    let absolute = Path::new(pattern).is_absolute();
    let full = if absolute {
        pattern.to_string()
    } else {
        format!("{}/{pattern}", base.display())
    };
    let paths = glob::glob(&full).or_else(|e| error(format!("invalid glob `{pattern}`: {e}")))?;
    super::implied::glob(&base, pattern);
    let mut out: Vec<String> = Vec::new();
    for entry in paths {
        let path = entry.or_else(|e| error(format!("glob `{pattern}`: {e}")))?;
        let shown = if absolute {
            path.as_path()
        } else {
            path.strip_prefix(&base).unwrap_or(&path)
        };
        out.push(shown.display().to_string());
    }
    out.sort();
    Ok(out.into_iter().map(Dynamic::from).collect())
}

/// Every file under `dir`, sorted, relative to the job's directory when `dir` is relative.
fn walk(dir: &str) -> Result<Array> {
    let scope = context::current();
    let base = scope.dir.borrow().clone();
    let root = scope.path(dir);
    if !root.is_dir() {
        return error(format!("cannot walk {}: not a directory", root.display()));
    }
    super::implied::tree(&root);
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.or_else(|e| error(format!("walking {}: {e}", root.display())))?;
        if entry.file_type().is_file() {
            let path = entry.path();
            let shown = if Path::new(dir).is_absolute() {
                path
            } else {
                path.strip_prefix(&base).unwrap_or(path)
            };
            out.push(Dynamic::from(shown.display().to_string()));
        }
    }
    Ok(out)
}
