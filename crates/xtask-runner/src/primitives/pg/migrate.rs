//! The built-in migration runner for the two common layouts:
//!
//! - flat files (sqlx): `migrations/<version>_<name>.up.sql` and `.down.sql`
//! - directories (diesel): `migrations/<version>_<name>/up.sql` and `down.sql`
//!
//! Each migration runs in its own transaction, together with its row in `_xtask_migrations`,
//! unless it opts out (a first line `-- no-transaction`, as in sqlx, or diesel's
//! `metadata.toml` with `run_in_transaction = false`): then its statements run one by one.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use postgres::Client;

use super::client;

pub const TABLE: &str = "_xtask_migrations";

#[derive(Clone, Debug)]
pub struct Migration {
    pub version: String,
    pub name: String,
    pub up: Script,
    pub down: Option<Script>,
}

#[derive(Clone, Debug)]
pub struct Script {
    /// As shown in messages: the directory as the script named it, joined with the file.
    pub display: String,
    pub sql: String,
    pub transaction: bool,
}

impl Migration {
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    /// Recorded when applied, so `status` can tell an edited migration.
    pub fn checksum(&self) -> String {
        format!("{:016x}", fnv1a(self.up.sql.as_bytes()))
    }
}

/// A failed migration step: the file, where in it, and what the server said.
#[derive(Clone, Debug)]
pub struct Failure {
    pub file: String,
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Reads the migrations in `dir`, ordered by version. `display` is how `dir` is shown.
pub fn load(dir: &Path, display: &str) -> Result<Vec<Migration>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read migrations directory {display}: {e}"))?;
    let mut found: BTreeMap<String, Pending> = BTreeMap::new();
    let shown = |name: &str| format!("{}/{name}", display.trim_end_matches('/'));
    for entry in entries.flatten() {
        let path = entry.path();
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let (version, name) = split_id(&file)
                .ok_or_else(|| format!("{}: expected <version>_<name>", shown(&file)))?;
            let up = path.join("up.sql");
            if !up.is_file() {
                return Err(format!("{}: no up.sql", shown(&file)));
            }
            let down = Some(path.join("down.sql")).filter(|p| p.is_file());
            let in_tx = !std::fs::read_to_string(path.join("metadata.toml"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.replace(' ', "") == "run_in_transaction=false");
            insert(
                &mut found,
                version,
                name,
                Some(up),
                down,
                in_tx,
                &shown(&file),
            )?;
        } else if let Some(stem) = file.strip_suffix(".up.sql") {
            let (version, name) = split_id(stem)
                .ok_or_else(|| format!("{}: expected <version>_<name>.up.sql", shown(&file)))?;
            insert(
                &mut found,
                version,
                name,
                Some(path),
                None,
                true,
                &shown(&file),
            )?;
        } else if let Some(stem) = file.strip_suffix(".down.sql") {
            let (version, name) = split_id(stem)
                .ok_or_else(|| format!("{}: expected <version>_<name>.down.sql", shown(&file)))?;
            insert(
                &mut found,
                version,
                name,
                None,
                Some(path),
                true,
                &shown(&file),
            )?;
        } else if file.ends_with(".sql") {
            return Err(format!(
                "{}: not a reversible migration (expected <version>_<name>.up.sql and .down.sql)",
                shown(&file)
            ));
        }
    }
    let mut out = Vec::new();
    for (version, (name, up, down, dir_tx)) in found {
        let Some(up) = up else {
            return Err(format!(
                "{}: a down migration without its up",
                shown(&format!("{version}_{name}.down.sql"))
            ));
        };
        let up = script(&up, dir, display, dir_tx)?;
        let down = match down {
            Some(p) => Some(script(&p, dir, display, dir_tx)?),
            None => None,
        };
        out.push(Migration {
            version,
            name,
            up,
            down,
        });
    }
    out.sort_by(|a, b| compare_versions(&a.version, &b.version));
    Ok(out)
}

/// A version's name, up and down files, and whether it runs in a transaction, while loading.
type Pending = (String, Option<PathBuf>, Option<PathBuf>, bool);

fn insert(
    found: &mut BTreeMap<String, Pending>,
    version: String,
    name: String,
    up: Option<PathBuf>,
    down: Option<PathBuf>,
    in_tx: bool,
    shown: &str,
) -> Result<(), String> {
    let slot = found
        .entry(version.clone())
        .or_insert_with(|| (name.clone(), None, None, in_tx));
    if slot.0 != name {
        return Err(format!(
            "{shown}: version {version} is also used by `{}`",
            slot.0
        ));
    }
    if up.is_some() {
        if slot.1.is_some() {
            return Err(format!("{shown}: version {version} has two up migrations"));
        }
        slot.1 = up;
    }
    if down.is_some() {
        if slot.2.is_some() {
            return Err(format!(
                "{shown}: version {version} has two down migrations"
            ));
        }
        slot.2 = down;
    }
    slot.3 &= in_tx;
    Ok(())
}

fn script(path: &Path, dir: &Path, display: &str, dir_tx: bool) -> Result<Script, String> {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    let display = format!("{}/{}", display.trim_end_matches('/'), rel.display());
    let sql = std::fs::read_to_string(path).map_err(|e| format!("{display}: {e}"))?;
    let no_tx = sql
        .lines()
        .next()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("-- no-transaction"));
    Ok(Script {
        display,
        transaction: dir_tx && !no_tx,
        sql,
    })
}

/// `20240108091500_create_pools` -> (`20240108091500`, `create_pools`); diesel's
/// `2024-01-08-091500_create_pools` works too.
fn split_id(id: &str) -> Option<(String, String)> {
    let (version, name) = id.split_once('_')?;
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((version.to_string(), name.to_string()))
}

fn compare_versions(a: &str, b: &str) -> Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Creates the bookkeeping table if needed.
pub fn ensure_table(client: &mut Client) -> Result<(), String> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
                 version    text PRIMARY KEY,
                 name       text NOT NULL,
                 checksum   text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .map_err(|e| format!("cannot create {TABLE}: {}", client::describe(&e)))
}

/// Versions recorded as applied, with their checksums.
pub fn applied(client: &mut Client) -> Result<BTreeMap<String, (String, String)>, String> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
        .map_err(|e| client::describe(&e))?
        .get::<_, bool>(0);
    if !exists {
        return Ok(BTreeMap::new());
    }
    let rows = client
        .query(&format!("SELECT version, name, checksum FROM {TABLE}"), &[])
        .map_err(|e| client::describe(&e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

pub fn up(client: &mut Client, m: &Migration) -> Result<(), Failure> {
    let record = format!("INSERT INTO {TABLE} (version, name, checksum) VALUES ($1, $2, $3)");
    let checksum = m.checksum();
    execute(client, &m.up, |tx| {
        tx.execute(&record, &[&m.version, &m.name, &checksum])
            .map(|_| ())
    })
}

pub fn down(client: &mut Client, m: &Migration) -> Result<(), Failure> {
    let Some(script) = &m.down else {
        return Err(Failure {
            file: m.up.display.clone(),
            at: None,
            message: "has no down migration: cannot roll it back".into(),
        });
    };
    let record = format!("DELETE FROM {TABLE} WHERE version = $1");
    execute(client, script, |tx| {
        tx.execute(&record, &[&m.version]).map(|_| ())
    })
}

/// Applies every pending migration in order; returns the ids applied.
pub fn migrate(client: &mut Client, all: &[Migration]) -> Result<Vec<String>, Failure> {
    let setup = |message: String| Failure {
        file: TABLE.into(),
        at: None,
        message,
    };
    ensure_table(client).map_err(setup)?;
    let done = applied(client).map_err(setup)?;
    let mut out = Vec::new();
    for m in all.iter().filter(|m| !done.contains_key(&m.version)) {
        up(client, m)?;
        out.push(m.id());
    }
    Ok(out)
}

/// Reverts the last `steps` applied migrations (all when `None`); returns the ids reverted.
pub fn rollback(
    client: &mut Client,
    all: &[Migration],
    steps: Option<usize>,
) -> Result<Vec<String>, Failure> {
    let done = applied(client).map_err(|message| Failure {
        file: TABLE.into(),
        at: None,
        message,
    })?;
    let mut out = Vec::new();
    for m in all
        .iter()
        .rev()
        .filter(|m| done.contains_key(&m.version))
        .take(steps.unwrap_or(usize::MAX))
    {
        down(client, m)?;
        out.push(m.id());
    }
    Ok(out)
}

/// Runs one file: in a transaction with `record`, or statement by statement when it opted out.
fn execute(
    client: &mut Client,
    script: &Script,
    record: impl FnOnce(&mut postgres::Transaction) -> Result<(), postgres::Error>,
) -> Result<(), Failure> {
    let fail = |err: &postgres::Error, sql: &str, offset: usize| {
        // The server counts characters from the start of the query it got.
        let before = script.sql[..offset].chars().count();
        Failure {
            file: script.display.clone(),
            at: client::position(err).map(|p| client::line_col(&script.sql, before + p)),
            message: client::describe(err),
        }
        .with_statement(sql, &script.sql, offset)
    };
    if !script.transaction {
        for (offset, statement) in client::split(&script.sql) {
            if let Err(e) = client.batch_execute(statement) {
                return Err(fail(&e, statement, offset));
            }
        }
        let mut tx = client.transaction().map_err(|e| fail(&e, "", 0))?;
        record(&mut tx).map_err(|e| fail(&e, "", 0))?;
        return tx.commit().map_err(|e| fail(&e, "", 0));
    }
    let mut tx = client.transaction().map_err(|e| fail(&e, "", 0))?;
    if let Err(e) = tx.batch_execute(&script.sql) {
        let mut failure = fail(&e, "", 0);
        drop(tx);
        if failure.at.is_none() {
            // Errors like "table does not exist" carry no position: find the statement.
            failure.at = locate(client, &script.sql);
        }
        return Err(failure);
    }
    record(&mut tx).map_err(|e| fail(&e, "", 0))?;
    tx.commit().map_err(|e| fail(&e, "", 0))
}

impl Failure {
    fn with_statement(mut self, statement: &str, sql: &str, offset: usize) -> Self {
        if self.at.is_none() && !statement.is_empty() {
            self.at = Some(statement_start(sql, offset, statement));
        }
        self
    }
}

/// Re-runs a failed file statement by statement, in a transaction that is rolled back, to
/// find where the first failing statement starts.
fn locate(client: &mut Client, sql: &str) -> Option<(usize, usize)> {
    let mut tx = client.transaction().ok()?;
    for (offset, statement) in client::split(sql) {
        if tx.batch_execute(statement).is_err() {
            return Some(statement_start(sql, offset, statement));
        }
    }
    None
}

/// Line/column of the first SQL token of a statement (after blank lines and comments).
fn statement_start(sql: &str, offset: usize, statement: &str) -> (usize, usize) {
    let mut skip = 0;
    for line in statement.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with("--") {
            skip += line.len();
        } else {
            skip += line.len() - line.trim_start().len();
            break;
        }
    }
    let chars = sql[..offset + skip.min(statement.len())].chars().count();
    client::line_col(sql, chars + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let p = dir.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn loads_both_layouts_in_version_order() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "10_b.up.sql", "SELECT 2;");
        write(t.path(), "10_b.down.sql", "SELECT 2;");
        write(t.path(), "9_a.up.sql", "-- no-transaction\nSELECT 1;");
        write(t.path(), "9_a.down.sql", "SELECT 1;");
        let flat = load(t.path(), "m").unwrap();
        assert_eq!(
            flat.iter().map(Migration::id).collect::<Vec<_>>(),
            ["9_a", "10_b"]
        );
        assert!(!flat[0].up.transaction && flat[1].up.transaction);
        assert_eq!(flat[1].down.as_ref().unwrap().display, "m/10_b.down.sql");

        let d = tempfile::tempdir().unwrap();
        write(d.path(), "2024-01-02-000000_two/up.sql", "SELECT 2;");
        write(d.path(), "2024-01-02-000000_two/down.sql", "SELECT 2;");
        write(d.path(), "2024-01-01-000000_one/up.sql", "SELECT 1;");
        let dirs = load(d.path(), "migrations").unwrap();
        assert_eq!(dirs[0].name, "one");
        assert!(dirs[0].down.is_none());
        assert_eq!(
            dirs[1].up.display,
            "migrations/2024-01-02-000000_two/up.sql"
        );
    }

    #[test]
    fn rejects_an_orphan_down_and_duplicate_versions() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "1_a.down.sql", "");
        assert!(load(t.path(), "m").unwrap_err().contains("without its up"));
        write(t.path(), "1_a.up.sql", "");
        write(t.path(), "1_b.up.sql", "");
        assert!(load(t.path(), "m").unwrap_err().contains("also used by"));
    }

    #[test]
    fn statement_start_skips_comments() {
        let sql = "SELECT 1;\n\n-- why\n  DROP TABLE x;";
        let parts = client::split(sql);
        assert_eq!(statement_start(sql, parts[1].0, parts[1].1), (4, 3));
    }
}
