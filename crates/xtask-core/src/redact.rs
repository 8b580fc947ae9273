//! Secret masking. Values registered here are replaced by `***` in every event.
//!
//! One multi-pattern matcher (Aho-Corasick, leftmost-longest) finds every secret in one pass,
//! in each of the forms it can reach output in: as is, line by line (a multi-line secret may
//! be printed a line at a time), JSON- and Rust-escaped (`assert_eq`, reports), and shell-quoted
//! (`reproduce:` lines). [`Stream`] carries the end of a chunk over to the next one, so a secret
//! split across two chunks of an over-long line is still masked whole.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::events::Event;

pub const MASK: &str = "***";

/// Shorter values are not masked: masking a two-letter value would hide every occurrence of
/// those letters in the log and protect nothing. CI systems are still told about them.
pub const MIN_SECRET_LEN: usize = 3;

/// What registering a value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// New, masked from now on.
    Masked,
    /// Already registered.
    Known,
    /// Too short to mask (see [`MIN_SECRET_LEN`]).
    TooShort,
}

#[derive(Default)]
pub struct Redactor {
    secrets: Vec<String>,
    /// Every form of every secret, the matcher's patterns.
    patterns: Vec<String>,
    matcher: Option<AhoCorasick>,
    longest: usize,
}

/// The forms of `value` that may appear in output.
fn forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    let lines: Vec<&str> = value
        .lines()
        .filter(|l| l.len() >= MIN_SECRET_LEN)
        .collect();
    if lines.len() > 1 {
        forms.extend(lines.iter().map(|l| l.to_string()));
    }
    for text in [value].into_iter().chain(lines) {
        let json = serde_json::to_string(text).unwrap_or_default();
        forms.push(json[1..json.len() - 1].to_string());
        let debug = format!("{text:?}");
        forms.push(debug[1..debug.len() - 1].to_string());
        forms.push(text.replace('\'', r"'\''"));
    }
    forms.sort();
    forms.dedup();
    forms
}

impl Redactor {
    pub fn add(&mut self, value: &str) -> Added {
        if value.len() < MIN_SECRET_LEN {
            return Added::TooShort;
        }
        if self.secrets.iter().any(|s| s == value) {
            return Added::Known;
        }
        self.secrets.push(value.to_string());
        for form in forms(value) {
            if form.len() >= MIN_SECRET_LEN && !self.patterns.contains(&form) {
                self.patterns.push(form);
            }
        }
        self.longest = self.patterns.iter().map(String::len).max().unwrap_or(0);
        self.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&self.patterns)
            .ok();
        Added::Masked
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(text);
        };
        if matcher.find(text).is_none() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(matcher.replace_all(text, &vec![MASK; self.patterns.len()]))
    }

    pub fn redact_bytes(&self, bytes: &mut Vec<u8>) {
        if let Some(masked) = self.mask_prefix(bytes, bytes.len()).0 {
            *bytes = masked;
        }
    }

    /// Masks every secret that starts before `safe` in `buf`. Returns the masked text (`None`
    /// when nothing matched and everything up to `safe` can go out as is) and where the
    /// unmasked rest begins (at least `safe`, or after the last match).
    fn mask_prefix(&self, buf: &[u8], safe: usize) -> (Option<Vec<u8>>, usize) {
        let Some(matcher) = &self.matcher else {
            return (None, safe);
        };
        let mut out: Option<Vec<u8>> = None;
        let mut cursor = 0;
        for m in matcher.find_iter(buf) {
            if m.start() >= safe {
                break;
            }
            let out = out.get_or_insert_with(|| Vec::with_capacity(buf.len()));
            out.extend_from_slice(&buf[cursor..m.start()]);
            out.extend_from_slice(MASK.as_bytes());
            cursor = m.end();
        }
        match out {
            None => (None, safe),
            Some(mut out) => {
                let end = cursor.max(safe);
                out.extend_from_slice(&buf[cursor..end]);
                (Some(out), end)
            }
        }
    }

    pub fn redact_event(&self, event: &mut Event) {
        if self.is_empty() {
            return;
        }
        let fix = |s: &mut String| {
            if let Cow::Owned(masked) = self.redact_str(s) {
                *s = masked;
            }
        };
        match event {
            Event::Output { bytes, .. } => self.redact_bytes(bytes),
            Event::CommandStarted { display, .. } => fix(display),
            Event::CommandFinished {
                display, status, ..
            } => {
                fix(display);
                fix(status);
            }
            Event::Message { text, .. } => fix(text),
            Event::JobRetrying { error, .. } => fix(error),
            Event::Diagnostic { message, file, .. } => {
                fix(message);
                fix(file);
            }
            Event::Export { value, .. } => fix(value),
            Event::TestCase { name, output, .. } => {
                fix(name);
                fix(output);
            }
            Event::JobFinished(summary) => redact_summary(self, summary),
            Event::RunFinished {
                jobs, rerun_hint, ..
            } => {
                for job in jobs {
                    redact_summary(self, job);
                }
                fix(rerun_hint);
            }
            Event::RunStarted { task, jobs } => {
                fix(task);
                jobs.iter_mut().for_each(fix);
            }
            Event::JobStarted { name, .. } => fix(name),
        }
    }
}

/// A job's name (a matrix label may hold a secret) and why it did not pass.
fn redact_summary(redactor: &Redactor, summary: &mut crate::events::JobSummary) {
    use crate::events::Outcome::*;
    if let Cow::Owned(masked) = redactor.redact_str(&summary.name) {
        summary.name = masked;
    }
    let text = match &mut summary.outcome {
        Failed { error } => error,
        Skipped { reason } | Cancelled { reason } => reason,
        Blocked { by } => by,
        Passed | UpToDate => return,
    };
    if let Cow::Owned(masked) = redactor.redact_str(text) {
        *text = masked;
    }
}

/// Masking for one output stream (a command's output) that arrives in chunks. A chunk that ends
/// a line is masked whole; otherwise the last `longest - 1` bytes wait for the next chunk, since
/// a secret may continue there. No pattern spans a line end (multi-line secrets are also
/// matched line by line), so nothing waits across a newline.
#[derive(Default)]
pub struct Stream {
    pending: Vec<u8>,
}

impl Stream {
    /// The part of `chunk` (after what was pending) that can be shown now, masked.
    pub fn push(&mut self, redactor: &Redactor, chunk: Vec<u8>) -> Vec<u8> {
        let buf = if self.pending.is_empty() {
            chunk
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(&chunk);
            buf
        };
        let safe = if buf.ends_with(b"\n") || redactor.is_empty() {
            buf.len()
        } else {
            buf.len().saturating_sub(redactor.longest.saturating_sub(1))
        };
        let (masked, end) = redactor.mask_prefix(&buf, safe);
        match masked {
            Some(out) => {
                if end < buf.len() {
                    self.pending = buf[end..].to_vec();
                }
                out
            }
            None => {
                let mut out = buf;
                if end < out.len() {
                    self.pending = out.split_off(end);
                }
                out
            }
        }
    }

    /// What is still held back, masked (the stream ended).
    pub fn finish(&mut self, redactor: &Redactor) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.pending);
        redactor.redact_bytes(&mut rest);
        rest
    }
}

/// What `secret(name)` returns for a variable that is not set: planning works without it, and
/// the process layer refuses to start a command whose argv, environment or input contains it
/// (see [`unset_secret_in`]), naming the secret.
pub fn unset_secret_placeholder(name: &str) -> String {
    format!("{UNSET_OPEN}{name}{UNSET_CLOSE}")
}

const UNSET_OPEN: &str = "\u{27ea}unset secret ";
const UNSET_CLOSE: &str = "\u{27eb}";

/// The name of an unset secret whose placeholder `text` contains.
pub fn unset_secret_in(text: &str) -> Option<&str> {
    let start = text.find(UNSET_OPEN)? + UNSET_OPEN.len();
    let len = text[start..].find(UNSET_CLOSE)?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    #[test]
    fn masks_every_occurrence_longest_first() {
        let r = redactor(&["hunter2", "hunter2-extended"]);
        assert_eq!(r.redact_str("a hunter2-extended b hunter2"), "a *** b ***");
        let mut bytes = b"x hunter2 y hunter2\n".to_vec();
        r.redact_bytes(&mut bytes);
        assert_eq!(bytes, b"x *** y ***\n");
    }

    #[test]
    fn masks_escaped_and_quoted_forms() {
        let r = redactor(&[r#"pa"ss\word"#, "it's-secret"]);
        assert_eq!(
            r.redact_str(r#"expected "pa\"ss\\word""#),
            r#"expected "***""#
        );
        assert_eq!(
            r.redact_str(r"cargo xtask ci 'it'\''s-secret' --job x"),
            "cargo xtask ci '***' --job x"
        );
    }

    #[test]
    fn masks_multi_line_secrets_line_by_line() {
        let r = redactor(&["-----BEGIN KEY-----\nabcdef\n-----END KEY-----"]);
        assert_eq!(
            r.redact_str("key: -----BEGIN KEY-----\nabcdef\n-----END KEY-----"),
            "key: ***"
        );
        assert_eq!(r.redact_str("line abcdef\n"), "line ***\n");
    }

    #[test]
    fn a_secret_split_across_chunks_is_masked_at_every_split_point() {
        let secret = "s3cr3t-value-42";
        let r = redactor(&[secret, "other-one"]);
        let line = format!("{}{secret}{}\n", "a".repeat(100), "b".repeat(50));
        for split in 0..line.len() {
            let mut stream = Stream::default();
            let mut out = stream.push(&r, line.as_bytes()[..split].to_vec());
            out.extend(stream.push(&r, line.as_bytes()[split..].to_vec()));
            out.extend(stream.finish(&r));
            let expected = format!("{}***{}\n", "a".repeat(100), "b".repeat(50));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected,
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_stream_without_secrets_passes_chunks_through() {
        let r = Redactor::default();
        let mut stream = Stream::default();
        assert_eq!(stream.push(&r, b"abc".to_vec()), b"abc");
        assert!(stream.finish(&r).is_empty());
    }

    #[test]
    fn masks_diagnostics() {
        let r = redactor(&["hunter2"]);
        let mut event = Event::Diagnostic {
            job: None,
            file: "src/hunter2.rs".into(),
            line: 1,
            column: 1,
            level: crate::events::Severity::Error,
            message: "token hunter2 leaked".into(),
        };
        r.redact_event(&mut event);
        let Event::Diagnostic { file, message, .. } = event else {
            unreachable!()
        };
        assert_eq!(
            (file.as_str(), message.as_str()),
            ("src/***.rs", "token *** leaked")
        );
    }

    #[test]
    fn refuses_tiny_values() {
        let mut r = Redactor::default();
        assert_eq!(r.add("ab"), Added::TooShort);
        assert!(r.is_empty());
        assert_eq!(r.add("abc"), Added::Masked);
        assert_eq!(r.add("abc"), Added::Known);
    }

    #[test]
    fn finds_unset_secret_placeholders() {
        let text = format!("Bearer {}", unset_secret_placeholder("API_TOKEN"));
        assert_eq!(unset_secret_in(&text), Some("API_TOKEN"));
        assert_eq!(unset_secret_in("Bearer abc"), None);
    }
}
