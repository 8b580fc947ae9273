//! Reporters turn the event stream into output. The terminal reporter is always there; the
//! Actions, JUnit and JSON reporters plug into the same stream.

pub mod style;
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
