//! Reading a migrations directory exactly as the tool that owns it does, so the order and the
//! set of migrations tested are the ones that tool would apply.
//!
//! - **diesel** (the directory holds subdirectories): every subdirectory not starting with `.`
//!   is a migration; its version is the name up to the first `_` with every `-` removed, and
//!   migrations run in the order of that string (diesel sorts `MigrationVersion`, a string, so
//!   `20170102…`, `2017-08-31-230457` and `2026-05-27-120000-0000` interleave by their digits,
//!   not by their length). `up.sql` is required, `down.sql` optional, `metadata.toml`
//!   `run_in_transaction = false` runs it outside a transaction. Loose files are not
//!   migrations to diesel: they are ignored with a note. Empty files are refused when run, as
//!   diesel does.
//! - **sqlx** (only files): `<version>_<description>.sql` (simple, no down) or
//!   `.up.sql`/`.down.sql` (reversible); the version is an integer and orders numerically; a
//!   first line `-- no-transaction` opts out of the transaction. Files that are not
//!   `<something>_<something>.sql` are ignored with a note; a `.sql` file whose prefix is not
//!   an integer is an error, as in sqlx.
//! - **refinery** (only files, at least one named as refinery names them):
//!   `V{version}__{name}.sql` (versioned) and `U{version}__{name}.sql` (unversioned), one
//!   version space ordered by its integer, each migration in its own transaction (refinery's
//!   default). refinery has no down migrations, so they are only applied. Other files are
//!   ignored with a note, as refinery passes over what its pattern does not match.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::LayoutError;
use super::migrate::{Migration, Script};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Diesel,
    Sqlx,
    Refinery,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Diesel => "diesel",
            Tool::Sqlx => "sqlx",
            Tool::Refinery => "refinery",
        }
    }
}

/// A directory's migrations in the order the tool applies them, plus notes on what was left out.
#[derive(Debug)]
pub struct Loaded {
    pub tool: Tool,
    pub migrations: Vec<Migration>,
    pub notes: Vec<String>,
}

/// Reads the migrations in `dir`; `display` is how `dir` is shown in messages.
pub fn load(dir: &Path, display: &str) -> Result<Loaded, LayoutError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LayoutError::ReadDir {
        dir: display.into(),
        source,
    })?;
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LayoutError::Read {
            path: display.into(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if entry.path().is_dir() {
            dirs.push(name);
        } else {
            files.push(name);
        }
    }
    dirs.sort();
    files.sort();
    let shown = |name: &str| format!("{}/{name}", display.trim_end_matches('/'));
    if dirs.is_empty() {
        if files.iter().any(|f| refinery_name(f).is_some()) {
            return refinery(dir, display, &files, &shown);
        }
        return sqlx(dir, &files, &shown);
    }
    let notes = files
        .iter()
        .map(|f| {
            format!(
                "{}: ignored (diesel reads only directories, not loose files)",
                shown(f)
            )
        })
        .collect();
    Ok(Loaded {
        tool: Tool::Diesel,
        migrations: diesel(dir, &dirs, &shown)?,
        notes,
    })
}

fn diesel(
    dir: &Path,
    names: &[String],
    shown: &dyn Fn(&str) -> String,
) -> Result<Vec<Migration>, LayoutError> {
    let mut out: Vec<Migration> = Vec::new();
    for dir_name in names {
        let path = dir.join(dir_name);
        let (version, name) = match dir_name.split_once('_') {
            Some((v, n)) => (v.replace('-', ""), n.to_string()),
            None => (dir_name.replace('-', ""), String::new()),
        };
        let up = path.join("up.sql");
        if !up.is_file() {
            return Err(LayoutError::NoUp {
                dir: shown(dir_name),
            });
        }
        let transaction = run_in_transaction(&path.join("metadata.toml"), &shown(dir_name))?;
        let script = |file: &Path| -> Result<Script, LayoutError> {
            let display = shown(&format!(
                "{dir_name}/{}",
                file.file_name().unwrap().to_string_lossy()
            ));
            let sql = std::fs::read_to_string(file).map_err(|source| LayoutError::Read {
                path: display.clone(),
                source,
            })?;
            Ok(Script {
                display,
                sql,
                transaction,
                refuse_empty: true,
            })
        };
        let down = path.join("down.sql");
        let migration = Migration {
            id: dir_name.clone(),
            version,
            name,
            up: script(&up)?,
            down: if down.is_file() {
                Some(script(&down)?)
            } else {
                None
            },
        };
        if let Some(other) = out.iter().find(|m| m.version == migration.version) {
            return Err(LayoutError::SameVersion {
                dir: shown(dir_name),
                version: migration.version,
                other: other.id.clone(),
            });
        }
        out.push(migration);
    }
    // diesel compares versions as strings.
    out.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(out)
}

/// `metadata.toml`'s `run_in_transaction` (default true).
fn run_in_transaction(path: &Path, shown: &str) -> Result<bool, LayoutError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(true);
    };
    let doc: toml_edit::DocumentMut = text.parse().map_err(|source| LayoutError::Metadata {
        dir: shown.into(),
        source,
    })?;
    match doc.get("run_in_transaction") {
        None => Ok(true),
        Some(item) => item
            .as_bool()
            .ok_or_else(|| LayoutError::TransactionFlag { dir: shown.into() }),
    }
}

/// A sqlx migration while loading: its description and files.
#[derive(Default)]
struct SqlxFiles {
    name: String,
    simple: Option<PathBuf>,
    up: Option<PathBuf>,
    down: Option<PathBuf>,
}

fn sqlx(
    dir: &Path,
    files: &[String],
    shown: &dyn Fn(&str) -> String,
) -> Result<Loaded, LayoutError> {
    let mut notes = Vec::new();
    let mut found: BTreeMap<i64, SqlxFiles> = BTreeMap::new();
    for file in files {
        let Some((prefix, rest)) = file.split_once('_').filter(|(_, r)| r.ends_with(".sql")) else {
            notes.push(format!(
                "{}: ignored (not a migration: sqlx reads <version>_<description>.sql)",
                shown(file)
            ));
            continue;
        };
        let version: i64 = prefix
            .parse()
            .map_err(|_| LayoutError::NotAVersion { file: shown(file) })?;
        let (name, kind) = if let Some(n) = rest.strip_suffix(".up.sql") {
            (n, 1)
        } else if let Some(n) = rest.strip_suffix(".down.sql") {
            (n, 2)
        } else {
            (rest.strip_suffix(".sql").unwrap_or(rest), 0)
        };
        let slot = found.entry(version).or_default();
        if !slot.name.is_empty() && slot.name != name {
            return Err(LayoutError::VersionTaken {
                file: shown(file),
                version,
                by: slot.name.clone(),
            });
        }
        slot.name = name.to_string();
        let place = match kind {
            0 => &mut slot.simple,
            1 => &mut slot.up,
            _ => &mut slot.down,
        };
        if place.is_some() {
            return Err(LayoutError::Twice {
                file: shown(file),
                version,
            });
        }
        *place = Some(dir.join(file));
    }
    let mut migrations = Vec::new();
    for (version, f) in found {
        let script = |p: &Path| -> Result<Script, LayoutError> {
            let display = shown(&p.file_name().unwrap().to_string_lossy());
            let sql = std::fs::read_to_string(p).map_err(|source| LayoutError::Read {
                path: display.clone(),
                source,
            })?;
            // sqlx looks at the very start of the file.
            let no_tx = sql
                .trim_start_matches('\u{feff}')
                .starts_with("-- no-transaction");
            Ok(Script {
                display,
                transaction: !no_tx,
                sql,
                refuse_empty: false,
            })
        };
        let (up, down) = match (f.simple, f.up, f.down) {
            (Some(simple), None, None) => (script(&simple)?, None),
            (None, Some(up), down) => (script(&up)?, down.as_deref().map(script).transpose()?),
            (None, None, Some(_)) => {
                return Err(LayoutError::DownWithoutUp {
                    file: shown(&format!("{version}_{}.down.sql", f.name)),
                })
            }
            _ => {
                return Err(LayoutError::SimpleAndReversible {
                    file: shown(&format!("{version}_{}.sql", f.name)),
                    version,
                })
            }
        };
        migrations.push(Migration {
            id: format!("{version}_{}", f.name),
            version: version.to_string(),
            name: f.name,
            up,
            down,
        });
    }
    Ok(Loaded {
        tool: Tool::Sqlx,
        migrations,
        notes,
    })
}

/// refinery's file name, `V{version}__{name}.sql` or `U{version}__{name}.sql` (the name of
/// word characters): the prefix, the version and the name.
fn refinery_name(file: &str) -> Option<(char, u64, &str)> {
    let stem = file.strip_suffix(".sql")?;
    let prefix = stem.chars().next().filter(|c| matches!(c, 'V' | 'U'))?;
    let (version, name) = stem[1..].split_once("__")?;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    if !name.chars().all(word) {
        return None;
    }
    Some((prefix, version.parse().ok()?, name))
}

fn refinery(
    dir: &Path,
    display: &str,
    files: &[String],
    shown: &dyn Fn(&str) -> String,
) -> Result<Loaded, LayoutError> {
    let mut notes = Vec::new();
    let mut found: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for file in files {
        let Some((prefix, version, name)) = refinery_name(file) else {
            notes.push(format!(
                "{}: ignored (not a migration: refinery reads V{{version}}__{{name}}.sql and U{{version}}__{{name}}.sql)",
                shown(file)
            ));
            continue;
        };
        if let Some((other, _)) = found.get(&version) {
            return Err(LayoutError::RefineryVersionTaken {
                file: shown(file),
                version,
                by: other.clone(),
            });
        }
        found.insert(
            version,
            (file.clone(), format!("{prefix}{version}__{name}")),
        );
    }
    let mut migrations = Vec::new();
    for (version, (file, id)) in found {
        let display = shown(&file);
        let sql = std::fs::read_to_string(dir.join(&file)).map_err(|source| LayoutError::Read {
            path: display.clone(),
            source,
        })?;
        let name = id
            .split_once("__")
            .map(|(_, n)| n.to_string())
            .unwrap_or_default();
        migrations.push(Migration {
            id,
            version: version.to_string(),
            name,
            up: Script {
                display,
                sql,
                transaction: true,
                refuse_empty: false,
            },
            down: None,
        });
    }
    notes.push(format!(
        "{display}: refinery migrations have no down: they are only applied (fresh apply, \
         re-apply and cross-version checks; no rollback or step-wise check)"
    ));
    Ok(Loaded {
        tool: Tool::Refinery,
        migrations,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let p = dir.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn ids(l: &Loaded) -> Vec<String> {
        l.migrations.iter().map(|m| m.id.clone()).collect()
    }

    #[test]
    fn diesel_orders_by_the_version_without_dashes_as_a_string() {
        let t = tempfile::tempdir().unwrap();
        for d in [
            "2026-05-27-120000-0000_newest",
            "20170102000000_oldest",
            "2017-08-31-230457_middle",
            "20200101000000_later",
        ] {
            write(t.path(), &format!("{d}/up.sql"), "SELECT 1;");
        }
        write(t.path(), "notes.sql", "SELECT 1;");
        write(
            t.path(),
            "2017-08-31-230457_middle/metadata.toml",
            "run_in_transaction = false\n",
        );
        let l = load(t.path(), "m").unwrap();
        assert_eq!(l.tool, Tool::Diesel);
        assert_eq!(
            ids(&l),
            [
                "20170102000000_oldest",
                "2017-08-31-230457_middle",
                "20200101000000_later",
                "2026-05-27-120000-0000_newest"
            ]
        );
        assert_eq!(l.migrations[3].version, "202605271200000000");
        assert!(!l.migrations[1].up.transaction && l.migrations[0].up.transaction);
        assert!(l.migrations[0].up.refuse_empty);
        assert_eq!(l.notes.len(), 1);
        assert!(
            l.notes[0].starts_with("m/notes.sql: ignored"),
            "{:?}",
            l.notes
        );
    }

    #[test]
    fn diesel_needs_an_up_and_readable_metadata() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "2024-01-01-000000_a/down.sql", "SELECT 1;");
        let err = load(t.path(), "m").unwrap_err();
        assert!(
            matches!(&err, LayoutError::NoUp { dir } if dir == "m/2024-01-01-000000_a"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "m/2024-01-01-000000_a: no up.sql (diesel cannot run a migration without one)"
        );
        write(t.path(), "2024-01-01-000000_a/up.sql", "SELECT 1;");
        write(
            t.path(),
            "2024-01-01-000000_a/metadata.toml",
            "run_in_transaction = nope",
        );
        let err = load(t.path(), "m").unwrap_err();
        assert!(matches!(err, LayoutError::Metadata { .. }), "{err:?}");
        assert!(err.to_string().contains("metadata.toml"));
    }

    #[test]
    fn sqlx_simple_and_reversible_numeric_order_and_notes() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "10_b.up.sql", "SELECT 2;");
        write(t.path(), "10_b.down.sql", "SELECT 2;");
        write(t.path(), "9_a.sql", "-- no-transaction\nSELECT 1;");
        write(t.path(), "README.md", "hi");
        let l = load(t.path(), "m").unwrap();
        assert_eq!(l.tool, Tool::Sqlx);
        assert_eq!(ids(&l), ["9_a", "10_b"]);
        assert!(!l.migrations[0].up.transaction && l.migrations[0].down.is_none());
        assert_eq!(
            l.migrations[1].down.as_ref().unwrap().display,
            "m/10_b.down.sql"
        );
        assert_eq!(
            l.notes,
            ["m/README.md: ignored (not a migration: sqlx reads <version>_<description>.sql)"]
        );
    }

    #[test]
    fn sqlx_refuses_what_sqlx_refuses() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "v1_a.sql", "");
        let err = load(t.path(), "m").unwrap_err();
        assert!(matches!(err, LayoutError::NotAVersion { .. }), "{err:?}");
        assert!(err.to_string().contains("integer version"));
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "1_a.down.sql", "");
        let err = load(t.path(), "m").unwrap_err();
        assert!(matches!(err, LayoutError::DownWithoutUp { .. }), "{err:?}");
        assert!(err.to_string().contains("without its up"));
        write(t.path(), "1_a.up.sql", "");
        write(t.path(), "1_b.up.sql", "");
        match load(t.path(), "m").unwrap_err() {
            LayoutError::VersionTaken { version, by, .. } => {
                assert_eq!((version, by.as_str()), (1, "a"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refinery_versioned_and_unversioned_in_one_numeric_order() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "V10__later.sql", "SELECT 3;");
        write(t.path(), "U2__unversioned.sql", "SELECT 2;");
        write(t.path(), "V1__first.sql", "SELECT 1;");
        write(t.path(), "notes.txt", "hi");
        let l = load(t.path(), "m").unwrap();
        assert_eq!(l.tool, Tool::Refinery);
        assert_eq!(ids(&l), ["V1__first", "U2__unversioned", "V10__later"]);
        assert!(l
            .migrations
            .iter()
            .all(|m| m.down.is_none() && m.up.transaction));
        assert!(
            l.notes[0].starts_with("m/notes.txt: ignored"),
            "{:?}",
            l.notes
        );
        assert!(l.notes[1].contains("have no down"), "{:?}", l.notes);
        write(t.path(), "U10__again.sql", "SELECT 4;");
        match load(t.path(), "m").unwrap_err() {
            LayoutError::RefineryVersionTaken { version, by, .. } => {
                assert_eq!((version, by.as_str()), (10, "U10__again.sql"));
            }
            other => panic!("not a repeated refinery version: {other}"),
        }
    }
}
