//! Narrowed schema tracking for the step-wise check: after a migration step, only the lines of
//! the objects the step touched (and of those whose lines can print them) are read again; the
//! rest are kept from the state before. A full snapshot costs a deparse of the whole catalog;
//! three per migration made a long history's step-wise check slow.
//!
//! PostgreSQL reports what a command touched: an event trigger on `ddl_command_end`
//! (`pg_event_trigger_ddl_commands()`) and one on `sql_drop`
//! (`pg_event_trigger_dropped_objects()`) append each command's tag and objects to a session
//! setting (`xtask.touched`), so nothing is written to the database under test. After a step,
//! the objects to read again are:
//!
//! - the touched ones, those depending on them and those they depend on (`pg_depend`, one hop:
//!   every name a deparsed line prints is of an object the line's object depends on), and the
//!   relations (or domains) the touched columns, constraints, indexes, triggers, rules and
//!   defaults belong to;
//! - every object with a line that names (as a whole word) a touched object's old or new name:
//!   creating, dropping or renaming an object can change how others print (qualified or not,
//!   as `search_path` visibility decides).
//!
//! Where that reasoning may not hold, the step takes a full snapshot instead: a command whose
//! tag is not one of `NARROWED` (schemas, extensions, operators, collations, rules, ...), a
//! dropped object that is not a line's own and not known harmless, a changed session setting
//! (`search_path` and the output formats decide how lines print), a disabled or missing trigger,
//! a log that does not carry the marker left after the last read (`RESET`, `DISCARD`), a name
//! holding a double quote. Commands that fire no event trigger (databases, roles, tablespaces,
//! event triggers, `GRANT` on those) change no line. Direct writes to the system catalogs
//! (`UPDATE pg_enum …`) are not reported by PostgreSQL: a history whose SQL names a system
//! catalog after `UPDATE`, `INTO` or `FROM` (`may_touch_catalogs`) is read in full throughout,
//! and the step-wise check ends by comparing a full snapshot with the tracked schema (when they
//! differ, it runs again reading every step in full).

use std::collections::BTreeSet;

use postgres::{Client, Statement};

use super::client;
use super::snapshot::{self, Compare, Keyed, Snapshot};

/// Command tags whose reported objects are all that changes: everything else is followed by a
/// full snapshot.
const NARROWED: &[&str] = &[
    "CREATE TABLE",
    "ALTER TABLE",
    "DROP TABLE",
    "CREATE TABLE AS",
    "SELECT INTO",
    "CREATE INDEX",
    "ALTER INDEX",
    "DROP INDEX",
    "CREATE VIEW",
    "ALTER VIEW",
    "DROP VIEW",
    "CREATE MATERIALIZED VIEW",
    "ALTER MATERIALIZED VIEW",
    "DROP MATERIALIZED VIEW",
    "REFRESH MATERIALIZED VIEW",
    "CREATE SEQUENCE",
    "ALTER SEQUENCE",
    "DROP SEQUENCE",
    "CREATE FUNCTION",
    "ALTER FUNCTION",
    "DROP FUNCTION",
    "CREATE PROCEDURE",
    "ALTER PROCEDURE",
    "DROP PROCEDURE",
    "ALTER ROUTINE",
    "DROP ROUTINE",
    "CREATE AGGREGATE",
    "ALTER AGGREGATE",
    "DROP AGGREGATE",
    "CREATE TYPE",
    "ALTER TYPE",
    "DROP TYPE",
    "CREATE DOMAIN",
    "ALTER DOMAIN",
    "DROP DOMAIN",
    "CREATE TRIGGER",
    "ALTER TRIGGER",
    "DROP TRIGGER",
    "CREATE FOREIGN TABLE",
    "ALTER FOREIGN TABLE",
    "DROP FOREIGN TABLE",
    "COMMENT",
    "GRANT",
    "REVOKE",
    "ALTER DEFAULT PRIVILEGES",
];

/// Catalogs whose dropped rows need no line of their own to be found: table row types and
/// array types go with their type or relation, toast tables with theirs, a view's rule with
/// the view (the commands above drop no rule alone), policies print nowhere.
const DROPPED_HARMLESS: &[&str] = &["pg_class", "pg_type", "pg_rewrite", "pg_policy"];

/// The event triggers' function: it lives in `pg_catalog`, which no snapshot reads.
const INSTALL: &str = r#"
CREATE OR REPLACE FUNCTION pg_catalog.xtask_touched() RETURNS event_trigger
LANGUAGE plpgsql AS $xtask$
DECLARE
    log text := COALESCE(current_setting('xtask.touched', true), '');
    r record;
BEGIN
    IF tg_event = 'sql_drop' THEN
        FOR r IN SELECT classid, objid FROM pg_event_trigger_dropped_objects() LOOP
            log := log || 'D' || chr(9) || tg_tag || chr(9) || r.classid::oid::text || chr(9)
                || r.objid::oid::text || chr(10);
        END LOOP;
    ELSE
        FOR r IN SELECT classid, objid, command_tag FROM pg_event_trigger_ddl_commands() LOOP
            log := log || 'E' || chr(9) || r.command_tag || chr(9) || r.classid::oid::text
                || chr(9) || r.objid::oid::text || chr(10);
        END LOOP;
        log := log || 'E' || chr(9) || tg_tag || chr(9) || '0' || chr(9) || '0' || chr(10);
    END IF;
    PERFORM set_config('xtask.touched', log, false);
END
$xtask$;
DROP EVENT TRIGGER IF EXISTS xtask_touched_end;
DROP EVENT TRIGGER IF EXISTS xtask_touched_drop;
CREATE EVENT TRIGGER xtask_touched_end ON ddl_command_end
    EXECUTE PROCEDURE pg_catalog.xtask_touched();
CREATE EVENT TRIGGER xtask_touched_drop ON sql_drop
    EXECUTE PROCEDURE pg_catalog.xtask_touched();
"#;

/// One round trip after a step: takes the log and leaves the next marker in its place (a
/// number counting up: a `RESET` or `DISCARD` puts back an older value, which does not match);
/// reads the session's settings (as a digest) and how many of the two triggers are enabled,
/// which decide whether the log can be trusted; works out the objects to read again (`g`):
/// the touched ones, one `pg_depend` hop either way, and the relations or domains of those
/// that belong to one; and reads their lines. Rows, by their first column:
/// 0: the log, the enabled triggers, the new marker; 1: a touched object's name as it is now;
/// 2: an object of `g`; 3: a line (`snapshot::keyed_text`'s columns); 4: the settings digest
/// (of those not at their default: `search_path` and the output formats decide how lines
/// print).
///
/// The `pg_depend` look-ups are `LATERAL … OFFSET 0` so that each is an index scan: the planner
/// cannot know the log holds a handful of objects and would hash all of `pg_depend`.
/// No parameters: a prepared statement with one is planned anew for its first executions,
/// and planning this costs more than running it.
fn step_text(compare: &Compare) -> String {
    format!(
        "WITH r AS MATERIALIZED (SELECT s.log, \
           set_config('xtask.touched', '#' || (COALESCE(substring(s.log FROM '^#([0-9]+)\n'), '0')::bigint + 1) || chr(10), false) AS marker, \
           (SELECT count(*) FROM pg_event_trigger \
              WHERE evtname IN ('xtask_touched_end', 'xtask_touched_drop') \
                AND evtenabled <> 'D') AS enabled, \
           (SELECT COALESCE(md5(string_agg(name || '=' || COALESCE(setting, ''), chr(10))), '') \
              FROM pg_show_all_settings() WHERE source <> 'default' AND name <> 'xtask.touched') \
              AS settings \
         FROM (SELECT COALESCE(current_setting('xtask.touched', true), '') AS log OFFSET 0) s), \
       t AS MATERIALIZED (SELECT DISTINCT split_part(l, chr(9), 3)::oid AS classid, \
           split_part(l, chr(9), 4)::oid AS objid \
         FROM r, regexp_split_to_table(r.log, chr(10)) l \
         WHERE l ~ '^[ED]\t' AND split_part(l, chr(9), 4) <> '0'), \
       d AS (SELECT objid AS oid FROM t \
         UNION SELECT dep.objid FROM t, LATERAL (SELECT objid FROM pg_depend \
           WHERE refclassid = t.classid AND refobjid = t.objid OFFSET 0) dep \
         UNION SELECT dep.refobjid FROM t, LATERAL (SELECT refobjid FROM pg_depend \
           WHERE classid = t.classid AND objid = t.objid OFFSET 0) dep), \
       g AS MATERIALIZED (SELECT oid FROM d \
         UNION SELECT ev_class FROM pg_rewrite WHERE oid IN (SELECT oid FROM d) \
         UNION SELECT adrelid FROM pg_attrdef WHERE oid IN (SELECT oid FROM d) \
         UNION SELECT conrelid FROM pg_constraint WHERE oid IN (SELECT oid FROM d) \
         UNION SELECT contypid FROM pg_constraint WHERE oid IN (SELECT oid FROM d) \
         UNION SELECT indrelid FROM pg_index WHERE indexrelid IN (SELECT oid FROM d) \
         UNION SELECT tgrelid FROM pg_trigger WHERE oid IN (SELECT oid FROM d)) \
       SELECT 0, r.log, r.enabled::oid, 0::oid, r.marker, 0::oid FROM r \
       UNION ALL SELECT 4, NULL, 0::oid, 0::oid, r.settings, 0::oid FROM r \
       UNION ALL SELECT 1, NULL, t.objid, 0::oid, \
           COALESCE(c.relname, ty.typname, p.proname, n.nspname)::text, 0::oid FROM t \
         LEFT JOIN pg_class c ON t.classid = 'pg_class'::regclass AND c.oid = t.objid \
         LEFT JOIN pg_type ty ON t.classid = 'pg_type'::regclass AND ty.oid = t.objid \
         LEFT JOIN pg_proc p ON t.classid = 'pg_proc'::regclass AND p.oid = t.objid \
         LEFT JOIN pg_namespace n ON t.classid = 'pg_namespace'::regclass AND n.oid = t.objid \
       UNION ALL SELECT 2, NULL, oid, 0::oid, NULL, 0::oid FROM g \
       UNION ALL SELECT 3, * FROM ({}) lines",
        snapshot::keyed_text(compare, Some("ARRAY(SELECT oid FROM g)"))
    )
}

/// Whether `sql` may write a system catalog directly (which no event trigger reports): it
/// names a `pg_…` relation after `UPDATE`, `INTO` or `FROM` (reads count too: that errs on the
/// side of reading in full).
pub fn may_touch_catalogs(sql: &str) -> bool {
    let text = sql.to_lowercase().replace('"', "");
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == ',' || c == '\'')
        .filter(|w| !w.is_empty() && *w != "only")
        .collect();
    words.windows(2).any(|w| {
        matches!(w[0], "update" | "into" | "from")
            && (w[1].starts_with("pg_") || w[1].starts_with("pg_catalog."))
    })
}

/// A schema as its lines with the objects they describe: what a narrowed step updates.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    lines: Vec<Keyed>,
}

impl Catalog {
    pub fn snapshot(&self) -> Snapshot {
        self.lines.iter().map(|k| k.line.clone()).collect()
    }
}

/// One touched object as the log recorded it.
#[derive(Debug, PartialEq)]
struct Touched {
    dropped: bool,
    tag: String,
    classid: u32,
    objid: u32,
}

/// The log's entries after `marker`, or `None` when it does not start with it.
fn parse_log(log: &str, marker: &str) -> Option<Vec<Touched>> {
    let rest = log.strip_prefix(marker)?;
    rest.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let dropped = f.next()? == "D";
            let tag = f.next()?.to_string();
            let classid = f.next()?.parse().ok()?;
            let objid = f.next()?.parse().ok()?;
            Some(Touched {
                dropped,
                tag,
                classid,
                objid,
            })
        })
        .collect()
}

/// Whether `line` holds `name` as a whole identifier (not inside a longer one): how a
/// deparsed line prints a name, bare, qualified or quoted.
fn names_in(line: &str, name: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    line.match_indices(name).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + name.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The installed triggers and prepared statements on one connection.
pub struct Tracker {
    all: Statement,
    some: Statement,
    step: Statement,
    /// The oids of the catalogs in `DROPPED_HARMLESS`.
    harmless: BTreeSet<u32>,
    /// The marker the last read left.
    marker: String,
    settings: Option<String>,
}

/// What the step statement returned.
struct Step {
    /// The log's entries, `None` when the log cannot be trusted.
    touched: Option<Vec<Touched>>,
    names: BTreeSet<String>,
    reread: BTreeSet<u32>,
    lines: Vec<Keyed>,
}

impl Tracker {
    /// Installs the triggers on `c`'s database; `None` where that cannot be done (not a
    /// superuser, a server without event triggers or before 12): then every step takes a full
    /// snapshot.
    pub fn install(c: &mut Client, compare: &Compare) -> Option<Tracker> {
        c.batch_execute(INSTALL).ok()?;
        let harmless = c
            .query(
                "SELECT oid FROM pg_class WHERE relname::text = ANY($1::text[]) \
                 AND relnamespace = 'pg_catalog'::regnamespace",
                &[&DROPPED_HARMLESS],
            )
            .ok()?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut tracker = Tracker {
            all: c.prepare(&snapshot::keyed_text(compare, None)).ok()?,
            some: c
                .prepare(&snapshot::keyed_text(compare, Some("$1::oid[]")))
                .ok()?,
            step: c.prepare(&step_text(compare)).ok()?,
            harmless,
            marker: String::new(),
            settings: None,
        };
        tracker.step(c).ok()?;
        Some(tracker)
    }

    /// Runs the step statement: takes the log, leaves a new marker.
    fn step(&mut self, c: &mut Client) -> Result<Step, String> {
        let rows = c
            .query(&self.step, &[])
            .map_err(|e| format!("schema snapshot: {}", client::describe(&e)))?;
        let mut step = Step {
            touched: None,
            names: BTreeSet::new(),
            reread: BTreeSet::new(),
            lines: Vec::new(),
        };
        let mut lines = Vec::new();
        let (mut log, mut enabled, mut marker, mut settings) =
            (String::new(), 0u32, String::new(), None::<String>);
        for row in &rows {
            match row.get::<_, i32>(0) {
                0 => {
                    log = row.get(1);
                    enabled = row.get(2);
                    marker = row.get(4);
                }
                4 => settings = row.get(4),
                1 => {
                    if let Some(name) = row.get::<_, Option<String>>(4) {
                        step.names.insert(name);
                    }
                }
                2 => {
                    step.reread.insert(row.get(2));
                }
                _ => lines.push(row),
            }
        }
        step.lines = snapshot::keyed_rows(lines, 1);
        let same = self.settings.is_some() && self.settings == settings;
        if same && enabled == 2 && !self.marker.is_empty() {
            step.touched = parse_log(&log, &self.marker);
        }
        self.settings = settings;
        self.marker = marker;
        Ok(step)
    }

    /// The whole schema, read in full.
    pub fn take(&mut self, c: &mut Client) -> Result<Catalog, String> {
        // Whatever the log holds is superseded.
        self.step(c)?;
        self.take_all(c)
    }

    fn take_all(&self, c: &mut Client) -> Result<Catalog, String> {
        let rows = c
            .query(&self.all, &[])
            .map_err(|e| format!("schema snapshot: {}", client::describe(&e)))?;
        Ok(Catalog {
            lines: snapshot::keyed_rows(&rows, 0),
        })
    }

    /// The schema after a step, `before` being the schema before it: narrowed to what the step
    /// touched where that is safe, else in full.
    pub fn after(&mut self, c: &mut Client, before: &Catalog) -> Result<Catalog, String> {
        let step = self.step(c)?;
        match self.narrowed(c, before, step)? {
            Some(catalog) => Ok(catalog),
            None => self.take_all(c),
        }
    }

    /// `None` where the step cannot be narrowed.
    fn narrowed(
        &self,
        c: &mut Client,
        before: &Catalog,
        step: Step,
    ) -> Result<Option<Catalog>, String> {
        let Some(touched) = step.touched else {
            return Ok(None);
        };
        if touched.iter().any(|t| !NARROWED.contains(&t.tag.as_str())) {
            return Ok(None);
        }
        let reported: Vec<&Touched> = touched.iter().filter(|t| t.objid != 0).collect();
        // A dropped object that is neither a line's own nor known harmless: its lines cannot be
        // told (the catalog no longer has its dependencies).
        let resolvable = |t: &Touched| {
            !t.dropped
                || self.harmless.contains(&t.classid)
                || before
                    .lines
                    .iter()
                    .any(|k| k.key == t.objid || k.member == t.objid)
        };
        if !reported.iter().all(|t| resolvable(t)) {
            return Ok(None);
        }
        // Names as they are now, and as they were (the lines before hold those).
        let mut names = step.names;
        names.extend(
            before
                .lines
                .iter()
                .filter(|k| reported.iter().any(|t| t.objid == k.key))
                .map(|k| k.name.clone()),
        );
        names.retain(|n| !n.is_empty());
        if names.iter().any(|n| n.contains('"')) {
            return Ok(None);
        }
        let reread = step.reread;
        // Lines before that lose a default to a drop, or print a touched name: their groups are
        // read again too.
        let more: BTreeSet<u32> = before
            .lines
            .iter()
            .filter(|k| {
                (k.member != 0 && reread.contains(&k.member))
                    || names.iter().any(|n| names_in(&k.line, n))
            })
            .map(|k| k.group)
            .filter(|g| !reread.contains(g))
            .collect();
        let mut lines: Vec<Keyed> = before
            .lines
            .iter()
            .filter(|k| {
                !reread.contains(&k.key) && !reread.contains(&k.group) && !more.contains(&k.group)
            })
            .cloned()
            .collect();
        lines.extend(step.lines);
        if !more.is_empty() {
            let more: Vec<u32> = more.into_iter().collect();
            let rows = c
                .query(&self.some, &[&more])
                .map_err(|e| format!("schema snapshot: {}", client::describe(&e)))?;
            lines.extend(snapshot::keyed_rows(&rows, 0));
        }
        Ok(Some(Catalog { lines }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_as_whole_identifiers() {
        let line = "index public.t10_idx: CREATE INDEX t10_idx ON public.t1 USING btree (label)";
        assert!(names_in(line, "t1"));
        assert!(names_in(line, "t10_idx"));
        assert!(!names_in(line, "t10"));
        assert!(!names_in(line, "idx"));
        assert!(names_in("column public.\"T\".id integer", "T"));
        assert!(!names_in("column public.a$b.id integer", "a"));
    }

    #[test]
    fn catalog_writes_are_suspected_from_the_sql() {
        assert!(may_touch_catalogs(
            "DELETE FROM pg_enum WHERE enumlabel = 'x';"
        ));
        assert!(may_touch_catalogs(
            "update  ONLY \"pg_catalog\".\"pg_attribute\" set x = 1"
        ));
        assert!(may_touch_catalogs(
            "EXECUTE 'UPDATE pg_type SET typname = $1' USING 'a';"
        ));
        assert!(!may_touch_catalogs(
            "CREATE EXTENSION pg_trgm; SELECT pg_notify('a', 'b');"
        ));
        assert!(!may_touch_catalogs(
            "CREATE TABLE pg_like (id int); INSERT INTO t VALUES (1);"
        ));
    }

    #[test]
    fn the_log_counts_only_after_its_marker() {
        let log =
            "#3\nE\tCREATE TABLE\t1259\t16390\nD\tDROP INDEX\t1259\t16400\nE\tCREATE TABLE\t0\t0\n";
        let t = parse_log(log, "#3\n").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[1],
            Touched {
                dropped: true,
                tag: "DROP INDEX".into(),
                classid: 1259,
                objid: 16400
            }
        );
        assert!(parse_log(log, "#4\n").is_none());
        assert!(parse_log("#2\n", "#3\n").is_none());
    }
}
