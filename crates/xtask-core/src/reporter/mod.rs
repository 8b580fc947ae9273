//! Reporters turn the event stream into output. The terminal reporter is always there; the
//! Actions, JUnit and JSON reporters plug into the same stream.

pub mod annotations;
pub mod github;
pub mod json;
pub mod junit;
pub mod spool;
pub mod style;
pub mod summary;
pub mod terminal;

use std::collections::VecDeque;

/// The last bytes of a job's output, for the failure recap.
#[derive(Default, Clone)]
pub struct Tail {
    bytes: VecDeque<u8>,
}

impl Tail {
    const LIMIT: usize = 64 * 1024;

    pub fn push(&mut self, bytes: &[u8]) {
        // Only the last LIMIT bytes can stay: a big chunk is not copied in whole to be dropped.
        let bytes = &bytes[bytes.len().saturating_sub(Self::LIMIT)..];
        self.bytes.extend(bytes);
        let excess = self.bytes.len().saturating_sub(Self::LIMIT);
        self.bytes.drain(..excess);
    }

    /// The last `n` lines.
    pub fn last_lines(&self, n: usize) -> String {
        let (a, b) = self.bytes.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Writes a report file, creating its directory.
pub fn write_report(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

/// Removes ANSI escape sequences (colours from compilers) for files that are not terminals.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `2026-11-22T21:40:00` (UTC), the form JUnit consumers accept.
pub fn timestamp(at: std::time::SystemTime) -> String {
    crate::utc::datetime(crate::utc::seconds(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours() {
        assert_eq!(strip_ansi("\x1b[1;31merror\x1b[0m: x"), "error: x");
    }

    #[test]
    fn formats_timestamps() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_383_600);
        assert_eq!(timestamp(at), "2026-11-22T21:40:00");
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00");
        assert_eq!(timestamp(std::time::UNIX_EPOCH), "1970-01-01T00:00:00");
    }
}
