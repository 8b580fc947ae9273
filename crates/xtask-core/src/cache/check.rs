//! Re-checks a stored record against now: the job's identity, its needs' fingerprints, then
//! each recorded fact, cheapest first. The first difference is the reason the job runs, named
//! the way `--explain` prints it (a path for a file).

use std::collections::BTreeMap;

use super::files::FileSet;
use super::hashing::digest_text;
use super::store::Record;
use super::{Fact, Session};

/// Each identity value as a digest, the way records keep them.
pub fn digest_identity(identity: &[(String, String)]) -> Vec<(String, String)> {
    identity
        .iter()
        .map(|(k, v)| (k.clone(), digest_text(v)))
        .collect()
}

/// `None` when nothing differs: the job is up to date.
pub fn first_difference(
    record: &Record,
    identity: &[(String, String)],
    needs: &[(String, String)],
    session: &Session,
    env_var: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let stored: BTreeMap<&str, &str> = record
        .identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (key, digest) in identity {
        match stored.get(key.as_str()) {
            Some(old) if *old == digest => {}
            Some(_) => return Some(format!("{key} changed")),
            None => return Some(format!("{key} is new")),
        }
    }
    if let Some((key, _)) = record
        .identity
        .iter()
        .find(|(k, _)| !identity.iter().any(|(n, _)| n == k))
    {
        return Some(format!("{key} is gone"));
    }
    if record.needs.len() != needs.len() || record.needs.iter().zip(needs).any(|(a, b)| a.0 != b.0)
    {
        return Some("its needs changed".into());
    }
    for ((name, old), (_, new)) in record.needs.iter().zip(needs) {
        if old != new {
            return Some(format!(
                "needs `{name}`, whose fingerprint changed (it ran again or its result differs)"
            ));
        }
    }
    // Cheapest first: variables, then files (stat cache), then commands (a process each).
    for fact in &record.facts {
        if let Fact::Env { name, digest } = fact {
            if env_var(name).map(|v| digest_text(&v)) != *digest {
                return Some(format!("environment variable {name} changed"));
            }
        }
    }
    let cx = session.files();
    for fact in &record.facts {
        if let Fact::Files { set, entries } = fact {
            if let Some(change) = file_change(set, entries, &set.entries(&cx)) {
                return Some(change);
            }
        }
    }
    for fact in &record.facts {
        if let Fact::Command {
            argv,
            env,
            dir,
            digest,
        } = fact
        {
            if session.command_digest(argv, env, dir.as_deref()).as_ref() != Some(digest) {
                return Some(format!("the output of `{}` changed", argv.join(" ")));
            }
        }
    }
    None
}

/// The first path that was added, removed or changed, as a sentence.
pub fn file_change(
    set: &FileSet,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Option<String> {
    if old == new {
        return None;
    }
    for (path, digest) in new {
        match old.get(path) {
            None => return Some(format!("{} was added", set.entry_path(path))),
            Some(d) if d != digest => return Some(format!("{} changed", set.entry_path(path))),
            _ => {}
        }
    }
    let removed = old.keys().find(|p| !new.contains_key(*p))?;
    Some(format!("{} was removed", set.entry_path(removed)))
}
