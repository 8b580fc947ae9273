//! SQL on a server from a script: `pg::query` (one statement, parameters, rows as maps),
//! `pg::execute` / `pg::seed` (a script of statements, errors at `line:col`).
//!
//! Rows come back through the binary protocol; the common types become Rhai values (booleans,
//! integers, floats, strings, JSON as maps and arrays, numeric as an integer or a float, dates,
//! timestamps and uuids as strings). Any other type is an error that says to cast it to text,
//! rather than a value silently made up.

use postgres::types::{FromSql, ToSql, Type};
use postgres::Client;
use rhai::{Array, Dynamic, Map};

use super::client;
use super::error::{PgError, QueryError};
use super::migrate::{self, Script};

/// Runs one statement with `params` (`$1`, `$2`, … in the SQL); returns its rows.
pub fn query(c: &mut Client, sql: &str, params: &[Dynamic]) -> Result<Array, QueryError> {
    let statement = c.prepare(sql).map_err(|e| located(e, sql))?;
    if statement.params().len() != params.len() {
        return Err(QueryError::ParamCount {
            expected: statement.params().len(),
            given: params.len(),
        });
    }
    let values: Vec<Box<dyn ToSql + Sync>> = statement
        .params()
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (ty, v))| param(ty, v).map_err(|reason| QueryError::Param { n: i + 1, reason }))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref()).collect();
    let rows = c.query(&statement, &refs).map_err(|e| located(e, sql))?;
    let mut out = Array::new();
    for row in rows {
        // A row stays a map: its keys are the query's columns, not fields of ours.
        let mut map = Map::new();
        for (i, col) in row.columns().iter().enumerate() {
            let raw: Raw = row.get(i);
            let value = decode(col.type_(), raw.0).map_err(|reason| QueryError::Column {
                column: col.name().into(),
                reason,
            })?;
            map.insert(col.name().into(), value);
        }
        out.push(Dynamic::from_map(map));
    }
    Ok(out)
}

/// Runs a script of statements in one transaction (unless its first line is
/// `-- no-transaction`, or it is a single statement, which may then be one that refuses a
/// transaction, like `CREATE DATABASE`); `display` names it in errors (`file:line:col: ERROR …`).
pub fn execute(c: &mut Client, sql: &str, display: &str) -> Result<(), PgError> {
    let no_tx = sql.starts_with("-- no-transaction") || client::split(sql).len() < 2;
    let script = Script {
        display: display.to_string(),
        sql: sql.to_string(),
        transaction: !no_tx,
        refuse_empty: false,
    };
    Ok(migrate::run_script(c, &script)?)
}

/// Creates database `name` on the server unless it exists.
pub fn create_database(c: &mut Client, name: &str) -> Result<(), PgError> {
    let exists = c
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(PgError::Sql)?
        .is_some();
    if !exists {
        c.batch_execute(&format!("CREATE DATABASE {}", super::backup::quote(name)))
            .map_err(|source| PgError::SqlIn {
                doing: format!("CREATE DATABASE {name}"),
                source,
            })?;
    }
    Ok(())
}

fn located(source: postgres::Error, sql: &str) -> QueryError {
    QueryError::Statement {
        at: client::position(&source).map(|p| client::line_col(sql, p)),
        source,
    }
}

fn param(ty: &Type, v: &Dynamic) -> Result<Box<dyn ToSql + Sync>, String> {
    let int = || -> Result<i64, String> {
        if let Ok(i) = v.as_int() {
            return Ok(i);
        }
        if v.is_string() {
            return v
                .to_string()
                .trim()
                .parse()
                .map_err(|_| format!("`{v}` is not an integer"));
        }
        Err(format!(
            "expected an integer for {ty}, got {}",
            v.type_name()
        ))
    };
    let float = || -> Result<f64, String> {
        if let Ok(f) = v.as_float() {
            return Ok(f);
        }
        if let Ok(i) = v.as_int() {
            return Ok(i as f64);
        }
        if v.is_string() {
            return v
                .to_string()
                .trim()
                .parse()
                .map_err(|_| format!("`{v}` is not a number"));
        }
        Err(format!("expected a number for {ty}, got {}", v.type_name()))
    };
    let range = |what: &str| format!("{v} is out of range for {what}");
    if v.is_unit() {
        // NULL of the parameter's type.
        return Ok(match *ty {
            Type::BOOL => Box::new(None::<bool>),
            Type::INT2 => Box::new(None::<i16>),
            Type::INT4 => Box::new(None::<i32>),
            Type::INT8 => Box::new(None::<i64>),
            Type::FLOAT4 => Box::new(None::<f32>),
            Type::FLOAT8 => Box::new(None::<f64>),
            _ => Box::new(None::<String>),
        });
    }
    Ok(match *ty {
        Type::BOOL => Box::new(
            v.as_bool()
                .map_err(|t| format!("expected true or false, got {t}"))?,
        ),
        Type::INT2 => Box::new(i16::try_from(int()?).map_err(|_| range("smallint"))?),
        Type::INT4 => Box::new(i32::try_from(int()?).map_err(|_| range("integer"))?),
        Type::INT8 => Box::new(int()?),
        Type::OID => Box::new(u32::try_from(int()?).map_err(|_| range("oid"))?),
        Type::FLOAT4 => Box::new(float()? as f32),
        Type::FLOAT8 => Box::new(float()?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Box::new(crate::primitives::display_value(v))
        }
        _ => {
            return Err(format!(
                "type {ty} cannot be sent as is: cast the parameter in SQL (`$n::text::{ty}`)"
            ))
        }
    })
}

/// A column's bytes whatever its type; `decode` turns them into a value.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "short value from the server".to_string())
}

fn decode(ty: &Type, raw: Option<&[u8]>) -> Result<Dynamic, String> {
    let Some(raw) = raw else {
        return Ok(Dynamic::UNIT);
    };
    let text = || String::from_utf8_lossy(raw).into_owned();
    Ok(match *ty {
        Type::BOOL => Dynamic::from_bool(raw.first() == Some(&1)),
        Type::INT2 => Dynamic::from_int(i16::from_be_bytes(be(raw)?) as i64),
        Type::INT4 => Dynamic::from_int(i32::from_be_bytes(be(raw)?) as i64),
        Type::INT8 => Dynamic::from_int(i64::from_be_bytes(be(raw)?)),
        Type::OID => Dynamic::from_int(u32::from_be_bytes(be(raw)?) as i64),
        Type::FLOAT4 => Dynamic::from_float(f32::from_be_bytes(be(raw)?) as f64),
        Type::FLOAT8 => Dynamic::from_float(f64::from_be_bytes(be(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Dynamic::from(text())
        }
        Type::JSON => json(raw)?,
        // jsonb: a format version byte (1), then the text.
        Type::JSONB => json(raw.get(1..).unwrap_or_default())?,
        Type::NUMERIC => {
            let s = numeric(raw)?;
            match s.parse::<i64>() {
                Ok(i) if !s.contains('.') => Dynamic::from_int(i),
                _ => match s.parse::<f64>() {
                    Ok(f) => Dynamic::from_float(f),
                    Err(_) => Dynamic::from(s),
                },
            }
        }
        Type::UUID => {
            let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            Dynamic::from(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ))
        }
        Type::DATE => Dynamic::from(date(i32::from_be_bytes(be(raw)?) as i64)),
        Type::TIMESTAMP => Dynamic::from(timestamp(i64::from_be_bytes(be(raw)?), "")),
        Type::TIMESTAMPTZ => Dynamic::from(timestamp(i64::from_be_bytes(be(raw)?), "+00")),
        Type::BYTEA => Dynamic::from(format!(
            "\\x{}",
            raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )),
        _ => {
            return Err(format!(
                "type {ty} is not converted: cast it to text in the query (`::text`)"
            ))
        }
    })
}

fn json(raw: &[u8]) -> Result<Dynamic, String> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| format!("bad JSON from the server: {e}"))?;
    rhai::serde::to_dynamic(&value).map_err(|e| e.to_string())
}

/// PostgreSQL's epoch, 2000-01-01, in days since 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

fn date(days: i64) -> String {
    let (y, m, d) = crate::utc::civil_from_days(days + PG_EPOCH_DAYS);
    format!("{y:04}-{m:02}-{d:02}")
}

fn timestamp(micros: i64, zone: &str) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let mut out = format!(
        "{} {:02}:{:02}:{:02}",
        date(days),
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if frac != 0 {
        out.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    out.push_str(zone);
    out
}

/// The binary numeric format as decimal text: digit count, weight (of the first base-10000
/// digit), sign, display scale, then the base-10000 digits.
fn numeric(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        Ok(u16::from_be_bytes(be(&raw[(i * 2).min(raw.len())..])?))
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16 as i64;
    let sign = word(2)?;
    let dscale = word(3)? as usize;
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let digit = |k: i64| -> u16 {
        if k < 0 {
            0
        } else {
            digits.get(k as usize).copied().unwrap_or(0)
        }
    };
    let mut int = String::new();
    for k in 0..=weight {
        if int.is_empty() {
            int = digit(k).to_string();
        } else {
            int.push_str(&format!("{:04}", digit(k)));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut k = weight + 1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit(k)));
        k += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[u16]) -> Vec<u8> {
        w.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    #[test]
    fn numerics_decode_as_postgres_prints_them() {
        // 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
        assert_eq!(
            numeric(&words(&[3, 1, 0, 3, 1, 2345, 6780])).unwrap(),
            "12345.678"
        );
        // -0.0005: digit 5 at weight -1 (0.0005), scale 4.
        assert_eq!(
            numeric(&words(&[1, 0xffff, 0x4000, 4, 5])).unwrap(),
            "-0.0005"
        );
        // 20000: digit 2 at weight 1, trailing zero digits dropped.
        assert_eq!(numeric(&words(&[1, 1, 0, 0, 2])).unwrap(), "20000");
        assert_eq!(numeric(&words(&[0, 0, 0, 2])).unwrap(), "0.00");
    }

    #[test]
    fn dates_and_timestamps_count_from_2000() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(
            timestamp(86_400_000_000 + 1_500_000, "+00"),
            "2000-01-02 00:00:01.5+00"
        );
    }
}
