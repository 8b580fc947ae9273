//! `perf::compare_refs(base, head, opts)`: a PR against its base in one run. The base (and the
//! head, unless it is the working tree) is checked out into a temporary git worktree; both are
//! built once, then benchmarked alternately (base, head, head, base, …) so that drift of the
//! machine during the run lands on both sides; the rounds are pooled and compared. The
//! worktrees are removed at the end, on failure, and on Ctrl-C (native cleanup on the scope).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Dynamic, Map};

use super::compare::{self, CompareKeys};
use super::confirm;
use super::criterion::{self, BenchKeys, BenchOptions};
use super::timing::{self, TimeKeys, TimeOptions};
use super::{exec, print, stats, store, Figure, Figures, Output, PerfError};
use crate::primitives::error::IntoScript as _;
use crate::primitives::options::{self, options, result, Options as _, Strings};
use crate::primitives::{error, Result};

options! {
    /// `perf::compare_refs`' own options; it takes those of `perf::bench`, `perf::time` and
    /// `perf::compare` too.
    pub struct RefsKeys for "perf::compare_refs" {
        /// Measurements of each side, alternating base and head (at least 1).
        rounds: i64 = 3,
        /// A command to time (with `perf::time`'s options) instead of the criterion benches.
        command: Option<Strings>,
    }
}

/// Every option `perf::compare_refs` takes.
pub const OPTIONS: &[&[options::Field]] = &[
    RefsKeys::FIELDS,
    BenchKeys::FIELDS,
    TimeKeys::FIELDS,
    CompareKeys::FIELDS,
];
use crate::cancel::CancelToken;
use crate::process::{display_argv, Spec};
use crate::script::context::{self, JobScope};
use crate::script::Mode;

/// Worktrees to remove and the temp dir holding them.
struct Worktrees {
    repo: PathBuf,
    paths: Vec<PathBuf>,
    _tmp: tempfile::TempDir,
}

impl Worktrees {
    /// Runs outside the cancel token on purpose: it must work after Ctrl-C too.
    fn remove(self) {
        for path in &self.paths {
            let path = path.to_string_lossy();
            let remove = Spec::query("git", &["worktree", "remove", "--force", &path], &self.repo);
            let _ = remove.output(&CancelToken::new());
        }
        let prune = Spec::query("git", &["worktree", "prune"], &self.repo);
        let _ = prune.output(&CancelToken::new());
    }
}

type Shared = Rc<RefCell<Option<Worktrees>>>;

/// Removes the worktrees when the function returns, whichever way.
struct Guard(Shared);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(worktrees) = self.0.borrow_mut().take() {
            worktrees.remove();
        }
    }
}

fn git(scope: &JobScope, dir: &Path, args: &[&str]) -> Result<String> {
    let (done, _) = exec(scope, Spec::query("git", args, dir), Output::Quiet).script()?;
    Ok(String::from_utf8_lossy(&done.stdout).trim().to_string())
}

struct Side {
    label: String,
    dir: PathBuf,
    /// Target dir for cargo when the side is a temporary worktree (kept between runs, so the
    /// next comparison builds incrementally).
    target: Option<PathBuf>,
    executables: Vec<PathBuf>,
    /// Pooled raw observations: criterion runs, or wall times.
    benches: Vec<Vec<criterion::Bench>>,
    walls: Vec<f64>,
    rss_kib: u64,
}

pub fn compare_refs_fn(base: &str, head: &str, options: Map) -> Result<Dynamic> {
    const WHAT: &str = "perf::compare_refs";
    options::check_known(WHAT, &options, OPTIONS)?;
    let scope = context::current();
    if scope.host.mode == Mode::Plan {
        return Ok(Dynamic::from_map(Map::new()));
    }
    let compare_opts = compare::Options::from_map(WHAT, &options)?;
    let own: RefsKeys = options::parse_part(WHAT, &options)?;
    let rounds = options::count(WHAT, "rounds", own.rounds)?.max(1);
    let command = own.command.map(|c| c.0);
    let bench_opts = BenchOptions::from_map(&scope, WHAT, &options)?;
    let time_opts = TimeOptions::from_map(&scope, WHAT, &options)?;
    let name: Option<String> = options::parse_part::<TimeKeys>(WHAT, &options)?.name;
    if base.is_empty() {
        return error("perf::compare_refs needs a base ref, e.g. \"origin/main\"");
    }

    // Where the benchmarks live inside the repository, so each worktree uses the same place.
    let here = bench_opts.dir.clone();
    let top = PathBuf::from(git(&scope, &here, &["rev-parse", "--show-toplevel"])?);
    let prefix = here
        .canonicalize()
        .ok()
        .and_then(|h| {
            h.strip_prefix(top.canonicalize().ok()?)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or_default();
    let resolve = |r: &str| -> Result<String> {
        git(
            &scope,
            &top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{r}^{{commit}}"),
            ],
        )
        .or_else(|_| {
            Err(PerfError::NotACommit {
                rev: r.into(),
                repo: top.clone(),
            })
            .script()
        })
    };
    let base_sha = resolve(base)?;
    let head_sha = if head.is_empty() {
        None
    } else {
        Some(resolve(head)?)
    };

    let tmp = tempfile::Builder::new()
        .prefix("xtask-perf-refs-")
        .tempdir()
        .map_err(PerfError::TempDir)
        .script()?;
    let shared: Shared = Rc::new(RefCell::new(Some(Worktrees {
        repo: top.clone(),
        paths: Vec::new(),
        _tmp: tmp,
    })));
    let tmp_path = shared.borrow().as_ref().unwrap()._tmp.path().to_path_buf();
    {
        let shared = Rc::clone(&shared);
        scope.on_exit(move || {
            if let Some(worktrees) = shared.borrow_mut().take() {
                worktrees.remove();
            }
        });
    }
    let _guard = Guard(Rc::clone(&shared));
    let refs_target = store::dir(&scope).join("refs-target");
    let add_worktree = |name: &str, sha: &str| -> Result<PathBuf> {
        let path = tmp_path.join(name);
        if let Some(w) = shared.borrow_mut().as_mut() {
            w.paths.push(path.clone());
        }
        let display = path.display().to_string();
        git(
            &scope,
            &top,
            &["worktree", "add", "--detach", &display, sha],
        )?;
        Ok(path)
    };

    let mut sides = Vec::new();
    let base_tree = add_worktree("base", &base_sha)?;
    sides.push(Side {
        label: format!("base {base} ({})", &base_sha[..base_sha.len().min(10)]),
        dir: base_tree.join(&prefix),
        target: Some(refs_target.join("base")),
        executables: Vec::new(),
        benches: Vec::new(),
        walls: Vec::new(),
        rss_kib: 0,
    });
    let (head_dir, head_target, head_label) = match &head_sha {
        Some(sha) => (
            add_worktree("head", sha)?.join(&prefix),
            Some(refs_target.join("head")),
            format!("head {head} ({})", &sha[..sha.len().min(10)]),
        ),
        None => (here.clone(), None, "head (working tree)".to_string()),
    };
    sides.push(Side {
        label: head_label,
        dir: head_dir,
        target: head_target,
        executables: Vec::new(),
        benches: Vec::new(),
        walls: Vec::new(),
        rss_kib: 0,
    });

    let side_env = |side: &Side, env: &[(String, Option<String>)]| {
        let mut env = env.to_vec();
        if let Some(target) = &side.target {
            env.push((
                "CARGO_TARGET_DIR".into(),
                Some(target.display().to_string()),
            ));
        }
        env
    };
    if command.is_none() {
        for side in &mut sides {
            print(&scope, &format!("perf: building {}", side.label));
            let opts = BenchOptions {
                env: side_env(side, &bench_opts.env),
                ..bench_opts.clone()
            };
            side.executables = criterion::build(&scope, &opts, &side.dir).script()?;
        }
    }
    // One pass: `rounds` rounds of base, head, head, base, …: a linear drift weighs on both
    // sides equally. `pass` 1 is the confirmation of a suspected regression.
    let run_rounds = |sides: &mut [Side], pass: usize| -> Result<()> {
        for round in 0..rounds {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let side = &mut sides[i];
                let again = if pass > 0 { " (confirming)" } else { "" };
                print(
                    &scope,
                    &format!("perf: round {}/{rounds}{again}: {}", round + 1, side.label),
                );
                match &command {
                    None => {
                        let home = tmp_path
                            .join("criterion")
                            .join(format!("{i}-{pass}-{round}"));
                        let opts = BenchOptions {
                            env: side_env(side, &bench_opts.env),
                            ..bench_opts.clone()
                        };
                        let benches =
                            criterion::run(&scope, &opts, &side.dir, &side.executables, &home)
                                .script()?;
                        side.benches.push(benches);
                    }
                    Some(argv) => {
                        let opts = TimeOptions {
                            dir: side.dir.clone(),
                            warmup: if round == 0 { time_opts.warmup } else { 0 },
                            ..time_opts.clone()
                        };
                        for sample in timing::time(&scope, argv, &opts).script()? {
                            side.walls.push(sample.ns(time_opts.measure));
                            side.rss_kib = side.rss_kib.max(sample.rss_kib);
                        }
                    }
                }
            }
        }
        Ok(())
    };
    run_rounds(&mut sides, 0)?;

    let name = name
        .or_else(|| command.as_ref().map(|argv| display_argv(argv)))
        .unwrap_or_default();
    let figures = |side: &mut Side| -> Figures {
        match &command {
            None => criterion::pool(&side.benches),
            Some(_) => {
                let (ns, lower, upper) = stats::median_ci(&mut side.walls);
                let rss_mb = (side.rss_kib > 0).then(|| side.rss_kib as f64 / 1024.0);
                Figures::from([(
                    name.clone(),
                    Figure {
                        ns,
                        lower,
                        upper,
                        rss_mb,
                    },
                )])
            }
        }
    };
    let mut base_figures = figures(&mut sides[0]);
    let mut head_figures = figures(&mut sides[1]);
    let mut cmp = compare::compare(&base_figures, &head_figures, &compare_opts);
    let suspects = confirm::regressions(&cmp);
    if !suspects.is_empty() {
        print(
            &scope,
            &format!(
                "perf: {} past the {}% limit on the first rounds; measuring base and head again, interleaved, to confirm",
                suspects.join(", "),
                cmp.fail_pct
            ),
        );
        for side in &mut sides {
            side.benches.clear();
            side.walls.clear();
        }
        run_rounds(&mut sides, 1)?;
        let base_again = figures(&mut sides[0]);
        let head_again = figures(&mut sides[1]);
        let second = compare::compare(&base_again, &head_again, &compare_opts);
        (base_figures, head_figures) =
            confirm::smaller_change((&base_figures, &head_figures), (&base_again, &head_again));
        let first = cmp;
        cmp = compare::compare(&base_figures, &head_figures, &compare_opts);
        confirm::annotate(&mut cmp, &first, &second);
    }
    cmp.title = format!("{} → {}", sides[0].label, sides[1].label);
    let mut result = compare::to_dynamic(&cmp)
        .try_cast::<Map>()
        .unwrap_or_default();
    result.extend(options::to_map(&RefsResult {
        base: super::figures_to_dynamic(&base_figures),
        head: super::figures_to_dynamic(&head_figures),
        worktrees: sides
            .iter()
            .filter(|s| s.target.is_some())
            .map(|s| s.dir.display().to_string())
            .collect(),
    }));
    Ok(Dynamic::from_map(result))
}

result! {
    /// What `perf::compare_refs` adds to the comparison's fields.
    pub struct RefsResult {
        /// The base's figures, by benchmark name: `#{ "group/bench": #{ ns, lower, upper, rss_mb } }`.
        base: Dynamic as "map",
        /// The head's figures, by benchmark name.
        head: Dynamic as "map",
        /// The temporary worktrees the sides were measured in (removed when it returns).
        worktrees: Vec<String> as "array of strings",
    }
}
