//! Baseline versus current: per benchmark the change in %, whether it clears the noise, and a
//! verdict from the thresholds and absolute budgets.
//!
//! The noise rule: a change counts only when the two confidence intervals do not overlap
//! (current lower bound above the baseline's upper bound for a slowdown). Criterion's intervals
//! are ~95 % intervals of the median; `perf::time`'s and pooled runs' are order-statistics
//! intervals of the median. A change past a threshold whose intervals overlap passes, with a
//! note that it is within the noise.

use std::collections::BTreeMap;

use rhai::{Dynamic, Map};
use serde::{Deserialize, Serialize};

use super::stats::{format_ns, format_pct};
use super::{figures_from, from_json, to_json, Figure, Figures};
use crate::primitives::options::{self, option_type, options, script_type, Number, Options as _};
use crate::primitives::options::{Field, Fields};
use crate::primitives::{error, Result};

option_type! {
    /// Budgets per benchmark: `#{ "group/bench": #{ max_ns: 10000, max_rss_mb: 512 } }`.
    Budgets(BTreeMap<String, Budget>) as "map of budgets", |value| {
        if value.is_unit() {
            Ok(BTreeMap::new())
        } else {
            serde_json::to_value(&value)
                .map_err(|_| format!("must be a map of budgets, not {}", script_type(&value)))
                .and_then(|json| {
                    serde_json::from_value(json).map_err(|e| {
                        format!("must look like #{{ \"group/bench\": #{{ max_ns: 10000, max_rss_mb: 512 }} }}: {e}")
                    })
                })
        }
    }
}

options! {
    /// Options of `perf::compare` (and the thresholds of `compare_refs` and `confirm`).
    pub struct CompareKeys for "perf::compare" {
        /// Slower by more than this many % (and clear of the noise): a warning.
        warn: Number = Number(10.0) => "10",
        /// Slower by more than this many % (and clear of the noise): a failure.
        fail: Number = Number(20.0) => "20",
        /// A budget for every benchmark: fails when its figure is above this many ns.
        max_ns: Option<Number>,
        /// A budget for every benchmark: fails when its peak RSS is above this many MB.
        max_rss_mb: Option<Number>,
        /// Peak RSS grown by more than this many MB: a warning.
        rss_growth_mb: Number = Number(100.0) => "100",
        /// Budgets per benchmark, field by field over `max_ns` / `max_rss_mb`.
        budgets: Budgets,
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    #[default]
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// Absolute limits for one benchmark.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rss_mb: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Slower by more than this many % (and clear of the noise): a warning.
    pub warn_pct: f64,
    /// Slower by more than this many % (and clear of the noise): a failure.
    pub fail_pct: f64,
    /// Peak RSS grown by more than this many MB: flagged (a warning).
    pub rss_growth_mb: f64,
    /// Budgets for every benchmark...
    pub budget: Budget,
    /// ...and per benchmark, field by field over the general one.
    pub budgets: BTreeMap<String, Budget>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            warn_pct: 10.0,
            fail_pct: 20.0,
            rss_growth_mb: 100.0,
            budget: Budget::default(),
            budgets: BTreeMap::new(),
        }
    }
}

impl Options {
    /// The options `CompareKeys` knows in `options`, for the function `what`.
    pub fn from_map(what: &str, options: &Map) -> Result<Self> {
        let keys: CompareKeys = options::parse_part(what, options)?;
        let opts = Options {
            warn_pct: keys.warn.0,
            fail_pct: keys.fail.0,
            rss_growth_mb: keys.rss_growth_mb.0,
            budget: Budget {
                max_ns: keys.max_ns.map(|n| n.0),
                max_rss_mb: keys.max_rss_mb.map(|n| n.0),
            },
            budgets: keys.budgets.0,
        };
        if opts.warn_pct > opts.fail_pct {
            return error(format!(
                "the warning threshold ({}%) is above the failure threshold ({}%)",
                opts.warn_pct, opts.fail_pct
            ));
        }
        Ok(opts)
    }

    fn budget_for(&self, name: &str) -> Budget {
        let specific = self.budgets.get(name).copied().unwrap_or_default();
        Budget {
            max_ns: specific.max_ns.or(self.budget.max_ns),
            max_rss_mb: specific.max_rss_mb.or(self.budget.max_rss_mb),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub baseline: Option<Figure>,
    pub current: Option<Figure>,
    /// Change of the point estimate, in % of the baseline (positive: slower).
    pub change_pct: Option<f64>,
    /// Whether the confidence intervals are apart.
    pub significant: bool,
    pub verdict: Verdict,
    #[serde(default)]
    pub notes: Vec<String>,
    /// How noisy the measurement was: the wider half-interval of the two, in % of its figure.
    #[serde(default)]
    pub noise_pct: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Comparison {
    pub verdict: Verdict,
    pub warn_pct: f64,
    pub fail_pct: f64,
    pub rows: Vec<Row>,
    /// One sentence per failure, naming the benchmark and the figure.
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
    /// What was compared with what (refs, baseline name), for the report's title.
    #[serde(default)]
    pub title: String,
    /// The noisiest benchmark's `noise_pct`.
    #[serde(default)]
    pub noise_pct: Option<f64>,
    /// What a second measurement said about each suspected regression (`confirm.rs`).
    #[serde(default)]
    pub confirmation: Vec<String>,
}

/// The comparison's fields as the reference shows them. `Comparison` round-trips through the
/// scripts (`perf::report(cmp)`, `perf::enforce(cmp)`), so it is serde's own struct, not a
/// `result!` one; this table is its documentation.
const fn field(name: &'static str, ty: &'static str, doc: &'static [&'static str]) -> Field {
    Field {
        name,
        aliases: &[],
        ty,
        default: "",
        doc,
    }
}

impl Fields for Comparison {
    const FIELDS: &'static [Field] = &[
        field("verdict", "string", &["`pass`, `warn` or `fail`: the worst of the rows."]),
        field("warn_pct", "float", &["The warning threshold used, in %."]),
        field("fail_pct", "float", &["The failure threshold used, in %."]),
        field("rows", "array of maps", &["Per benchmark: `#{ name, baseline, current, change_pct, significant, verdict, notes, noise_pct }`."]),
        field("failures", "array of strings", &["One sentence per failure, naming the benchmark and the figure."]),
        field("warnings", "array of strings", &["One sentence per warning."]),
        field("title", "string", &["What was compared with what (refs, baseline name), for the report's title."]),
        field("noise_pct", "float", &["The noisiest benchmark's half-interval in % of its figure; `()` without figures."]),
        field("confirmation", "array of strings", &["What a second measurement said about each suspected regression (`perf::confirm`)."]),
    ];
}

pub fn compare(baseline: &Figures, current: &Figures, opts: &Options) -> Comparison {
    let mut names: Vec<&String> = current.keys().chain(baseline.keys()).collect();
    names.sort();
    names.dedup();
    let mut cmp = Comparison {
        verdict: Verdict::Pass,
        warn_pct: opts.warn_pct,
        fail_pct: opts.fail_pct,
        rows: Vec::new(),
        failures: Vec::new(),
        warnings: Vec::new(),
        title: String::new(),
        noise_pct: None,
        confirmation: Vec::new(),
    };
    for name in names {
        let row = compare_one(name, baseline.get(name), current.get(name), opts, &mut cmp);
        cmp.verdict = cmp.verdict.max(row.verdict);
        cmp.noise_pct = match (cmp.noise_pct, row.noise_pct) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        cmp.rows.push(row);
    }
    cmp
}

fn compare_one(
    name: &str,
    base: Option<&Figure>,
    cur: Option<&Figure>,
    opts: &Options,
    cmp: &mut Comparison,
) -> Row {
    let mut row = Row {
        name: name.to_string(),
        baseline: base.cloned(),
        current: cur.cloned(),
        change_pct: None,
        significant: false,
        verdict: Verdict::Pass,
        notes: Vec::new(),
        noise_pct: [base, cur]
            .into_iter()
            .flatten()
            .filter(|f| f.ns > 0.0 && f.upper.is_finite() && f.lower.is_finite())
            .map(|f| (f.upper - f.lower) / 2.0 / f.ns * 100.0)
            .reduce(f64::max),
    };
    let mut flag = |row: &mut Row, verdict: Verdict, note: String| {
        row.verdict = row.verdict.max(verdict);
        match verdict {
            Verdict::Fail => cmp.failures.push(format!("{name}: {note}")),
            Verdict::Warn => cmp.warnings.push(format!("{name}: {note}")),
            Verdict::Pass => {}
        }
        row.notes.push(note);
    };
    let Some(cur) = cur else {
        flag(
            &mut row,
            Verdict::Warn,
            "in the baseline but not measured now".into(),
        );
        return row;
    };
    if let Some(base) = base {
        if base.ns > 0.0 {
            let change = (cur.ns - base.ns) / base.ns * 100.0;
            row.change_pct = Some(change);
            row.significant = cur.lower > base.upper || cur.upper < base.lower;
            let what = format!(
                "{} {} ({} → {})",
                format_pct(change),
                if change >= 0.0 { "slower" } else { "faster" },
                format_ns(base.ns),
                format_ns(cur.ns)
            );
            if change > opts.fail_pct && row.significant {
                flag(
                    &mut row,
                    Verdict::Fail,
                    format!("{what}, over the {}% limit", opts.fail_pct),
                );
            } else if change > opts.warn_pct && row.significant {
                flag(
                    &mut row,
                    Verdict::Warn,
                    format!("{what}, over the {}% warning threshold", opts.warn_pct),
                );
            } else if change.abs() > opts.warn_pct && !row.significant {
                row.notes
                    .push(format!("{what}, within the noise (intervals overlap)"));
            } else if change < -opts.warn_pct {
                row.notes.push(what);
            }
        }
        if let (Some(before), Some(after)) = (base.rss_mb, cur.rss_mb) {
            if after - before > opts.rss_growth_mb {
                flag(
                    &mut row,
                    Verdict::Warn,
                    format!(
                        "peak RSS grew by {:.0} MB ({before:.0} MB → {after:.0} MB), more than {} MB",
                        after - before,
                        opts.rss_growth_mb
                    ),
                );
            }
        }
    } else {
        row.notes.push("new: no baseline".into());
    }
    let budget = opts.budget_for(name);
    if let Some(max) = budget.max_ns {
        if cur.ns > max {
            flag(
                &mut row,
                Verdict::Fail,
                format!(
                    "{} is over the budget of {}",
                    format_ns(cur.ns),
                    format_ns(max)
                ),
            );
        }
    }
    if let Some(max) = budget.max_rss_mb {
        match cur.rss_mb {
            Some(rss) if rss > max => flag(
                &mut row,
                Verdict::Fail,
                format!("peak RSS {rss:.1} MB is over the ceiling of {max} MB"),
            ),
            Some(_) => {}
            None => flag(
                &mut row,
                Verdict::Warn,
                format!("no peak RSS measured to check against the {max} MB ceiling"),
            ),
        }
    }
    row
}

// ---- script side ----

pub fn to_dynamic(cmp: &Comparison) -> Dynamic {
    from_json(&serde_json::to_value(cmp).unwrap_or_default())
}

pub fn from_dynamic(value: &Dynamic) -> Result<Comparison> {
    serde_json::from_value(to_json(value)?)
        .or_else(|e| error(format!("not a comparison from perf::compare: {e}")))
}

pub fn compare_fn(base: Dynamic, current: Dynamic, options: Map) -> Result<Dynamic> {
    options::check_known("perf::compare", &options, &[CompareKeys::FIELDS])?;
    let opts = Options::from_map("perf::compare", &options)?;
    let base = figures_from("the baseline", &base)?;
    let current = figures_from("the current figures", &current)?;
    Ok(to_dynamic(&compare(&base, &current, &opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(ns: f64, spread: f64) -> Figure {
        Figure {
            ns,
            lower: ns - spread,
            upper: ns + spread,
            rss_mb: None,
        }
    }

    fn one(name: &str, f: Figure) -> Figures {
        [(name.to_string(), f)].into_iter().collect()
    }

    #[test]
    fn a_clear_doubling_fails_naming_benchmark_and_change() {
        let cmp = compare(
            &one("parse/get", fig(400.0, 5.0)),
            &one("parse/get", fig(800.0, 8.0)),
            &Options::default(),
        );
        assert_eq!(cmp.verdict, Verdict::Fail);
        assert_eq!(cmp.rows[0].change_pct, Some(100.0));
        assert!(
            cmp.failures[0].starts_with("parse/get: +100.0% slower (400 ns → 800 ns)"),
            "{:?}",
            cmp.failures
        );
    }

    #[test]
    fn thresholds_grade_significant_changes() {
        let opts = Options::default();
        let warn = compare(
            &one("a", fig(100.0, 1.0)),
            &one("a", fig(115.0, 1.0)),
            &opts,
        );
        assert_eq!(warn.verdict, Verdict::Warn);
        let small = compare(
            &one("a", fig(100.0, 1.0)),
            &one("a", fig(105.0, 1.0)),
            &opts,
        );
        assert_eq!(small.verdict, Verdict::Pass);
        let faster = compare(&one("a", fig(100.0, 1.0)), &one("a", fig(50.0, 1.0)), &opts);
        assert_eq!(faster.verdict, Verdict::Pass);
        let strict = Options {
            warn_pct: 1.0,
            fail_pct: 3.0,
            ..Options::default()
        };
        let failed = compare(
            &one("a", fig(100.0, 1.0)),
            &one("a", fig(105.0, 1.0)),
            &strict,
        );
        assert_eq!(failed.verdict, Verdict::Fail);
    }

    #[test]
    fn changes_inside_the_noise_pass() {
        let cmp = compare(
            &one("a", fig(100.0, 30.0)),
            &one("a", fig(150.0, 30.0)),
            &Options::default(),
        );
        assert_eq!(cmp.verdict, Verdict::Pass);
        assert!(!cmp.rows[0].significant);
        assert!(cmp.rows[0].notes[0].contains("within the noise"));
    }

    #[test]
    fn budgets_and_memory() {
        let mut opts = Options {
            budget: Budget {
                max_ns: None,
                max_rss_mb: Some(512.0),
            },
            ..Options::default()
        };
        opts.budgets.insert(
            "a".into(),
            Budget {
                max_ns: Some(10.0),
                max_rss_mb: None,
            },
        );
        let mut cur = fig(12.0, 0.1);
        cur.rss_mb = Some(600.0);
        let mut base = fig(12.0, 0.1);
        base.rss_mb = Some(450.0);
        let cmp = compare(&one("a", base), &one("a", cur), &opts);
        assert_eq!(cmp.verdict, Verdict::Fail);
        assert_eq!(cmp.failures.len(), 2, "{:?}", cmp.failures);
        assert!(cmp.failures[0].contains("12.0 ns is over the budget of 10.0 ns"));
        assert!(cmp.failures[1].contains("peak RSS 600.0 MB is over the ceiling of 512 MB"));
        assert!(
            cmp.warnings[0].contains("peak RSS grew by 150 MB"),
            "{:?}",
            cmp.warnings
        );
    }

    #[test]
    fn new_and_missing_benchmarks() {
        let cmp = compare(
            &one("old", fig(1.0, 0.0)),
            &one("new", fig(1.0, 0.0)),
            &Options::default(),
        );
        assert_eq!(cmp.verdict, Verdict::Warn);
        assert_eq!(cmp.rows.len(), 2);
        assert!(cmp.warnings[0].starts_with("old: in the baseline but not measured"));
    }

    #[test]
    fn round_trips_through_script_values() {
        let cmp = compare(
            &one("a", fig(100.0, 1.0)),
            &one("a", fig(300.0, 1.0)),
            &Options::default(),
        );
        assert_eq!(from_dynamic(&to_dynamic(&cmp)).unwrap(), cmp);
    }
}
