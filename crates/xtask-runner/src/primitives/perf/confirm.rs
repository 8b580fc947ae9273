//! A regression is confirmed before it fails. On a shared machine one measurement can be off
//! by far more than a 20 % threshold (a neighbour's build, a cold cache), but interference only
//! ever adds time and rarely strikes the same benchmark twice: so a benchmark that fails is
//! measured again, and each side keeps its better figure. It fails only if the regression is
//! there both times.
//!
//! `perf::compare_refs` does this by itself (more interleaved rounds of base and head);
//! `perf::confirm(cmp, baseline, opts)` does it for a saved baseline by re-running the bench.

use rhai::{Dynamic, Map};

use super::compare::CompareKeys;
use super::compare::{self, Comparison, Verdict};
use super::criterion::{self, BenchKeys, BenchOptions};
use super::timing::{self, TimeKeys, TimeOptions};
use super::{figures_from, print, Figure, Figures};
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options, Options as _, Strings};
use crate::primitives::Result;

options! {
    /// `perf::confirm`'s own option; it takes those of `perf::bench`, `perf::time` and
    /// `perf::compare` too.
    pub struct ConfirmKeys for "perf::confirm" {
        /// A command to time again (with `perf::time`'s options) instead of the criterion
        /// benches.
        command: Option<Strings>,
    }
}

/// Every option `perf::confirm` takes.
pub const OPTIONS: &[&[options::Field]] = &[
    ConfirmKeys::FIELDS,
    BenchKeys::FIELDS,
    TimeKeys::FIELDS,
    CompareKeys::FIELDS,
];
use crate::script::context;
use crate::script::Mode;

/// Benchmarks failing on a slowdown (over the limit, intervals apart), not on an absolute
/// budget alone: only those are worth a second measurement.
pub fn regressions(cmp: &Comparison) -> Vec<String> {
    cmp.rows
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .filter(|r| r.significant && r.change_pct.is_some_and(|c| c > cmp.fail_pct))
        .map(|r| r.name.clone())
        .collect()
}

/// Per benchmark, the faster of two measurements (with its own interval).
pub fn better_of(first: &Figures, second: &Figures) -> Figures {
    let mut out = first.clone();
    for (name, figure) in second {
        match out.get(name) {
            Some(kept) if kept.ns <= figure.ns => {}
            _ => {
                out.insert(name.clone(), figure.clone());
            }
        }
    }
    out
}

/// Per benchmark, the (base, head) pair of the two measurements that shows the smaller
/// slowdown: a regression stays only if both rounds of measurement show it.
pub fn smaller_change(
    first: (&Figures, &Figures),
    second: (&Figures, &Figures),
) -> (Figures, Figures) {
    let ratio = |b: Option<&Figure>, h: Option<&Figure>| match (b, h) {
        (Some(b), Some(h)) if b.ns > 0.0 => h.ns / b.ns,
        _ => f64::INFINITY,
    };
    let (mut base, mut head) = (first.0.clone(), first.1.clone());
    for name in first.1.keys() {
        let one = ratio(first.0.get(name), first.1.get(name));
        let two = ratio(second.0.get(name), second.1.get(name));
        if two < one {
            if let Some(b) = second.0.get(name) {
                base.insert(name.clone(), b.clone());
            }
            if let Some(h) = second.1.get(name) {
                head.insert(name.clone(), h.clone());
            }
        }
    }
    (base, head)
}

/// Notes on each re-measured benchmark in the final comparison: the change both times, and
/// whether it reproduced.
pub fn annotate(final_cmp: &mut Comparison, first: &Comparison, second: &Comparison) {
    for name in regressions(first) {
        let change = |c: &Comparison| {
            c.rows
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.change_pct)
                .map_or("—".to_string(), super::stats::format_pct)
        };
        let reproduced = regressions(second).contains(&name);
        let note = if reproduced {
            format!(
                "confirmed by a second measurement ({}, then {})",
                change(first),
                change(second)
            )
        } else {
            format!(
                "did not reproduce on a second measurement ({}, then {}): noise",
                change(first),
                change(second)
            )
        };
        if let Some(row) = final_cmp.rows.iter_mut().find(|r| r.name == name) {
            row.notes.push(note.clone());
        }
        final_cmp.confirmation.push(format!("{name}: {note}"));
    }
}

fn current_figures(cmp: &Comparison) -> Figures {
    cmp.rows
        .iter()
        .filter_map(|r| r.current.clone().map(|f| (r.name.clone(), f)))
        .collect()
}

/// `perf::confirm(cmp, baseline, opts)`: when `cmp` fails on a slowdown, measures again (the
/// bench options of `perf::bench`, or `command` with those of `perf::time`) and compares the
/// better of the two measurements with the baseline, with `opts`' thresholds. Returns `cmp`
/// unchanged when nothing needs confirming.
pub fn confirm_fn(cmp: Dynamic, baseline: Dynamic, options: Map) -> Result<Dynamic> {
    const WHAT: &str = "perf::confirm";
    options::check_known(WHAT, &options, OPTIONS)?;
    let own: ConfirmKeys = options::parse_part(WHAT, &options)?;
    let first = compare::from_dynamic(&cmp)?;
    let scope = context::current();
    let suspects = regressions(&first);
    if suspects.is_empty() || scope.host.mode == Mode::Plan {
        return Ok(cmp);
    }
    let base = figures_from("the baseline", &baseline)?;
    let compare_opts = compare::Options::from_map(WHAT, &options)?;
    print(
        &scope,
        &format!(
            // Not "over the limit": that is the wording of a verdict, and this is not one yet.
            "perf: {} past the {}% limit on the first measurement; measuring again to confirm",
            suspects.join(", "),
            first.fail_pct
        ),
    );
    let again: Figures = match own.command {
        Some(command) => {
            let argv = command.0;
            let opts = TimeOptions::from_map(&scope, WHAT, &options)?;
            let samples = timing::time(&scope, &argv, &opts).script()?;
            let name = match first.rows.as_slice() {
                [only] => only.name.clone(),
                _ => crate::process::display_argv(&argv),
            };
            let timing = timing::Timing {
                name: name.clone(),
                samples,
                measure: opts.measure,
            };
            Figures::from([(name, timing.figure())])
        }
        None => {
            let opts = BenchOptions::from_map(&scope, WHAT, &options)?;
            let executables = criterion::build(&scope, &opts, &opts.dir).script()?;
            let home = criterion::target_dir_of(&executables)
                .script()?
                .join("criterion");
            criterion::run(&scope, &opts, &opts.dir, &executables, &home)
                .script()?
                .into_iter()
                .map(|b| (b.name, b.figure))
                .collect()
        }
    };
    let second = compare::compare(&base, &again, &compare_opts);
    let mut confirmed = compare::compare(
        &base,
        &better_of(&current_figures(&first), &again),
        &compare_opts,
    );
    confirmed.title = first.title.clone();
    annotate(&mut confirmed, &first, &second);
    Ok(compare::to_dynamic(&confirmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(ns: f64) -> Figure {
        Figure {
            ns,
            lower: ns * 0.99,
            upper: ns * 1.01,
            rss_mb: None,
        }
    }

    fn figures(ns: f64) -> Figures {
        Figures::from([("b".to_string(), fig(ns))])
    }

    #[test]
    fn a_slowdown_that_does_not_reproduce_passes_with_a_note() {
        let opts = compare::Options::default();
        let base = figures(100.0);
        let first = compare::compare(&base, &figures(164.0), &opts);
        assert_eq!(regressions(&first), ["b"]);
        let second = compare::compare(&base, &figures(102.0), &opts);
        let mut last = compare::compare(&base, &better_of(&figures(164.0), &figures(102.0)), &opts);
        annotate(&mut last, &first, &second);
        assert_eq!(last.verdict, Verdict::Pass);
        assert!(
            last.confirmation[0].contains("did not reproduce"),
            "{:?}",
            last.confirmation
        );
    }

    #[test]
    fn a_slowdown_seen_twice_fails() {
        let opts = compare::Options::default();
        let base = figures(100.0);
        let (b, h) = smaller_change((&base, &figures(210.0)), (&figures(95.0), &figures(190.0)));
        let last = compare::compare(&b, &h, &opts);
        assert_eq!(last.verdict, Verdict::Fail);
        assert_eq!(h["b"].ns, 190.0, "the pair with the smaller change is kept");
    }
}
