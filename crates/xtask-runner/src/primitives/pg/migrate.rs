//! The built-in migration runner for the layouts `layout` reads (sqlx files, diesel
//! directories, refinery files).
//!
//! Each migration runs in its own transaction, together with its row in `_xtask_migrations`,
//! unless it opts out (a first line `-- no-transaction`, as in sqlx, or diesel's
//! `metadata.toml` with `run_in_transaction = false`): then its statements run one by one.

use std::collections::BTreeMap;

use postgres::Client;

use super::client;
use super::error::PgError;

pub const TABLE: &str = "_xtask_migrations";

#[derive(Clone, Debug)]
pub struct Migration {
    /// As the tool names it: the diesel directory, the sqlx file name without `.up.sql`.
    pub id: String,
    /// The key the tool orders and records by (diesel: without dashes).
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
    /// diesel refuses to run an empty file; sqlx runs it.
    pub refuse_empty: bool,
}

impl Migration {
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// Recorded when applied, so `status` can tell an edited migration.
    pub fn checksum(&self) -> String {
        format!("{:016x}", fnv1a(self.up.sql.as_bytes()))
    }
}

/// A failed migration step: the file, where in it, and what the server said.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Where the migration stands in the order: (n, total), 1-based.
    pub step: Option<(usize, usize)>,
    pub file: String,
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl std::error::Error for Failure {}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((n, total)) = self.step {
            write!(f, "migration {n} of {total}: ")?;
        }
        match self.at {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Creates the bookkeeping table if needed.
pub fn ensure_table(client: &mut Client) -> Result<(), PgError> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
                 version    text PRIMARY KEY,
                 name       text NOT NULL,
                 checksum   text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .map_err(|source| PgError::SqlIn {
            doing: format!("cannot create {TABLE}"),
            source,
        })
}

/// Versions recorded as applied, with their checksums.
pub fn applied(client: &mut Client) -> Result<BTreeMap<String, (String, String)>, PgError> {
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&TABLE])
        .map_err(PgError::Sql)?
        .get::<_, bool>(0);
    if !exists {
        return Ok(BTreeMap::new());
    }
    let rows = client
        // Earlier releases recorded diesel versions with their dashes; diesel's version has none.
        .query(
            &format!("SELECT replace(version, '-', ''), name, checksum FROM {TABLE}"),
            &[],
        )
        .map_err(PgError::Sql)?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

pub fn up(client: &mut Client, m: &Migration) -> Result<(), Failure> {
    let record = format!(
        "INSERT INTO {TABLE} (version, name, checksum) VALUES ({}, {}, {})",
        literal(&m.version),
        literal(&m.name),
        literal(&m.checksum())
    );
    execute(client, &m.up, &record)
}

pub fn down(client: &mut Client, m: &Migration) -> Result<(), Failure> {
    let Some(script) = &m.down else {
        return Err(Failure::plain(
            &m.up.display,
            "has no down migration: cannot roll it back",
        ));
    };
    let record = format!(
        "DELETE FROM {TABLE} WHERE replace(version, '-', '') = {}",
        literal(&m.version)
    );
    execute(client, script, &record)
}

/// `text` as an SQL string literal, right whatever `standard_conforming_strings` says (a
/// migration may change it for the session): the `E''` form when it holds a backslash.
fn literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// Applies every pending migration in order; returns the ids applied.
pub fn migrate(client: &mut Client, all: &[Migration]) -> Result<Vec<String>, Failure> {
    let setup = |e: PgError| Failure::plain(TABLE, e.to_string());
    ensure_table(client).map_err(setup)?;
    let done = applied(client).map_err(setup)?;
    let mut out = Vec::new();
    for (i, m) in all.iter().enumerate() {
        if !done.contains_key(&m.version) {
            up(client, m).map_err(|f| f.at_step(i, all.len()))?;
            out.push(m.id());
        }
    }
    Ok(out)
}

/// Reverts the last `steps` applied migrations (all when `None`); returns the ids reverted.
pub fn rollback(
    client: &mut Client,
    all: &[Migration],
    steps: Option<usize>,
) -> Result<Vec<String>, Failure> {
    let done = applied(client).map_err(|e| Failure::plain(TABLE, e.to_string()))?;
    let mut out = Vec::new();
    for (i, m) in all
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, m)| done.contains_key(&m.version))
        .take(steps.unwrap_or(usize::MAX))
    {
        down(client, m).map_err(|f| f.at_step(i, all.len()))?;
        out.push(m.id());
    }
    Ok(out)
}

/// Runs a script that is not a migration (`pg::execute`, `pg::seed`): no bookkeeping row.
pub fn run_script(client: &mut Client, script: &Script) -> Result<(), Failure> {
    execute(client, script, "")
}

/// Runs one file: in a transaction with `record` (an SQL statement, or empty), or statement by
/// statement when it opted out.
///
/// A transaction is two round trips, `BEGIN; <file>` then `<record>; COMMIT`, instead of five
/// (BEGIN, the file, preparing and running the record, COMMIT), which under load cost more
/// than most migrations' work. The server parses the whole of the first text before running any
/// of it and stops at the first error, as it does for the file alone; a position it reports is
/// moved back by the prefix to point into the file.
fn execute(client: &mut Client, script: &Script, record: &str) -> Result<(), Failure> {
    // `prefix`: characters the server saw before the file (its positions count from there).
    let fail = |err: &postgres::Error, sql: &str, offset: usize, prefix: usize| {
        let before = script.sql[..offset].chars().count();
        let total = script.sql.chars().count();
        Failure {
            step: None,
            file: script.display.clone(),
            at: client::position(err)
                .and_then(|p| p.checked_sub(prefix))
                .filter(|p| before + p <= total + 1)
                .map(|p| client::line_col(&script.sql, before + p)),
            message: client::describe(err),
        }
        .with_statement(sql, &script.sql, offset)
    };
    if script.refuse_empty && script.sql.trim().is_empty() {
        return Err(Failure::plain(
            &script.display,
            "Attempted to run an empty migration (diesel refuses an empty file; \
             write `SELECT 1;` in it if it is meant to do nothing)",
        ));
    }
    if !script.transaction {
        for (offset, statement) in client::split(&script.sql) {
            if let Err(e) = client.batch_execute(statement) {
                return Err(fail(&e, statement, offset, 0));
            }
        }
        // One statement outside a transaction block is its own transaction.
        if !record.is_empty() {
            client
                .batch_execute(record)
                .map_err(|e| fail(&e, "", 0, 0))?;
        }
        return Ok(());
    }
    const BEGIN: &str = "BEGIN;\n";
    if let Err(e) = client.batch_execute(&format!("{BEGIN}{}", script.sql)) {
        let mut failure = fail(&e, "", 0, BEGIN.len());
        let _ = client.batch_execute("ROLLBACK");
        if failure.at.is_none() {
            // Errors like "table does not exist" carry no position: find the statement.
            failure.at = locate(client, &script.sql);
        }
        return Err(failure);
    }
    if let Err(e) = client.batch_execute(&format!("{record};COMMIT")) {
        // The transaction block is aborted (or, after a COMMIT the file made itself, there is
        // none: then this only warns).
        let _ = client.batch_execute("ROLLBACK");
        return Err(Failure {
            at: None,
            ..fail(&e, "", 0, 0)
        });
    }
    Ok(())
}

impl Failure {
    pub fn plain(file: &str, message: impl Into<String>) -> Failure {
        Failure {
            step: None,
            file: file.to_string(),
            at: None,
            message: message.into(),
        }
    }

    /// Names the migration's place in the order: `index` (0-based) of `total`.
    pub fn at_step(mut self, index: usize, total: usize) -> Failure {
        self.step = Some((index + 1, total));
        self
    }

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

    #[test]
    fn statement_start_skips_comments() {
        let sql = "SELECT 1;\n\n-- why\n  DROP TABLE x;";
        let parts = client::split(sql);
        assert_eq!(statement_start(sql, parts[1].0, parts[1].1), (4, 3));
    }

    #[test]
    fn literals_survive_quotes_and_backslashes_either_way_strings_conform() {
        assert_eq!(literal("2024-01-01_add_x"), "'2024-01-01_add_x'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\b'c"), r"E'a\\b''c'");
    }

    #[test]
    fn a_failure_names_its_place_in_the_order() {
        let f = Failure {
            step: None,
            file: "m/2_b/up.sql".into(),
            at: Some((3, 5)),
            message: "ERROR 42P01: relation \"a\" does not exist".into(),
        }
        .at_step(1, 300);
        assert_eq!(
            f.to_string(),
            "migration 2 of 300: m/2_b/up.sql:3:5: ERROR 42P01: relation \"a\" does not exist"
        );
    }
}
