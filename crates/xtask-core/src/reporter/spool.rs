//! A buffered job's output, waiting to be printed as one block. It stays in memory up to
//! [`Spool::SPILL_AT`], then moves to an anonymous temp file, so a job that prints gigabytes
//! beside the live one costs disk, not the runner's memory. The file is unlinked as it is
//! created: it disappears when the spool is dropped, and with the process however it ends.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

#[derive(Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
}

impl Spool {
    /// Past this much output the spool moves to disk.
    pub const SPILL_AT: usize = 4 * 1024 * 1024;
    const READ_CHUNK: usize = 64 * 1024;

    pub fn push(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_ok() {
                return;
            }
            // The disk is full or gone: keep what follows in memory rather than lose it.
        } else if self.memory.len() + bytes.len() > Self::SPILL_AT {
            if let Ok(mut file) = tempfile::tempfile() {
                if file.write_all(&self.memory).is_ok() && file.write_all(bytes).is_ok() {
                    self.memory = Vec::new();
                    self.file = Some(file);
                    return;
                }
            }
        }
        self.memory.extend_from_slice(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.file.is_none()
    }

    /// Hands everything buffered to `out` in order, in chunks that end at a line end where the
    /// output has one, and empties the spool.
    pub fn drain(&mut self, mut out: impl FnMut(&[u8])) {
        if let Some(mut file) = self.file.take() {
            if file.seek(SeekFrom::Start(0)).is_ok() {
                let _ = read_lines(&mut file, &mut out);
            }
        }
        let memory = std::mem::take(&mut self.memory);
        if !memory.is_empty() {
            out(&memory);
        }
    }
}

fn read_lines(file: &mut File, out: &mut impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; Spool::READ_CHUNK];
    let mut filled = 0;
    loop {
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if filled > 0 {
                out(&buf[..filled]);
            }
            return Ok(());
        }
        filled += n;
        match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                out(&buf[..=last]);
                buf.copy_within(last + 1..filled, 0);
                filled -= last + 1;
            }
            None if filled == buf.len() => {
                out(&buf);
                filled = 0;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_disk_and_gives_everything_back_in_order() {
        let mut spool = Spool::default();
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\n";
        let lines = 2 * Spool::SPILL_AT / line.len();
        for _ in 0..lines {
            spool.push(line);
        }
        assert!(spool.file.is_some(), "past the limit the output is on disk");
        assert!(spool.memory.capacity() < Spool::SPILL_AT);
        let mut back = Vec::new();
        spool.drain(|chunk| {
            assert!(chunk.ends_with(b"\n"), "chunks end at line ends");
            back.extend_from_slice(chunk);
        });
        assert_eq!(back.len(), lines * line.len());
        assert!(back.chunks(line.len()).all(|l| l == line));
        assert!(spool.is_empty());
    }

    #[test]
    fn small_output_stays_in_memory() {
        let mut spool = Spool::default();
        spool.push(b"a\n");
        assert!(spool.file.is_none());
        let mut back = Vec::new();
        spool.drain(|c| back.extend_from_slice(c));
        assert_eq!(back, b"a\n");
    }
}
