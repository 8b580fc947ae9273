//! Migration-crate mode: the project's own migration binary does the migrating (SeaORM's
//! `migration` crate, or anything speaking sea-orm-migration's command line: `status`,
//! `up [-n N]`, `down [-n N]`, `fresh`, with `DATABASE_URL` set), and xtask runs the same checks
//! as for SQL files around it:
//!
//! 1. `status` lists the migrations (`Migration '<name>'... Pending`): that is the count;
//! 2. `up` applies all (timed), then `down -n 1` once per migration must restore the empty
//!    schema;
//! 3. step-wise, per migration: `up -n 1`, `down -n 1` (the schema must be exactly what it was
//!    before), `up -n 1` (exactly what the first up gave);
//! 4. `fresh` (drop everything, apply all) must give the schema of step 2 again.
//!
//! A failed command is reported with the migration it was on (`<n> of <total>`, found from
//! `status`), the source file named like it when there is one, and the error lines the binary
//! printed (sea-orm prints the server's message).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use postgres::Client;

use super::matrix::{describe_diff, Options, Report};
use super::snapshot::{self, Snapshot, Snapshotter};
use super::{client, Ctx};
use crate::process::{self, Spec};

/// What one run of the binary printed and whether it succeeded.
struct Outcome {
    success: bool,
    status: String,
    output: String,
    display: String,
}

fn run(cli: &[String], args: &[&str], url: &str, ctx: &Ctx) -> Result<Outcome, String> {
    let argv: Vec<String> = cli
        .iter()
        .cloned()
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    let mut env = ctx.env.clone();
    env.push(("DATABASE_URL".into(), Some(url.to_string())));
    let spec = Spec {
        argv: argv.clone(),
        env,
        dir: Some(ctx.dir.clone()),
        ..Spec::default()
    };
    let display = process::display_argv(&argv);
    // Captured, not streamed: a dozen runs per version on parallel versions would bury the
    // log; a failure shows what the binary printed.
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink: process::Sink = {
        let captured = Arc::clone(&captured);
        Arc::new(move |bytes: Vec<u8>| captured.lock().unwrap().extend_from_slice(&bytes))
    };
    let finished =
        process::execute(&spec, &ctx.token, sink).map_err(|e| format!("`{display}`: {e}"))?;
    let output = String::from_utf8_lossy(&captured.lock().unwrap()).into_owned();
    Ok(Outcome {
        success: finished.success(),
        status: finished.describe(),
        output,
        display,
    })
}

/// `status`: the migrations in order and whether each is applied.
fn status(cli: &[String], url: &str, ctx: &Ctx) -> Result<Vec<(String, bool)>, String> {
    let out = run(cli, &["status"], url, ctx)?;
    if !out.success {
        return Err(format!(
            "`{}` failed with {}{}",
            out.display,
            out.status,
            printed_error(&out.output)
        ));
    }
    let list = parse_status(&out.output);
    if list.is_empty() {
        return Err(format!(
            "`{}` listed no migrations (expected lines like `Migration 'm20240101_000001_x'... Pending`)",
            out.display
        ));
    }
    Ok(list)
}

/// sea-orm-migration's `Migration '<name>'... Applied|Pending` lines (log prefixes allowed).
fn parse_status(output: &str) -> Vec<(String, bool)> {
    output
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("Migration '")? + "Migration '".len()..];
            let (name, state) = rest.split_once("'...")?;
            let state = state.trim();
            (state.starts_with("Applied") || state.starts_with("Pending"))
                .then(|| (name.to_string(), state.starts_with("Applied")))
        })
        .collect()
}

/// The error lines a failed run printed (sea-orm: `Execution Error: error returned from
/// database: …`), else its last lines.
pub fn printed_error(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    let shown = if errors.is_empty() {
        &lines[lines.len().saturating_sub(3)..]
    } else {
        &errors[errors.len().saturating_sub(3)..]
    };
    shown.iter().map(|l| format!("\n  {}", l.trim())).collect()
}

/// The source file of a migration: `<name>.rs` under the project, if there is one.
fn source_of(name: &str, root: &Path) -> Option<String> {
    let file = format!("{name}.rs");
    walkdir::WalkDir::new(root)
        .max_depth(6)
        .into_iter()
        .filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            e.depth() == 0 || !(n.starts_with('.') || n == "target" || n == "node_modules")
        })
        .flatten()
        .find(|e| e.file_name().to_string_lossy() == file)
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap_or(e.path())
                .display()
                .to_string()
        })
}

/// Names migration `index` of `names` for a message: `migration 2 of 3: m2024… (src/m2024….rs)`.
fn which(names: &[String], index: usize, ctx: &Ctx) -> String {
    let name = &names[index];
    let file = source_of(name, &ctx.dir)
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    format!("migration {} of {}: {name}{file}", index + 1, names.len())
}

/// The schema as the checks compare it: the migration tool's own tables left out.
fn take_snapshot(snapper: &Snapshotter, c: &mut Client) -> Result<Snapshot, String> {
    snapper
        .take(c)
        .map(super::matrix::without_tools)
        .map_err(|e| client::describe(&e))
}

pub fn test(
    report: &mut Report,
    url: &str,
    options: &Options,
    cli: &[String],
    fresh_database: &mut dyn FnMut(&mut Report) -> Result<String, String>,
    ctx: &Ctx,
) -> Result<(), String> {
    let cmp = &options.compare;
    let mut c = client::connect(url)?;
    let snapper = Snapshotter::new(&mut c, cmp).map_err(|e| client::describe(&e))?;
    let take = |c: &mut Client| take_snapshot(&snapper, c);
    let baseline = take(&mut c)?;
    let names: Vec<String> = status(cli, url, ctx)?.into_iter().map(|(n, _)| n).collect();
    let total = names.len();
    report.migrations = total;

    // 1. Everything up.
    let t = Instant::now();
    let out = run(cli, &["up"], url, ctx)?;
    report.time("apply", t.elapsed());
    if !out.success {
        let pending = status(cli, url, ctx)?
            .iter()
            .position(|(_, applied)| !applied)
            .unwrap_or(0);
        report.fail(format!(
            "{}: `{}` failed with {}{}",
            which(&names, pending, ctx),
            out.display,
            out.status,
            printed_error(&out.output)
        ));
        return Ok(());
    }
    let applied = take(&mut c)?;

    // 2. Everything down, one at a time.
    let t = Instant::now();
    let mut clean = true;
    for i in (0..total).rev() {
        let out = run(cli, &["down", "-n", "1"], url, ctx)?;
        if !out.success {
            report.fail(format!(
                "{}: `{}` failed with {}{}",
                which(&names, i, ctx),
                out.display,
                out.status,
                printed_error(&out.output)
            ));
            clean = false;
            break;
        }
    }
    report.time("rollback", t.elapsed());
    if clean {
        let d = snapshot::diff(&baseline, &take(&mut c)?);
        if !d.is_empty() {
            report.fail(format!(
                "rolling back every migration does not restore the empty schema:{}",
                describe_diff(&d, "left behind", "dropped too much")
            ));
            clean = false;
        }
    }
    report.snapshot = Some(applied.clone());
    if !options.stepwise {
        return Ok(());
    }

    // 3. Step-wise, where the rollback left an empty schema, else in a fresh database.
    let t = Instant::now();
    let step_url = if clean {
        url.to_string()
    } else {
        fresh_database(report)?
    };
    let mut c = client::connect(&step_url)?;
    let snapper = Snapshotter::new(&mut c, cmp).map_err(|e| client::describe(&e))?;
    let take = |c: &mut Client| take_snapshot(&snapper, c);
    let result = stepwise(report, &mut c, &step_url, cli, &names, &applied, &take, ctx);
    report.time("stepwise", t.elapsed());
    result
}

#[allow(clippy::too_many_arguments)]
fn stepwise(
    report: &mut Report,
    c: &mut Client,
    url: &str,
    cli: &[String],
    names: &[String],
    applied: &Snapshot,
    take: &dyn Fn(&mut Client) -> Result<Snapshot, String>,
    ctx: &Ctx,
) -> Result<(), String> {
    let step = |report: &mut Report, i: usize, args: &[&str]| -> Result<bool, String> {
        let out = run(cli, args, url, ctx)?;
        if !out.success {
            report.fail(format!(
                "{}: `{}` failed with {}{}",
                which(names, i, ctx),
                out.display,
                out.status,
                printed_error(&out.output)
            ));
        }
        Ok(out.success)
    };
    // Fails the report when the schemas differ; true when they are the same.
    let same = |report: &mut Report,
                i: usize,
                a: &Snapshot,
                b: &Snapshot,
                what: &str,
                plus: &str,
                minus: &str| {
        let d = snapshot::diff(a, b);
        if !d.is_empty() {
            report.fail(format!(
                "{}: {what}:{}",
                which(names, i, ctx),
                describe_diff(&d, plus, minus)
            ));
        }
        d.is_empty()
    };
    let mut before = take(c)?;
    for i in 0..names.len() {
        if ctx.token.is_cancelled() {
            return Err("stopped".into());
        }
        if !step(report, i, &["up", "-n", "1"])? {
            return Ok(());
        }
        let after = take(c)?;
        if !step(report, i, &["down", "-n", "1"])? {
            return Ok(());
        }
        let undone = "its down does not exactly undo its up";
        if !same(
            report,
            i,
            &before,
            &take(c)?,
            undone,
            "left behind",
            "dropped too much",
        ) {
            return Ok(());
        }
        if !step(report, i, &["up", "-n", "1"])? {
            return Ok(());
        }
        let again = take(c)?;
        let redone = "applying it again after its down gives a different schema";
        if !same(report, i, &after, &again, redone, "new", "missing") {
            return Ok(());
        }
        before = again;
    }
    // 4. `fresh`: drop everything, apply everything: the first apply's schema again.
    let out = run(cli, &["fresh"], url, ctx)?;
    if !out.success {
        report.fail(format!(
            "`{}` failed with {}{}",
            out.display,
            out.status,
            printed_error(&out.output)
        ));
        return Ok(());
    }
    let d = snapshot::diff(applied, &take(c)?);
    if !d.is_empty() {
        report.fail(format!(
            "`fresh` gives a different schema than the first apply:{}",
            describe_diff(&d, "new", "missing")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_as_sea_orm_prints_them() {
        let out = "Checking migration status\n\
                   Migration 'm20220101_000001_create_table'... Applied\n\
                   2024-01-01T00:00:00Z  INFO sea_orm_migration::migrator: Migration 'm2_b'... Pending\n\
                   Migration 'nonsense\n";
        assert_eq!(
            parse_status(out),
            [
                ("m20220101_000001_create_table".to_string(), true),
                ("m2_b".to_string(), false)
            ]
        );
    }

    #[test]
    fn the_error_lines_are_what_is_shown() {
        let out = "Applying migration 'm1'\nExecution Error: error returned from database: syntax error at or near \"TABL\"\n";
        assert_eq!(
            printed_error(out),
            "\n  Execution Error: error returned from database: syntax error at or near \"TABL\""
        );
        assert_eq!(printed_error("a\nb\nc\nd\n"), "\n  b\n  c\n  d");
    }
}
