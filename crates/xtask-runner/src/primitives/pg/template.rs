//! The initdb cache: `initdb` is most of a throwaway cluster's start-up (about 1.5 s of CPU),
//! and its result depends only on the server build and the options. The first cluster of a
//! build copies its fresh data dir here; later clusters copy from here instead of running
//! initdb again.
//!
//! Where: `XTASK_PG_CACHE` (`off` disables it), else `$XDG_CACHE_HOME/xtask/pg`, else
//! `$HOME/.cache/xtask/pg`. One entry per server version, binary (path, size, mtime) and locale;
//! entries appear by atomic rename, so concurrent runs never see a half-written one.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::cluster::Options;
use super::discover::Install;
use super::Ctx;

pub fn root(ctx: &Ctx) -> Option<PathBuf> {
    match ctx.env_var("XTASK_PG_CACHE") {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => ctx
            .env_var("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| ctx.env_var("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|c| c.join("xtask").join("pg")),
    }
}

/// The cache entry for this build and these options.
pub fn entry(root: &Path, install: &Install, options: &Options) -> PathBuf {
    let postgres = install.tool("postgres");
    let meta = postgres.metadata().ok();
    let identity = format!(
        "{}|{}|{}|{}",
        postgres.display(),
        meta.as_ref().map_or(0, |m| m.size()),
        meta.as_ref().map_or(0, |m| m.mtime()),
        options.locale
    );
    let hash = identity.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    root.join(format!("{}-{hash:016x}", install.version))
}

/// Whether `entry` holds a complete data dir.
pub fn ready(entry: &Path) -> bool {
    entry.join("data").join("PG_VERSION").is_file()
}

/// Copies a fresh data dir into the cache (best effort: a failure only costs speed).
pub fn store(entry: &Path, data: &Path) {
    let Some(parent) = entry.parent() else {
        return;
    };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let Ok(staging) = tempfile::Builder::new().prefix(".new-").tempdir_in(parent) else {
        return;
    };
    if copy_tree(data, &staging.path().join("data"), None).is_err() {
        return;
    }
    // Whoever renames first wins; a loser's copy goes with its temp dir.
    let staging = staging.keep();
    if std::fs::rename(&staging, entry).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
}

/// Copies the cached data dir to `data` (which must not exist), owned by `owner` if given.
pub fn restore(entry: &Path, data: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    copy_tree(&entry.join("data"), data, owner)
}

/// Copies a directory tree keeping permission bits (PostgreSQL insists on 0700/0600).
fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry.path().strip_prefix(from).unwrap();
        let target = to.join(rel);
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
            std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(meta.mode() & 0o7777),
            )?;
        } else if entry.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_keep_modes_and_entries_appear_whole() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("src");
        std::fs::create_dir_all(data.join("base/1")).unwrap();
        std::fs::create_dir_all(data.join("pg_notify")).unwrap();
        std::fs::write(data.join("PG_VERSION"), "16\n").unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        let entry = t.path().join("cache/16.1-x");
        assert!(!ready(&entry));
        store(&entry, &data);
        assert!(ready(&entry));
        let copy = t.path().join("copy");
        restore(&entry, &copy, None).unwrap();
        assert!(copy.join("pg_notify").is_dir());
        assert_eq!(
            std::fs::read_to_string(copy.join("PG_VERSION")).unwrap(),
            "16\n"
        );
        assert_eq!(copy.metadata().unwrap().mode() & 0o777, 0o700);
    }
}
