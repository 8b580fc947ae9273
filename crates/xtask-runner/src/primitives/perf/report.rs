//! The comparison as a table in the job's log and as markdown (returned, for the step summary
//! or a PR comment), and `perf::enforce`, which turns the verdict into the job's outcome.

use std::io::Write;

use rhai::{Dynamic, Map};

use super::compare::{from_dynamic, Comparison, Row, Verdict};
use super::stats::{format_ns, format_pct};
use super::{message, print, store, PerfError};
use crate::events::Level;
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options};
use crate::primitives::Result;

options! {
    /// Options of `perf::report`.
    pub struct ReportKeys for "perf::report" {
        /// The table's title (default: the comparison's).
        title: Option<String>,
        /// Also appends the markdown to `$GITHUB_STEP_SUMMARY` when it is set.
        summary: bool = false,
    }
}
use crate::script::context;

const HEADER: [&str; 5] = ["benchmark", "baseline", "current", "change", "verdict"];

fn cells(row: &Row) -> [String; 5] {
    let figure = |f: &Option<super::Figure>| f.as_ref().map_or("—".into(), |f| format_ns(f.ns));
    let change = match row.change_pct {
        Some(pct) if row.significant => format_pct(pct),
        Some(pct) => format!("{} (noise)", format_pct(pct)),
        None => "—".into(),
    };
    [
        row.name.clone(),
        figure(&row.baseline),
        figure(&row.current),
        change,
        row.verdict.label().to_string(),
    ]
}

/// A plain-text table, columns aligned, numbers right-aligned.
pub fn table(cmp: &Comparison) -> String {
    let rows: Vec<[String; 5]> = cmp.rows.iter().map(cells).collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 5]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 || i == 4 {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        out.trim_end().to_string()
    };
    let mut out = String::new();
    if !cmp.title.is_empty() {
        out.push_str(&cmp.title);
        out.push('\n');
    }
    out.push_str(&line(&HEADER.map(String::from)));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str(&summary_line(cmp));
    out.push('\n');
    for note in cmp
        .failures
        .iter()
        .chain(&cmp.warnings)
        .chain(&cmp.confirmation)
    {
        out.push_str(&format!("  {note}\n"));
    }
    // Improvements and changes inside the noise: worth a line, not a verdict.
    for row in cmp.rows.iter().filter(|r| r.verdict == Verdict::Pass) {
        for note in &row.notes {
            out.push_str(&format!("  {}: {note}\n", row.name));
        }
    }
    out
}

fn summary_line(cmp: &Comparison) -> String {
    let noise = cmp
        .noise_pct
        .map(|n| format!("; noise up to ±{n:.1}%"))
        .unwrap_or_default();
    format!(
        "perf: {} (warn over {}%, fail over {}%; a change counts once the confidence intervals are apart{noise})",
        cmp.verdict.label(),
        cmp.warn_pct,
        cmp.fail_pct
    )
}

pub fn markdown(cmp: &Comparison) -> String {
    let icon = match cmp.verdict {
        Verdict::Pass => "✅",
        Verdict::Warn => "⚠️",
        Verdict::Fail => "❌",
    };
    let title = if cmp.title.is_empty() {
        "Performance".to_string()
    } else {
        format!("Performance: {}", cmp.title)
    };
    let mut out = format!("### {icon} {title}\n\n");
    out.push_str("| benchmark | baseline | current | change | verdict |\n");
    out.push_str("|---|---:|---:|---:|---|\n");
    for row in &cmp.rows {
        let [name, base, cur, change, verdict] = cells(row);
        out.push_str(&format!(
            "| `{}` | {base} | {cur} | {change} | {verdict} |\n",
            name.replace('|', "\\|")
        ));
    }
    out.push('\n');
    for note in &cmp.failures {
        out.push_str(&format!("- ❌ {note}\n"));
    }
    for note in &cmp.warnings {
        out.push_str(&format!("- ⚠️ {note}\n"));
    }
    for note in &cmp.confirmation {
        out.push_str(&format!("- 🔁 {note}\n"));
    }
    out.push_str(&format!("\n{}\n", summary_line(cmp)));
    out
}

/// `perf::report(cmp, [#{ title, summary }])`: prints the table, writes `report.md` next to the
/// history, appends to `$GITHUB_STEP_SUMMARY` when `summary: true` and it is set, returns the
/// markdown.
pub fn report_fn(cmp: Dynamic, options: Map) -> Result<String> {
    let options: ReportKeys = options::parse(&options)?;
    let mut cmp = from_dynamic(&cmp)?;
    if let Some(title) = options.title {
        cmp.title = title;
    }
    let scope = context::current();
    print(&scope, &table(&cmp));
    let md = markdown(&cmp);
    let dir = store::dir(&scope);
    let path = dir.join("report.md");
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&path, &md))
        .map_err(|source| PerfError::Write {
            path: path.clone(),
            source,
        })
        .script()?;
    if options.summary {
        if let Some(summary) = scope
            .env_var("GITHUB_STEP_SUMMARY")
            .filter(|s| !s.is_empty())
        {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&summary)
                .and_then(|mut f| writeln!(f, "{md}"))
                .map_err(|source| PerfError::Append {
                    path: summary.into(),
                    source,
                })
                .script()?;
        }
    }
    Ok(md)
}

/// `perf::enforce(cmp)`: warnings become warnings in the log; a failing verdict fails the job
/// with one line per failure (benchmark and figure).
pub fn enforce_fn(cmp: Dynamic) -> Result<()> {
    let cmp = from_dynamic(&cmp)?;
    let scope = context::current();
    for warning in &cmp.warnings {
        message(&scope, Level::Warn, format!("perf: {warning}"));
    }
    verdict(&cmp).script()
}

/// The failing verdict of a comparison as an error, one failure per line.
pub fn verdict(cmp: &Comparison) -> std::result::Result<(), PerfError> {
    if cmp.verdict == Verdict::Fail {
        return Err(PerfError::CheckFailed {
            failures: cmp.failures.iter().map(|f| f.to_string()).collect(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::compare::{compare, Options};
    use super::super::{Figure, Figures};
    use super::*;

    #[test]
    fn table_and_markdown_show_every_column() {
        let fig = |ns: f64| Figure {
            ns,
            lower: ns - 1.0,
            upper: ns + 1.0,
            rss_mb: None,
        };
        let base: Figures = [("parse/get".to_string(), fig(400.0))].into();
        let cur: Figures = [("parse/get".to_string(), fig(800.0))].into();
        let cmp = compare(&base, &cur, &Options::default());
        let t = table(&cmp);
        assert!(
            t.contains("benchmark  baseline  current   change  verdict"),
            "{t}"
        );
        assert!(
            t.contains("parse/get    400 ns   800 ns  +100.0%  fail"),
            "{t}"
        );
        let md = markdown(&cmp);
        assert!(
            md.contains("| `parse/get` | 400 ns | 800 ns | +100.0% | fail |"),
            "{md}"
        );
        assert!(md.contains("- ❌ parse/get: +100.0% slower"), "{md}");
    }
}
