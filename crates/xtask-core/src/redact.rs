//! Secret masking. Values registered here are replaced by `***` in every event.

use std::borrow::Cow;

use crate::events::Event;

pub const MASK: &str = "***";

#[derive(Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Returns whether the value is new (and long enough to be worth masking).
    pub fn add(&mut self, value: &str) -> bool {
        // Very short values would mask half the log and protect nothing.
        if value.len() < 3 || self.secrets.iter().any(|s| s == value) {
            return false;
        }
        self.secrets.push(value.to_string());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        true
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    pub fn redact_bytes(&self, bytes: &mut Vec<u8>) {
        for secret in &self.secrets {
            let needle = secret.as_bytes();
            if find(bytes, needle).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = &bytes[..];
            while let Some(at) = find(rest, needle) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(MASK.as_bytes());
                rest = &rest[at + needle.len()..];
            }
            out.extend_from_slice(rest);
            *bytes = out;
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
            Event::JobFinished(summary) => redact_outcome(self, &mut summary.outcome),
            Event::RunFinished { jobs, .. } => {
                for job in jobs {
                    redact_outcome(self, &mut job.outcome);
                }
            }
            Event::RunStarted { .. } | Event::JobStarted { .. } => {}
        }
    }
}

fn redact_outcome(redactor: &Redactor, outcome: &mut crate::events::Outcome) {
    use crate::events::Outcome::*;
    let text = match outcome {
        Failed { error } => error,
        Skipped { reason } | Cancelled { reason } => reason,
        Passed | UpToDate | Blocked { .. } => return,
    };
    if let Cow::Owned(masked) = redactor.redact_str(text) {
        *text = masked;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let mut r = Redactor::default();
        r.add("hunter2");
        r.add("hunter2-extended");
        assert_eq!(r.redact_str("a hunter2-extended b hunter2"), "a *** b ***");
        let mut bytes = b"x hunter2 y hunter2\n".to_vec();
        r.redact_bytes(&mut bytes);
        assert_eq!(bytes, b"x *** y ***\n");
    }

    #[test]
    fn masks_diagnostics() {
        let mut r = Redactor::default();
        r.add("hunter2");
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
    fn ignores_tiny_values() {
        let mut r = Redactor::default();
        r.add("a");
        assert!(r.is_empty());
    }
}
