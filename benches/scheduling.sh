#!/usr/bin/env bash
# Scheduling benchmarks, warm, side by side in one hyperfine run each:
#  1. a cargo-only `ci` (fmt ∥ clippy ∥ test ∥ doc, as `lib/rust.rhai` declares them) on a small
#     generated crate, against the same cargo commands run in sequence by hand, `make` (its
#     Makefile runs them in sequence too) and `just`;
#  2. `examples/service`'s `cargo xtask ci` at the default -j against its -j 1 (needs
#     PostgreSQL via XTASK_PG_PATH and docker; skipped with a note otherwise, or with `quick`);
#  3. who gets cargo's build directory first: a stand-in `cargo` that only sleeps, so the
#     figure is the order alone. `leaf` holds the directory 2.5 s with nothing after it;
#     `feeder` holds it 0.1 s, works 0.9 s more and heads `next` (1 s). By rank `leaf` goes
#     first (4.5 s); by the work after the lock, `feeder` does (2.6 s). make -j4 runs the same
#     recipes with `flock` on one lock file; just has no such lock and is left out.
#
#   bash benches/scheduling.sh [runs] [quick]
# Medians and ratios: benches/results/scheduling.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-5}
quick=${2:-}
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install hyperfine)" >&2; exit 1; }
just=$(command -v pyenv >/dev/null && pyenv which just 2>/dev/null || command -v just || true)
# XTASK_BIN: time an already built binary instead of building this tree's.
xtask=${XTASK_BIN:-}
if [ -z "$xtask" ]; then
    cargo build --release -p xtask-cli --quiet
    xtask="$root/target/release/xtask"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/crate/src" "$work/crate/tasks" "$work/results"

# --- 1. cargo-only ci -----------------------------------------------------------------------
cd "$work/crate"
printf '[package]\nname = "bench-crate"\nversion = "0.1.0"\nedition = "2021"\n' > Cargo.toml
for m in $(seq 1 20); do
    printf 'pub fn f%s(x: u64) -> u64 { (0..x).map(|i| i.wrapping_mul(%s)).sum() }\n#[test]\nfn t%s() { assert_eq!(f%s(3), %s); }\n' \
        "$m" "$m" "$m" "$m" "$((3 * m))" > "src/m$m.rs"
    echo "pub mod m$m;" >> src/lib.rs
done
cat > tasks/ci.rhai <<'RHAI'
job("fmt", || cargo::fmt_check());
job("clippy", || cargo::clippy());
job("test", || cargo::test());
job("doc", || cargo::doc());
RHAI
seq_cmds="cargo fmt --all -- --check && cargo clippy --quiet --all-targets -- -D warnings && cargo test --quiet && cargo doc --quiet --no-deps"
printf 'ci:\n\tcargo fmt --all -- --check\n\tcargo clippy --quiet --all-targets -- -D warnings\n\tcargo test --quiet\n\tcargo doc --quiet --no-deps\n' > Makefile
cp Makefile justfile
cargo fmt --all
"$xtask" -q ci >/dev/null 2>&1 || "$xtask" ci # warm: everything built once (shows why if it fails)
# `--force`: after the warm-up every job is up to date (the job cache) and would be skipped;
# the figures are of the jobs running, on warm builds.
args=(--command-name "xtask ci (default -j)" "$xtask -q ci --force"
      --command-name "xtask ci -j 1" "$xtask -q -j 1 ci --force"
      --command-name "the commands in sequence" "sh -c '$seq_cmds'"
      --command-name "make ci" "make -s ci")
[ -n "$just" ] && args+=(--command-name "just ci" "$just ci")
hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$work/results/cargo.json" "${args[@]}" >&2

# --- 2. examples/service ci -------------------------------------------------------------------
service_note=""
if [ -n "$quick" ]; then
    service_note="skipped (quick)"
elif [ -z "${XTASK_PG_PATH:-}" ] || ! docker info >/dev/null 2>&1; then
    service_note="skipped: needs XTASK_PG_PATH and a docker engine"
else
    cd "$root/examples/service"
    "$xtask" -q ci >/dev/null 2>&1 || true
    hyperfine --style basic --warmup 0 --runs "$runs" --export-json "$work/results/service.json" \
        --command-name "xtask ci (default -j)" "$xtask -q ci --force" \
        --command-name "xtask ci -j 1" "$xtask -q -j 1 ci --force" >&2
fi

# --- 3. who gets the build directory first -----------------------------------------------------
mkdir -p "$work/lock/tasks" "$work/lock/bin"
cd "$work/lock"
printf '#!/bin/sh\n[ "$1" = hold ] && exec sleep "$2"\nexit 1\n' > bin/cargo
chmod +x bin/cargo
cat > tasks/ci.rhai <<'RHAI'
job("leaf", || run(["cargo", "hold", "2.5"]));
job("feeder", || { run(["cargo", "hold", "0.1"]); run(["sleep", "0.9"]); });
job("next", #{ needs: ["feeder"] }, || run(["sleep", "1"]));
RHAI
printf 'ci: leaf next\nleaf:\n\t@flock target.lock sleep 2.5\nfeeder:\n\t@flock target.lock sleep 0.1; sleep 0.9\nnext: feeder\n\t@sleep 1\n.PHONY: ci leaf feeder next\n' > Makefile
# Two runs to learn the history (what each job holds, and for how long), then measured.
PATH="$work/lock/bin:$PATH" "$xtask" -q ci --force >/dev/null
PATH="$work/lock/bin:$PATH" "$xtask" -q ci --force >/dev/null
PATH="$work/lock/bin:$PATH" hyperfine --style basic --warmup 0 --runs "$runs" \
    --export-json "$work/results/lock.json" \
    --command-name "xtask ci" "$xtask -q ci --force" \
    --command-name "make -j4 ci (flock)" "make -s -j4 ci" >&2

python3 - "$work/results" "$service_note" > "$root/benches/results/scheduling.md" <<'PY'
import json, os, statistics, sys, platform, datetime
d, note = sys.argv[1], sys.argv[2]
load = open("/proc/loadavg").read().split()[0]
print(f"# Scheduling benchmarks\n\n{datetime.date.today()}, {os.cpu_count()} cores, load {load}, {platform.platform()}\n")
for name, title in [("cargo", "cargo-only ci, warm"), ("service", "examples/service ci, warm"),
                    ("lock", "who gets the build directory first (stand-in cargo, sleeps only)")]:
    path = os.path.join(d, name + ".json")
    if not os.path.exists(path):
        print(f"## {title}\n\n{note}\n")
        continue
    data = json.load(open(path))["results"]
    base = statistics.median(data[0]["times"])
    print(f"## {title}\n\n| command | median | min | max | vs first |\n|---|---|---|---|---|")
    for r in data:
        med = statistics.median(r["times"])
        print(f"| {r['command']} | {med:.2f} s | {min(r['times']):.2f} s | {max(r['times']):.2f} s | {med/base:.2f}x |")
    print()
PY
cat "$root/benches/results/scheduling.md"
