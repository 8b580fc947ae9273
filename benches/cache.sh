#!/usr/bin/env bash
# Up-to-date check benchmarks (the cache, issue #17). Medians of hyperfine runs:
#
#   bash benches/cache.sh tree        # a job whose inputs are a 10,000-file tree, warm
#   bash benches/cache.sh ci          # a second `cargo xtask ci` on this repository, unchanged
#   bash benches/cache.sh service     # the same in examples/service
#
# `tree` uses the dev binary (what `cargo xtask` runs). `ci` and `service` first run the
# pipeline once (which must pass, so that every job has a record), then time the reruns;
# results go to benches/results/cache.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
command -v hyperfine >/dev/null || { echo "missing hyperfine (apt-get install hyperfine)" >&2; exit 1; }
runs=${RUNS:-10}
out="$root/benches/results/cache.md"

case "${1:-tree}" in
tree)
    cargo build -p xtask-cli --quiet
    xtask="$root/target/debug/xtask"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/tasks"
    printf '//! a job over a big tree\njob("tree", #{ inputs: ["tree"] }, || ());\n' > "$work/tasks/ci.rhai"
    for d in $(seq 0 99); do
        mkdir -p "$work/tree/d$d"
        for f in $(seq 0 99); do echo "file $d/$f" > "$work/tree/d$d/f$f.txt"; done
    done
    # Digests of files changed in the last 2 s are not kept (see cache/hashing.rs): let the tree
    # settle, then one run records the job and one fills the stat cache.
    sleep 3
    "$xtask" -C "$work" ci -q >/dev/null
    "$xtask" -C "$work" ci -q >/dev/null
    "$xtask" -C "$work" ci | grep -q "1 up to date"
    hyperfine --warmup 2 --runs "$runs" --export-markdown "$work/tree.md" \
        -n "10,000-file tree, warm (whole run)" "$xtask -C $work ci -q"
    { echo "## 10,000-file tree, warm ($(date -u +%F))"; cat "$work/tree.md"; echo; } >> "$out"
    ;;
ci | service)
    dir=$root
    [ "$1" = service ] && dir=$root/examples/service
    cd "$dir"
    cargo xtask ci >/dev/null 2>&1 || { echo "the first run failed: nothing to compare" >&2; exit 1; }
    cargo xtask ci --explain
    hyperfine --warmup 1 --runs "$runs" --export-markdown /tmp/xtask-cache-$1.md \
        -n "second cargo xtask ci ($1)" "cargo xtask ci -q"
    { echo "## second \`cargo xtask ci\`, unchanged: $1 ($(date -u +%F))"; cat /tmp/xtask-cache-$1.md; echo; } >> "$out"
    ;;
*)
    echo "usage: bash benches/cache.sh tree|ci|service" >&2
    exit 2
    ;;
esac
