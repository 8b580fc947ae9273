//! A database's schema as a sorted set of lines read from the catalog: schemas, tables,
//! columns and their types, constraints (foreign keys included), indexes, views, functions,
//! triggers, enums and other types, sequences and extensions. Two snapshots are equal when the
//! schemas are; their difference names what one has and the other lacks.
//!
//! Definitions come from the server's own deparsers (`pg_get_constraintdef`, `pg_get_indexdef`,
//! `pg_get_viewdef`, ...), so equal schemas give equal lines on one server version; across
//! versions a deparser's wording may differ, which is why cross-version differences are reported
//! rather than failed by default.

use std::collections::BTreeSet;

use postgres::Client;

use super::migrate::TABLE;

pub type Snapshot = BTreeSet<String>;

/// Namespaces that are not the application's.
const SYSTEM: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
                      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// `FirstNormalObjectId`: every object created after initdb (so every object a migration
/// creates, even after the OID counter wraps) has an OID at least this; the ones below are
/// initdb's, all in the system namespaces but `public` itself. Filtering on it first lets the
/// catalog queries read a few rows by index instead of scanning thousands of built-in ones.
const FIRST_USER_OID: u32 = 16384;

/// Objects that belong to an extension are the extension's, not the schema's.
fn not_extension(classid: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{classid}'::regclass \
         AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// How strictly two schemas must agree. The default is strict: column order counts and
/// function bodies must be identical.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compare {
    /// Leave column positions out (a history that drops and re-adds a column puts it last).
    pub ignore_column_order: bool,
    /// Compare function bodies with runs of whitespace as one space, trimmed.
    pub normalize_whitespace: bool,
}

pub fn take(client: &mut Client) -> Result<Snapshot, postgres::Error> {
    take_with(client, &Compare::default())
}

pub fn take_with(client: &mut Client, compare: &Compare) -> Result<Snapshot, postgres::Error> {
    Snapshotter::new(client, compare)?.take(client)
}

/// The snapshot query prepared once on a connection: the step-wise test takes three snapshots
/// per migration, and planning this query costs more than running it.
pub struct Snapshotter {
    statement: postgres::Statement,
    /// `None` on a server without `sha256()` (before 11).
    digest: Option<postgres::Statement>,
}

impl Snapshotter {
    pub fn new(client: &mut Client, compare: &Compare) -> Result<Snapshotter, postgres::Error> {
        let lines = query_text(compare);
        Ok(Snapshotter {
            statement: client.prepare(&lines)?,
            digest: client.prepare(&digest_text(&lines)).ok(),
        })
    }

    /// A snapshot through `client`, the connection this was prepared on.
    pub fn take(&self, client: &mut Client) -> Result<Snapshot, postgres::Error> {
        Ok(client
            .query(&self.statement, &[])?
            .iter()
            .filter_map(|row| row.get::<_, Option<String>>(0))
            .collect())
    }

    /// The `digest` of the snapshot `take` would give, computed by the server: one short row
    /// instead of hundreds of lines to send, decode and sort. `None` where the server cannot.
    pub fn take_digest(&self, client: &mut Client) -> Result<Option<String>, postgres::Error> {
        match &self.digest {
            Some(statement) => client.query_one(statement, &[]).map(|row| row.get(0)),
            None => Ok(None),
        }
    }
}

/// SHA-256 (hex) of a snapshot's lines in byte order, each as `<characters>:<line>`, so that
/// different sets never give the same text. The server computes the same from the same lines
/// (`digest_text`) in a UTF-8 database; in another encoding its sort order or bytes may differ,
/// which only makes the two disagree: a caller treats unequal digests as "compare the lines",
/// never as a difference, so a digest can only save work, not change a verdict.
pub fn digest(snapshot: &Snapshot) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for line in snapshot {
        hasher.update(format!("{}:", line.chars().count()).as_bytes());
        hasher.update(line.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of the lines `lines` (the snapshot query) returns: distinct, in byte order
/// (`COLLATE "C"`), as `digest` computes it. A null line drops out of `string_agg` (no `WHERE`:
/// the planner would push it into every branch and compute each line twice).
fn digest_text(lines: &str) -> String {
    format!(
        "SELECT encode(sha256(convert_to(COALESCE(string_agg(length(l) || ':' || l, '' \
           ORDER BY l), ''), 'UTF8')), 'hex') \
         FROM (SELECT DISTINCT l COLLATE \"C\" AS l FROM ({lines}) q(l)) s"
    )
}

/// One part of the snapshot query: the rows of one kind of object. `line` is its text;
/// `key` is the object the line describes and `group` the relation a constraint, index or
/// trigger belongs to (the object itself for the others), so that a narrowed snapshot can ask
/// for the lines of a few relations and objects only (`keyed_text`);
/// `name` is the object's bare name, for telling which lines may print it.
struct Branch {
    line: String,
    key: &'static str,
    group: &'static str,
    name: &'static str,
    /// Another object whose loss changes the line without being the line's own (a column's
    /// default), or 0.
    member: &'static str,
    /// `FROM … WHERE …`.
    rest: String,
}

fn branches(compare: &Compare) -> Vec<Branch> {
    // A column's position among the live ones (dropped columns leave gaps in attnum).
    // (The rows of the query are exactly the live columns of each relation, so their rank by
    // attnum is that position; a narrowed query keeps whole relations, so the rank holds.)
    let position = if compare.ignore_column_order {
        ""
    } else {
        " || ' position ' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)"
    };
    let body = if compare.normalize_whitespace {
        "md5(btrim(regexp_replace(COALESCE(p.prosrc, ''), '\\s+', ' ', 'g')))"
    } else {
        "md5(COALESCE(p.prosrc, ''))"
    };
    let rel_ok = format!(
        "c.oid >= {FIRST_USER_OID} AND {SYSTEM} AND c.relname <> '{TABLE}' AND {}",
        not_extension("pg_class", "c.oid")
    );
    vec![
        Branch {
            line: "'schema ' || n.nspname".into(),
            key: "n.oid",
            group: "n.oid",
            name: "n.nspname",
            member: "0::oid",
            rest: format!(
                "FROM pg_namespace n WHERE {SYSTEM} AND {}",
                not_extension("pg_namespace", "n.oid")
            ),
        },
        Branch {
            line: "'extension ' || e.extname".into(),
            key: "e.oid",
            group: "e.oid",
            name: "e.extname",
            member: "0::oid",
            rest: "FROM pg_extension e WHERE true".into(),
        },
        Branch {
            line: "CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'p' THEN 'partitioned table ' \
               WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' \
               WHEN 'f' THEN 'foreign table ' WHEN 'c' THEN 'composite type ' END \
               || quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
               || CASE c.relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END \
               || CASE WHEN c.relkind IN ('v', 'm') THEN ': ' || pg_get_viewdef(c.oid) ELSE '' END"
                .into(),
            key: "c.oid",
            group: "c.oid",
            name: "c.relname",
            member: "0::oid",
            rest: format!(
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND {rel_ok}"
            ),
        },
        Branch {
            line: format!(
                "'column ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' \
               || quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) \
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
               || CASE a.attidentity WHEN 'a' THEN ' generated always as identity' \
                    WHEN 'd' THEN ' generated by default as identity' ELSE '' END \
               || CASE WHEN a.attgenerated = 's' THEN ' generated as ' ELSE '' END \
               || COALESCE(CASE WHEN a.attgenerated = 's' THEN '' ELSE ' default ' END \
                    || pg_get_expr(d.adbin, d.adrelid), '') \
               || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation \
                    THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END {position}"
            ),
            key: "c.oid",
            group: "c.oid",
            name: "c.relname",
            member: "COALESCE(d.oid, 0::oid)",
            rest: format!(
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attnum > 0 AND NOT a.attisdropped \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND {rel_ok}"
            ),
        },
        Branch {
            line: "'constraint ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
               || ' ' || quote_ident(con.conname) || ': ' || pg_get_constraintdef(con.oid)"
                .into(),
            key: "con.oid",
            group: "c.oid",
            name: "con.conname",
            member: "0::oid",
            rest: format!(
                "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {rel_ok}"
            ),
        },
        Branch {
            line: "'index ' || quote_ident(n.nspname) || '.' || quote_ident(i.relname) || ': ' \
               || pg_get_indexdef(i.oid)"
                .into(),
            key: "i.oid",
            group: "c.oid",
            name: "i.relname",
            member: "0::oid",
            rest: format!(
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class c ON c.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = i.relnamespace WHERE {rel_ok}"
            ),
        },
        Branch {
            line: "'sequence ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
               || ' as ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart \
               || ' increment ' || s.seqincrement || ' min ' || s.seqmin || ' max ' || s.seqmax \
               || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END \
               || COALESCE(' owned by ' || ( \
                    SELECT quote_ident(oc.relname) || '.' || quote_ident(oa.attname) \
                    FROM pg_depend d JOIN pg_class oc ON oc.oid = d.refobjid \
                    JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid \
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
                    LIMIT 1), '')"
                .into(),
            key: "c.oid",
            group: "c.oid",
            name: "c.relname",
            member: "0::oid",
            rest: format!(
                "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {rel_ok}"
            ),
        },
        Branch {
            line: format!(
                "CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' \
               WHEN 'w' THEN 'window function ' ELSE 'function ' END \
               || quote_ident(n.nspname) || '.' || quote_ident(p.proname) \
               || '(' || pg_get_function_identity_arguments(p.oid) || ')' \
               || COALESCE(' returns ' || pg_get_function_result(p.oid), '') \
               || ' language ' || l.lanname || ' ' || p.provolatile::text \
               || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END \
               || ' body ' || {body}"
            ),
            key: "p.oid",
            group: "p.oid",
            name: "p.proname",
            member: "0::oid",
            rest: format!(
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             JOIN pg_language l ON l.oid = p.prolang \
             WHERE p.oid >= {FIRST_USER_OID} AND {SYSTEM} AND {}",
                not_extension("pg_proc", "p.oid")
            ),
        },
        Branch {
            line: "'trigger ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' ' \
               || quote_ident(t.tgname) || ': ' || pg_get_triggerdef(t.oid)"
                .into(),
            key: "t.oid",
            group: "c.oid",
            name: "t.tgname",
            member: "0::oid",
            rest: format!(
                "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND {rel_ok}"
            ),
        },
        Branch {
            line: "CASE t.typtype WHEN 'e' THEN 'enum ' WHEN 'd' THEN 'domain ' \
               WHEN 'r' THEN 'range ' WHEN 'm' THEN 'multirange ' ELSE 'type ' END \
               || quote_ident(n.nspname) || '.' || quote_ident(t.typname) \
               || CASE t.typtype \
                    WHEN 'e' THEN ' (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' \
                       ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) || ')' \
                    WHEN 'd' THEN ' as ' || format_type(t.typbasetype, t.typtypmod) \
                       || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END \
                       || COALESCE(' default ' || t.typdefault, '') \
                       || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(dc.oid), ' ' \
                          ORDER BY dc.conname) FROM pg_constraint dc WHERE dc.contypid = t.oid), '') \
                    ELSE '' END"
                .into(),
            key: "t.oid",
            group: "t.oid",
            name: "t.typname",
            member: "0::oid",
            rest: format!(
                "FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.oid >= {FIRST_USER_OID} AND t.typtype IN ('e', 'd', 'r', 'm', 'b', 'p') \
               AND t.typelem = 0 AND {SYSTEM} AND {}",
                not_extension("pg_type", "t.oid")
            ),
        },
    ]
}

fn query_text(compare: &Compare) -> String {
    // One round trip: the step-wise test takes three snapshots per migration.
    branches(compare)
        .iter()
        .map(|b| format!("(SELECT {} {})", b.line, b.rest))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The snapshot query with each line's key, group, name and member (`Keyed`'s fields, in that
/// order after the line), for every object, or with `groups` (an SQL expression giving an oid
/// array) only for the lines whose group is in it.
pub fn keyed_text(compare: &Compare, groups: Option<&str>) -> String {
    branches(compare)
        .iter()
        .map(|b| {
            let only = groups
                .map(|g| format!(" AND {} = ANY({g})", b.group))
                .unwrap_or_default();
            format!(
                "(SELECT {}, {}, {}, {}::text, {} {}{only})",
                b.line, b.key, b.group, b.name, b.member, b.rest
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// One snapshot line with the object it describes (see `Branch`).
#[derive(Clone, Debug)]
pub struct Keyed {
    pub line: String,
    pub key: u32,
    pub group: u32,
    pub name: String,
    pub member: u32,
}

/// The rows of a `keyed_text` query, its columns from `at` on (lines that are null drop out,
/// as in `take`).
pub fn keyed_rows<'a>(rows: impl IntoIterator<Item = &'a postgres::Row>, at: usize) -> Vec<Keyed> {
    rows.into_iter()
        .filter_map(|r| {
            Some(Keyed {
                line: r.get::<_, Option<String>>(at)?,
                key: r.get(at + 1),
                group: r.get(at + 2),
                name: r.get::<_, Option<String>>(at + 3).unwrap_or_default(),
                member: r.get(at + 4),
            })
        })
        .collect()
}

/// What `b` has that `a` lacks (`added`) and what `a` has that `b` lacks (`removed`).
#[derive(Default)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

pub fn diff(a: &Snapshot, b: &Snapshot) -> Diff {
    Diff {
        added: b.difference(a).cloned().collect(),
        removed: a.difference(b).cloned().collect(),
    }
}

/// A few lines of a list, then how many more.
pub fn summarize(lines: &[String], limit: usize) -> String {
    let mut text = lines
        .iter()
        .take(limit)
        .map(|l| format!("\n    {l}"))
        .collect::<String>();
    if lines.len() > limit {
        text.push_str(&format!("\n    … and {} more", lines.len() - limit));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(lines: &[&str]) -> Snapshot {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn digests_tell_apart_sets_whose_lines_join_alike() {
        // A view's line holds newlines: joined plainly, these two would read the same.
        let one = snap(&["view public.v: SELECT 1\n FROM t"]);
        let two = snap(&["view public.v: SELECT 1", " FROM t"]);
        assert_ne!(digest(&one), digest(&two));
        assert_eq!(digest(&one), digest(&one.clone()));
        assert_eq!(digest(&Snapshot::new()).len(), 64);
    }
}
