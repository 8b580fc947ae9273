//! Sets of files a job depends on, and their digests now: one path, globs, or a directory tree
//! (optionally filtered by `.dockerignore`-style rules). Paths are stored relative to the
//! project root when they are inside it, so a restored cache works in another checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hashing::StatCache;
use super::ignore::Rules;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "set", rename_all = "snake_case")]
pub enum FileSet {
    /// One file (absent counts as a state too).
    Path { path: String },
    /// Glob patterns relative to `dir`; a matched directory counts with everything under it.
    Glob { dir: String, patterns: Vec<String> },
    /// Everything under `dir`, without `.git`, cargo target directories (those holding a
    /// `CACHEDIR.TAG`) and what `ignore` rules leave out.
    Tree {
        dir: String,
        #[serde(default)]
        ignore: Vec<String>,
    },
}

/// Where a run looks files up.
pub struct Context<'a> {
    pub root: &'a Path,
    pub stat: &'a StatCache,
    /// Never part of any input: the cache itself, the target directory.
    pub skip: &'a [PathBuf],
}

impl FileSet {
    /// The path a changed entry is reported as, relative to the root where possible.
    pub fn entry_path(&self, entry: &str) -> String {
        let base = match self {
            FileSet::Path { path } => return path.clone(),
            FileSet::Glob { dir, .. } | FileSet::Tree { dir, .. } => dir,
        };
        if base.is_empty() || base == "." {
            entry.to_string()
        } else {
            format!("{base}/{entry}")
        }
    }

    /// The digest of every file in the set now, by path relative to the set's directory.
    pub fn entries(&self, cx: &Context) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match self {
            FileSet::Path { path } => {
                if let Some(digest) = cx.stat.digest(&resolve(cx.root, path)) {
                    out.insert(String::new(), digest);
                }
            }
            FileSet::Glob { dir, patterns } => {
                let base = resolve(cx.root, dir);
                for pattern in patterns {
                    let full = base.join(pattern);
                    let Ok(paths) = glob::glob(&full.to_string_lossy()) else {
                        // An invalid pattern was rejected when the job was declared.
                        continue;
                    };
                    for path in paths.flatten() {
                        if path.is_dir() {
                            walk(cx, &base, &path, &Rules::default(), &mut out);
                        } else {
                            add(cx, &base, &path, &mut out);
                        }
                    }
                }
            }
            FileSet::Tree { dir, ignore } => {
                let base = resolve(cx.root, dir);
                walk(cx, &base, &base, &Rules::parse(ignore), &mut out);
            }
        }
        out
    }
}

/// A path as stored: relative to the root when inside it.
pub fn relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

pub fn resolve(root: &Path, stored: &str) -> PathBuf {
    let p = Path::new(stored);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

fn add(cx: &Context, base: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
    if cx.skip.iter().any(|s| path.starts_with(s)) {
        return;
    }
    if let Some(digest) = cx.stat.digest(path) {
        let rel = path.strip_prefix(base).unwrap_or(path);
        out.insert(rel.to_string_lossy().into_owned(), digest);
    }
}

fn walk(cx: &Context, base: &Path, from: &Path, rules: &Rules, out: &mut BTreeMap<String, String>) {
    let prune = !rules.has_exceptions();
    let mut it = walkdir::WalkDir::new(from).follow_links(false).into_iter();
    while let Some(entry) = it.next() {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let is_dir = entry.file_type().is_dir();
        if is_dir {
            let skipped = entry.depth() > 0
                && (entry.file_name() == ".git"
                    || path.join("CACHEDIR.TAG").exists()
                    || cx.skip.iter().any(|s| path == s));
            if skipped {
                it.skip_current_dir();
                continue;
            }
        }
        let rel = path.strip_prefix(base).unwrap_or(path).to_string_lossy();
        if !rules.is_empty() && !rel.is_empty() && rules.excludes(&rel) {
            if is_dir && prune {
                it.skip_current_dir();
            }
            continue;
        }
        if !is_dir {
            add(cx, base, path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_tree_leaves_out_git_target_dirs_and_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("src/main.rs", "fn main() {}"),
            (".git/HEAD", "ref"),
            ("target/CACHEDIR.TAG", "tag"),
            ("target/debug/app", "bin"),
            ("notes.log", "log"),
            ("Cargo.toml", "[package]"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), text).unwrap();
        }
        let stat = StatCache::default();
        let cx = Context {
            root,
            stat: &stat,
            skip: &[],
        };
        let set = FileSet::Tree {
            dir: ".".into(),
            ignore: vec!["*.log".into()],
        };
        let names: Vec<String> = set.entries(&cx).into_keys().collect();
        assert_eq!(names, ["Cargo.toml", "src/main.rs"]);
        let glob = FileSet::Glob {
            dir: ".".into(),
            patterns: vec!["src".into(), "*.toml".into()],
        };
        let names: Vec<String> = glob.entries(&cx).into_keys().collect();
        assert_eq!(names, ["Cargo.toml", "src/main.rs"]);
    }
}
