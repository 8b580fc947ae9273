//! Which downs the migration test checks. All of them by default; in pull-request mode
//! (`since: "<git ref>"` or `last: N`) only those of the migrations the pull request adds, the
//! others being applied first as the base; never those listed as `irreversible`, nor those of
//! migrations that have no down at all (sqlx simple migrations, diesel without `down.sql`).
//! Every migration is still applied fresh on every version.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::process::Spec;

use super::error::PlanError;
use super::matrix::Plan;
use super::migrate::Migration;

#[derive(Default)]
pub struct Selection {
    /// A git ref: migrations whose up file is not in that commit's tree are new.
    pub since: Option<String>,
    /// The newest N migrations are new.
    pub last: Option<usize>,
    /// Migrations (by id, version or name) whose down is known not to work.
    pub irreversible: Vec<String>,
}

/// Lists the files under `dir` in a commit, relative to `dir`.
pub type ListAt<'a> = &'a dyn Fn(&str) -> Result<Vec<String>, PlanError>;

/// The plan for `migrations` (read from `display`); `list_at` reads a commit's tree. Returns
/// the plan and notes on what is not tested and why.
pub fn select(
    migrations: Vec<Migration>,
    selection: &Selection,
    display: &str,
    list_at: ListAt,
) -> Result<(Plan, Vec<String>), PlanError> {
    let total = migrations.len();
    let mut notes = Vec::new();
    let mut new = vec![true; total];
    match (&selection.since, selection.last) {
        (Some(_), Some(_)) => return Err(PlanError::SinceAndLast),
        (Some(since), None) => {
            let base = list_at(since)?;
            let prefix = format!("{}/", display.trim_end_matches('/'));
            for (i, m) in migrations.iter().enumerate() {
                let rel = m.up.display.strip_prefix(&prefix).unwrap_or(&m.up.display);
                new[i] = !base.iter().any(|f| f == rel);
            }
            notes.push(pr_note(&migrations, &new, &format!("since {since}")));
        }
        (None, Some(n)) => {
            for (i, flag) in new.iter_mut().enumerate() {
                *flag = i + n.min(total) >= total;
            }
            notes.push(pr_note(&migrations, &new, &format!("last: {n}")));
        }
        (None, None) => {}
    }
    let mut check_down = new.clone();
    for name in &selection.irreversible {
        let Some(i) = migrations
            .iter()
            .position(|m| &m.id == name || &m.version == name || &m.name == name)
        else {
            return Err(PlanError::UnknownIrreversible {
                name: name.clone(),
                dir: display.into(),
            });
        };
        let file = migrations[i]
            .down
            .as_ref()
            .map_or(migrations[i].id.clone(), |d| d.display.clone());
        notes.push(format!("{file}: down not tested (listed as irreversible)"));
        check_down[i] = false;
    }
    let without: Vec<&str> = migrations
        .iter()
        .zip(&check_down)
        .filter(|(m, c)| **c && m.down.is_none())
        .map(|(m, _)| m.id.as_str())
        .collect();
    if !without.is_empty() {
        notes.push(format!(
            "{} migration(s) without a down are only applied: {}",
            without.len(),
            short_list(&without)
        ));
    }
    for (m, c) in migrations.iter().zip(check_down.iter_mut()) {
        *c &= m.down.is_some();
    }
    Ok((
        Plan {
            migrations,
            check_down,
        },
        notes,
    ))
}

fn pr_note(migrations: &[Migration], new: &[bool], how: &str) -> String {
    let names: Vec<&str> = migrations
        .iter()
        .zip(new)
        .filter(|(_, n)| **n)
        .map(|(m, _)| m.id.as_str())
        .collect();
    format!(
        "pull-request mode ({how}): {} of {} migrations are new{}; the {} before them are applied as the base",
        names.len(),
        migrations.len(),
        if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", short_list(&names))
        },
        migrations.len() - names.len()
    )
}

fn short_list(names: &[&str]) -> String {
    let mut text = names.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        text.push_str(&format!(", … and {} more", names.len() - 5));
    }
    text
}

/// `git ls-tree` of `dir` at `rev`, relative to `dir`, through the job's process layer (so a
/// cancelled job stops it).
pub fn git_list(dir: &Path, rev: &str, ctx: &super::Ctx) -> Result<Vec<String>, PlanError> {
    let git = |args: &[&str]| -> Result<String, PlanError> {
        let spec = Spec {
            env: ctx.env.clone(),
            ..Spec::query("git", args, dir)
        };
        let argv = spec.argv.clone();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink: crate::process::Sink = {
            let stderr = Arc::clone(&stderr);
            Arc::new(move |bytes| stderr.lock().unwrap().extend_from_slice(&bytes))
        };
        let finished =
            crate::process::execute(&spec, &ctx.token, sink).map_err(|e| PlanError::GitSpawn {
                command: argv.join(" "),
                reason: e.to_string(),
            })?;
        if !finished.success() {
            return Err(PlanError::GitFailed {
                command: argv.join(" "),
                status: finished.describe(),
                stderr: String::from_utf8_lossy(&stderr.lock().unwrap())
                    .trim()
                    .to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&finished.stdout).into_owned())
    };
    git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|_| PlanError::NotACommit { rev: rev.into() })?;
    let out = git(&["ls-tree", "-r", "--name-only", rev, "--", "."])?;
    Ok(out.lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::pg::migrate::Script;

    fn m(id: &str, down: bool) -> Migration {
        let script = |f: &str| Script {
            display: format!("m/{id}.{f}.sql"),
            sql: String::new(),
            transaction: true,
            refuse_empty: false,
        };
        Migration {
            id: id.into(),
            version: id.split('_').next().unwrap().into(),
            name: id.split_once('_').unwrap().1.into(),
            up: script("up"),
            down: down.then(|| script("down")),
        }
    }

    fn history() -> Vec<Migration> {
        vec![
            m("1_a", true),
            m("2_b", false),
            m("3_c", true),
            m("4_d", true),
        ]
    }

    #[test]
    fn by_default_every_down_that_exists_is_tested() {
        let (plan, notes) =
            select(history(), &Selection::default(), "m", &|_| unreachable!()).unwrap();
        assert_eq!(plan.check_down, [true, false, true, true]);
        assert_eq!(
            notes,
            ["1 migration(s) without a down are only applied: 2_b"]
        );
    }

    #[test]
    fn since_tests_what_the_base_commit_lacks() {
        let base = |rev: &str| {
            assert_eq!(rev, "origin/main");
            Ok(vec![
                "1_a.up.sql".to_string(),
                "2_b.up.sql".into(),
                "2_b.down.sql".into(),
            ])
        };
        let s = Selection {
            since: Some("origin/main".into()),
            ..Selection::default()
        };
        let (plan, notes) = select(history(), &s, "m", &base).unwrap();
        assert_eq!(plan.check_down, [false, false, true, true]);
        assert!(
            notes[0].contains("2 of 4 migrations are new (3_c, 4_d)"),
            "{notes:?}"
        );
    }

    #[test]
    fn last_and_irreversible() {
        let s = Selection {
            last: Some(1),
            irreversible: vec!["c".into()],
            ..Selection::default()
        };
        let (plan, _) = select(history(), &s, "m", &|_| unreachable!()).unwrap();
        assert_eq!(plan.check_down, [false, false, false, true]);
        let s = Selection {
            irreversible: vec!["1_a".into()],
            ..Selection::default()
        };
        let (plan, notes) = select(history(), &s, "m", &|_| unreachable!()).unwrap();
        assert_eq!(plan.check_down, [false, false, true, true]);
        assert_eq!(
            notes[0],
            "m/1_a.down.sql: down not tested (listed as irreversible)"
        );
        let s = Selection {
            irreversible: vec!["nope".into()],
            ..Selection::default()
        };
        match select(history(), &s, "m", &|_| unreachable!()) {
            Err(PlanError::UnknownIrreversible { name, dir }) => {
                assert_eq!((&*name, &*dir), ("nope", "m"))
            }
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn a_since_that_is_not_a_commit_stays_the_listing_error() {
        let s = Selection {
            since: Some("v9".into()),
            ..Selection::default()
        };
        let not_a_commit = |rev: &str| Err(PlanError::NotACommit { rev: rev.into() });
        let err = select(history(), &s, "m", &not_a_commit).err().unwrap();
        assert_eq!(
            err.to_string(),
            "option `since`: `v9` is not a commit in this repository"
        );
    }
}
