#!/usr/bin/env bash
# How often the perf gate cries wolf (issue #18): the example service's `perf-test` against its
# saved baseline, rerun on unchanged code N times, optionally beside CPU burners, then once with
# the planted tenfold slowdown. Prints the verdict counts; results go to
# benches/results/perf-baseline.md. Not a test: a saved baseline measured at another moment can be
# off by more than any threshold on a shared machine, which is why the gate re-measures before
# failing and why `--base REF` (both sides measured interleaved) is the mode for pull requests.
#
#   bash benches/perf-baseline.sh            # 10 unchanged reruns on a quiet machine
#   RUNS=20 BURNERS=2 bash benches/perf-baseline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${RUNS:-10}
burners=${BURNERS:-0}
out="$root/benches/results/perf-baseline.md"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
(cd examples/service && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work"
# The example's xtask crate points at this repository's crates by a relative path.
sed -i "s|path = \"../../../crates/|path = \"$root/crates/|" "$work/xtask/Cargo.toml"
export CARGO_TARGET_DIR="$root/target/bench-perf-gate" XTASK_PERF_DIR="$work/perf"
cd "$work"
cargo xtask perf-test >/dev/null

for _ in $(seq 1 "$burners"); do
    sh -c 'while :; do :; done' &
    pids+=($!)
done
pass=0 warn=0 fail=0
for i in $(seq 1 "$runs"); do
    log=$(cargo xtask perf-test 2>&1) && code=0 || code=$?
    if [ "$code" -ne 0 ]; then
        fail=$((fail + 1))
    elif grep -q "perf: warn" <<<"$log"; then
        warn=$((warn + 1))
    else
        pass=$((pass + 1))
    fi
    echo "rerun $i: exit $code"
done
cargo xtask perf-test --features slow-parser >/dev/null 2>&1 && caught=no || caught=yes

summary="$(date -u +%F): $runs unchanged reruns beside $burners burners: $pass pass, $warn warn, $fail fail; tenfold slowdown caught: $caught"
echo "$summary"
echo "- $summary" >> "$out"
