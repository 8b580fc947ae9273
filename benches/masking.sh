#!/usr/bin/env bash
# Secret masking cost: 200 MB of child output through the runner with no secret registered
# against three (none of which occurs, so every byte is scanned and nothing is replaced), plus
# a run where one of them occurs on every line. The runner's stdout goes to /dev/null.
#
#   bash benches/masking.sh [runs]     # hyperfine when installed, else a timing loop (medians)
#   XTASK_BIN=/path/to/xtask bash benches/masking.sh   # measure that binary
#
# Goal (issue #18): three secrets cost at most 1.5x the time of none.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
# XTASK_BIN=path measures a binary built elsewhere (another revision, say).
if [ -z "${XTASK_BIN:-}" ]; then
    cargo build --release -p xtask-cli --quiet
fi
xtask=${XTASK_BIN:-$(pwd)/target/release/xtask}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks"

# 200 MB of 100-byte lines; a second file with a secret on every line.
line='xtask masking benchmark: the quick brown fox jumps over the lazy dog, again and again ....'
{ yes "$line" || true; } | head -c 209715200 > "$work/plain.txt"
{ yes "token=hunter2-deploy-key $line" || true; } | head -c 209715200 > "$work/secret.txt"
printf 'job("big", || run(["cat", "plain.txt"]));\n' > "$work/tasks/plain.rhai"
printf 'job("big", || run(["cat", "secret.txt"]));\n' > "$work/tasks/secret.rhai"
export S1=hunter2-deploy-key S2='ghp_0123456789abcdefABCDEF' S3='s3cr3t"with\quote'
none="$xtask plain"
three="$xtask plain --secret-env S1 --secret-env S2 --secret-env S3"
hits="$xtask secret --secret-env S1 --secret-env S2 --secret-env S3"
cd "$work"

if command -v hyperfine >/dev/null; then
    hyperfine --warmup 1 --runs "$runs" --export-json "$work/masking.json" \
        -n "no secret" "$none" -n "3 secrets" "$three" -n "3 secrets, a match per line" "$hits"
    python3 - "$work/masking.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
cpu_base = results[0]["user"] + results[0]["system"]
# Wall time is what the goal is about; CPU time (user + system, mean) is steadier on a shared
# machine, where neighbours' load lands on the wall clock.
for r in results:
    cpu = r["user"] + r["system"]
    print(f"{r['command']:<30} median {r['median'] * 1000:7.0f} ms  {r['median'] / base:.2f}x"
          f"   cpu {cpu * 1000:6.0f} ms  {cpu / cpu_base:.2f}x")
PY
    exit 0
fi

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
measure() { # name, command
    local name=$1 cmd=$2 times=()
    $cmd > /dev/null # warm-up
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        $cmd > /dev/null
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000000 )))
    done
    local m
    m=$(printf '%s\n' "${times[@]}" | median)
    printf '%-32s median %6d ms  (%s)\n' "$name" "$m" "${times[*]}" >&2
    echo "$m"
}
base=$(measure "no secret" "$none")
with=$(measure "3 secrets" "$three")
hit=$(measure "3 secrets, a match per line" "$hits")
awk -v b="$base" -v w="$with" -v h="$hit" 'BEGIN {
    printf "3 secrets / none: %.2fx   a match per line / none: %.2fx\n", w / b, h / b }'
