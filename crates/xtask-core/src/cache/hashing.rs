//! Content digests (SHA-256, already in the tree for release checksums: no new crate to build)
//! and the stat cache that makes re-checking an unchanged tree cheap: a file whose (path, size,
//! mtime, ctime, inode) match a cached entry keeps its digest without being read.
//!
//! Like git's index, an entry is only trusted when the file had not been touched for a while
//! when it was hashed: a file written twice within the file system's timestamp granularity
//! would otherwise keep a stale digest (a false skip).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// How long a file must have been left alone before its cached digest is trusted.
const SETTLE: Duration = Duration::from_secs(2);

/// Lower-case hex; every job's identity is a few dozen digests, so no formatter per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// SHA-256 of some text, hex.
pub fn digest_text(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

pub fn digest_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
    mode: u32,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            inode: meta.ino(),
            mode: meta.mode(),
        }
    }

    /// Whether the file was last changed long enough before `now` for its digest to be kept.
    fn settled(&self, now: SystemTime) -> bool {
        let now_ns = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let settle = SETTLE.as_nanos() as i128;
        // ctime moves with every write and every mtime change, and cannot be set back.
        self.ctime_ns + settle < now_ns
    }
}

/// (path, size, mtime, ctime, inode) → digest, loaded from and saved to one file per cache.
#[derive(Default)]
pub struct StatCache {
    entries: Mutex<HashMap<PathBuf, (Stat, String)>>,
    changed: Mutex<bool>,
}

impl StatCache {
    /// Reads `path`; a missing or damaged file gives an empty cache (damaged lines are dropped).
    pub fn load(path: &Path) -> StatCache {
        let mut entries = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Some((file, entry)) = parse_line(line) {
                    entries.insert(file, entry);
                }
            }
        }
        StatCache {
            entries: Mutex::new(entries),
            changed: Mutex::new(false),
        }
    }

    /// Writes the cache atomically (a temp file renamed over the old one), if it changed.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if !*self.changed.lock().unwrap() {
            return Ok(());
        }
        let entries = self.entries.lock().unwrap();
        let mut text = String::with_capacity(entries.len() * 160);
        for (file, (s, digest)) in entries.iter() {
            let Some(file) = file.to_str().filter(|f| !f.contains(['\t', '\n'])) else {
                continue;
            };
            text.push_str(&format!(
                "{digest}\t{}\t{}\t{}\t{}\t{}\t{file}\n",
                s.size, s.mtime_ns, s.ctime_ns, s.inode, s.mode
            ));
        }
        drop(entries);
        super::store::write_atomically(path, text.as_bytes())
    }

    /// The digest of a file's content (plus `+x` when it is executable; `->target` for a
    /// symlink, which is never followed). `None` when the path does not exist.
    pub fn digest(&self, path: &Path) -> Option<String> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).ok()?;
            return Some(format!("->{}", target.display()));
        }
        if meta.is_dir() {
            return Some("dir".into());
        }
        let stat = Stat::of(&meta);
        if let Some((cached, digest)) = self.entries.lock().unwrap().get(path) {
            if *cached == stat {
                return Some(digest.clone());
            }
        }
        let now = SystemTime::now();
        let digest = hash_file(path, stat.mode)?;
        // Re-stat: a file changed while it was read must not be cached under the old stat.
        let after = std::fs::symlink_metadata(path).ok().map(|m| Stat::of(&m));
        if after == Some(stat) && stat.settled(now) {
            self.entries
                .lock()
                .unwrap()
                .insert(path.to_path_buf(), (stat, digest.clone()));
            *self.changed.lock().unwrap() = true;
        }
        Some(digest)
    }

    #[cfg(test)]
    pub fn entries_len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

fn hash_file(path: &Path, mode: u32) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let mut digest = hex(&hasher.finalize());
    if mode & 0o111 != 0 {
        digest.push_str("+x");
    }
    Some(digest)
}

fn parse_line(line: &str) -> Option<(PathBuf, (Stat, String))> {
    let mut parts = line.splitn(7, '\t');
    let digest = parts.next()?.to_string();
    let size = parts.next()?.parse().ok()?;
    let mtime_ns = parts.next()?.parse().ok()?;
    let ctime_ns = parts.next()?.parse().ok()?;
    let inode = parts.next()?.parse().ok()?;
    let mode = parts.next()?.parse().ok()?;
    let file = PathBuf::from(parts.next()?);
    if digest.is_empty() || file.as_os_str().is_empty() {
        return None;
    }
    let stat = Stat {
        size,
        mtime_ns,
        ctime_ns,
        inode,
        mode,
    };
    Some((file, (stat, digest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn settle() {
        std::thread::sleep(SETTLE + Duration::from_millis(100));
    }

    #[test]
    fn digests_are_lower_case_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            digest_text("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_changed_file_gets_a_new_digest_even_with_the_same_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        fs::write(&path, "one").unwrap();
        settle();
        let cache = StatCache::default();
        let first = cache.digest(&path).unwrap();
        assert_eq!(cache.entries_len(), 1);
        // Same size, mtime put back: ctime still moves, so the stale digest is not used.
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::write(&path, "two").unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let second = cache.digest(&path).unwrap();
        assert_ne!(first, second);
        assert_eq!(second, digest_bytes(b"two"));
    }

    #[test]
    fn recently_written_files_are_not_cached_and_the_cache_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        let old = dir.path().join("old");
        fs::write(&old, "y").unwrap();
        settle();
        fs::write(&fresh, "x").unwrap();
        let cache = StatCache::default();
        cache.digest(&fresh).unwrap();
        cache.digest(&old).unwrap();
        assert_eq!(cache.entries_len(), 1, "only the settled file is cached");
        let file = dir.path().join("stat-cache");
        cache.save(&file).unwrap();
        let loaded = StatCache::load(&file);
        assert_eq!(loaded.entries_len(), 1);
        assert_eq!(loaded.digest(&old).unwrap(), digest_bytes(b"y"));
    }

    #[test]
    fn a_damaged_cache_file_loads_what_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stat-cache");
        fs::write(&file, "abc\t1\t2\t3\t4\t5\t/x\nbroken line\nabc\t1\t2").unwrap();
        assert_eq!(StatCache::load(&file).entries_len(), 1);
    }
}
