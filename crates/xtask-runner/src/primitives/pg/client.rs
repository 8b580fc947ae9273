//! The PostgreSQL client: the sync `postgres` crate (wire protocol, so it works with any
//! server version), plus what turns its errors into `file:line:col: message`.

use std::str::FromStr;
use std::time::Duration;

use postgres::error::ErrorPosition;
use postgres::{Client, Config, NoTls};

use super::error::PgError;

/// Connects to `url` (`postgres://user[:password]@host[:port]/db`, or key=value form).
pub fn connect(url: &str) -> Result<Client, PgError> {
    let mut config = Config::from_str(url).map_err(|source| PgError::BadUrl {
        url: redact(url),
        source,
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.connect(NoTls).map_err(|source| PgError::Connect {
        url: redact(url),
        source,
    })
}

/// Whether a throwaway cluster on `port` accepts sessions yet.
pub fn ping(port: u16) -> bool {
    Config::new()
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(1))
        .connect(NoTls)
        .is_ok()
}

pub fn local_url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}")
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// The same server, another database.
pub fn with_database(url: &str, db: &str) -> Result<String, PgError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return Err(PgError::NotPostgresUrl { url: redact(url) });
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{db}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// `ERROR 42601: syntax error at or near "x"` plus detail, hint and context when present.
pub fn describe(err: &postgres::Error) -> String {
    let Some(db) = err.as_db_error() else {
        return err.to_string();
    };
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!("\n  DETAIL: {detail}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("\n  HINT: {hint}"));
    }
    if let Some(ErrorPosition::Internal { query, position }) = db.position() {
        text.push_str(&format!("\n  QUERY: {query} (at character {position})"));
    }
    if let Some(context) = db.where_() {
        text.push_str(&format!("\n  CONTEXT: {context}"));
    }
    text
}

/// The 1-based character offset into the query the server reported, if any.
pub fn position(err: &postgres::Error) -> Option<usize> {
    match err.as_db_error()?.position()? {
        ErrorPosition::Original(pos) => Some(*pos as usize),
        ErrorPosition::Internal { .. } => None,
    }
}

/// Line and column (1-based) of a 1-based character offset into `text`.
pub fn line_col(text: &str, char_pos: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in text.chars().take(char_pos.saturating_sub(1)) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Splits a SQL script into statements: `(byte offset, text)`, skipping empty ones. Knows
/// quoted strings, quoted identifiers, dollar quotes and both comment styles, which is enough
/// for migration files (it does not need to parse SQL, only find the `;` between statements).
pub fn split(sql: &str) -> Vec<(usize, &str)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    fn push<'a>(out: &mut Vec<(usize, &'a str)>, sql: &'a str, from: usize, to: usize) {
        let piece = &sql[from..to];
        if !strip_comments(piece).trim().is_empty() {
            out.push((from, piece));
        }
    }
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' => {
                // $tag$ ... $tag$ (a tag is an identifier without `$`, possibly empty).
                let rest = &sql[i + 1..];
                let tag_len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let is_tag = rest[tag_len..].starts_with('$')
                    && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit());
                if is_tag {
                    let delim = &sql[i..i + tag_len + 2];
                    let body = i + delim.len();
                    i = match sql[body..].find(delim) {
                        Some(end) => body + end + delim.len(),
                        None => bytes.len(),
                    };
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(&mut out, sql, start, i + 1);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        push(&mut out, sql, start, bytes.len());
    }
    out
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_become_lines_and_columns() {
        let sql = "-- c\nCREATE TABLE t (\n  id int,\n  oops\n);";
        let pos = sql.find("oops").unwrap() + 1;
        assert_eq!(line_col(sql, pos), (4, 3));
        assert_eq!(line_col("abc", 1), (1, 1));
    }

    #[test]
    fn splits_statements_but_not_inside_quotes_or_bodies() {
        let sql = "CREATE TABLE a (x text DEFAULT ';');\n-- a ; comment\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;\n\
                   /* ; */ SELECT \"a;b\" FROM a;\n-- trailing";
        let parts: Vec<&str> = split(sql).into_iter().map(|(_, s)| s.trim()).collect();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[1].contains("$body$ SELECT 1; $body$"), "{parts:?}");
        assert!(parts[2].ends_with("FROM a;"), "{parts:?}");
    }

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            with_database("postgres://app@db:5432/x?sslmode=disable", "y").unwrap(),
            "postgres://app@db:5432/y?sslmode=disable"
        );
    }
}
