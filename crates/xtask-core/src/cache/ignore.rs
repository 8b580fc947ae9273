//! `.dockerignore` rules, as the Docker builder applies them to a build context: one pattern a
//! line (`#` comments), Go `filepath.Match` globs plus `**`, relative to the context root, a
//! leading `!` re-includes, and the last matching rule wins. A rule matching a directory
//! excludes everything under it.

use glob::{MatchOptions, Pattern};

#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<(Pattern, bool)>,
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Rules {
    pub fn parse(lines: &[String]) -> Rules {
        let mut rules = Vec::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
            let pattern = pattern.trim_end_matches('/');
            if pattern.is_empty() {
                continue;
            }
            if let Ok(p) = Pattern::new(pattern) {
                rules.push((p, include));
            }
        }
        Rules { rules }
    }

    /// Whether some rule re-includes: then an excluded directory must still be walked.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(_, include)| *include)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `rel` (a `/`-separated path relative to the context) is left out of the context.
    pub fn excludes(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (pattern, include) in &self.rules {
            if matches_self_or_parent(pattern, rel) {
                excluded = !include;
            }
        }
        excluded
    }
}

fn matches_self_or_parent(pattern: &Pattern, rel: &str) -> bool {
    if pattern.matches_with(rel, OPTIONS) {
        return true;
    }
    rel.match_indices('/')
        .any(|(i, _)| pattern.matches_with(&rel[..i], OPTIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lines: &[&str]) -> Rules {
        Rules::parse(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn docker_rules() {
        let r = rules(&[
            "# comment",
            "target",
            "*.log",
            "docs/**/*.md",
            "!docs/keep.md",
            "/tmp/",
        ]);
        assert!(r.excludes("target"));
        assert!(r.excludes("target/debug/app"));
        assert!(r.excludes("a.log"));
        assert!(!r.excludes("sub/a.log"), "* does not cross a separator");
        assert!(r.excludes("docs/x/y.md"));
        assert!(r.excludes("docs/y.md"));
        assert!(!r.excludes("docs/keep.md"), "the last matching rule wins");
        assert!(r.excludes("tmp/file"));
        assert!(!r.excludes("src/main.rs"));
        assert!(r.has_exceptions());
    }
}
