//! `pg::backup` / `pg::restore`: a database snapshot that can be restored in the same cluster,
//! for rehearsing "backup → migrate → verify → restore on failure".
//!
//! A backup is `CREATE DATABASE <copy> TEMPLATE <db>`: the server copies the database whole
//! (schema, data, sequences' positions, large objects, grants, everything a dump would carry
//! and more), with SQL only, so it needs neither pg_dump nor a client matching the server's
//! version, and it takes about as long as copying the files. A catalog-driven data copy was the
//! alternative; it would have to order tables by their foreign keys, fix up sequences and still
//! miss what it does not know about. The price: the source may have no other sessions during
//! the copy (the server refuses, and we say who is connected), the copy lives in the same
//! cluster, and the user needs CREATEDB. Restoring drops the database (ending its sessions) and
//! creates it again from the copy, which stays, so one backup can be restored more than once.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postgres::Client;

use super::client;
use super::error::PgError;

pub struct Backup {
    pub database: String,
    pub copy: String,
}

/// The database a URL names (libpq's default: the user's name).
pub fn database_of(url: &str) -> Result<String, PgError> {
    let config = postgres::Config::from_str(url).map_err(|source| PgError::BadUrl {
        url: client::redact(url),
        source,
    })?;
    config
        .get_dbname()
        .or(config.get_user())
        .map(str::to_string)
        .ok_or_else(|| PgError::NoDatabase {
            url: client::redact(url),
        })
}

/// A session on another database of the same server, for CREATE/DROP DATABASE.
pub fn maintenance(url: &str, avoid: &str) -> Result<Client, PgError> {
    let mut last = None;
    for db in ["postgres", "template1"] {
        if db == avoid {
            continue;
        }
        match client::connect(&client::with_database(url, db)?) {
            Ok(c) => return Ok(c),
            Err(e) => last = Some(e),
        }
    }
    // `avoid` is one of the two only when the other was tried.
    Err(last.expect("a maintenance database was tried"))
}

pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Copies the URL's database to a new one and returns its name.
pub fn backup(url: &str) -> Result<Backup, PgError> {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let database = database_of(url)?;
    let mut admin = maintenance(url, &database)?;
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let mut copy = format!("xtask_backup_{}_{n}_{database}", std::process::id());
    // Identifiers are at most 63 bytes.
    while copy.len() > 63 {
        copy.pop();
    }
    create_from(&mut admin, &copy, &database)?;
    Ok(Backup { database, copy })
}

/// Replaces the URL's database with a copy of `backup`.
pub fn restore(url: &str, backup: &str) -> Result<(), PgError> {
    let database = database_of(url)?;
    let mut admin = maintenance(url, &database)?;
    drop_database(&mut admin, &database)?;
    create_from(&mut admin, &database, backup)
}

pub fn drop_database(admin: &mut Client, name: &str) -> Result<(), PgError> {
    // FORCE (13+) ends the database's sessions; older servers need them gone.
    let force = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(name));
    if admin.batch_execute(&force).is_ok() {
        return Ok(());
    }
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote(name)))
        .map_err(|source| PgError::SqlIn {
            doing: format!("DROP DATABASE {name}"),
            source,
        })
}

/// `CREATE DATABASE new TEMPLATE source`, waiting briefly for sessions that are closing (a
/// client that just disconnected leaves its backend for a moment), then naming those left.
fn create_from(admin: &mut Client, new: &str, source: &str) -> Result<(), PgError> {
    let sql = format!("CREATE DATABASE {} TEMPLATE {}", quote(new), quote(source));
    let started = Instant::now();
    loop {
        let Err(e) = admin.batch_execute(&sql) else {
            return Ok(());
        };
        let busy = e.as_db_error().is_some_and(|d| d.code().code() == "55006");
        if !busy || started.elapsed() > Duration::from_secs(5) {
            let sessions = match busy {
                true => sessions(admin, source),
                false => String::new(),
            };
            return Err(PgError::CreateFrom {
                sql,
                source: e,
                sessions,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sessions(admin: &mut Client, db: &str) -> String {
    let rows = admin
        .query(
            "SELECT pid, usename, application_name, coalesce(client_addr::text, 'local') \
             FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap_or_default();
    let list: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "pid {} ({} from {}{})",
                r.get::<_, i32>(0),
                r.get::<_, Option<String>>(1).unwrap_or_default(),
                r.get::<_, String>(3),
                r.get::<_, Option<String>>(2)
                    .filter(|a| !a.is_empty())
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "\n  sessions on {db} (close them before the backup): {}",
        list.join(", ")
    )
}
