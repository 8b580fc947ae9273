#!/usr/bin/env bash
# Runner overhead benchmarks: xtask against GNU make and go-task on equivalent fixtures, all in
# one hyperfine run per scenario so machine drift hits every tool alike.
#
#   bash benches/runner.sh            # needs hyperfine (apt) and go-task (pip install go-task-bin)
#
# Scenarios: a no-op task (the binary directly, and through `cargo xtask`), a 200-job chain,
# 4 independent `sleep 0.5` jobs, and 50 MB of child output through the runner vs straight to
# /dev/null. Results: medians, in benches/results/runner.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
for tool in hyperfine make task; do
    command -v "$tool" >/dev/null || { echo "missing $tool (hyperfine: apt-get install hyperfine; task: pip install go-task-bin)" >&2; exit 1; }
done

cargo build --release -p xtask-cli --quiet
xtask="$root/target/release/xtask"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks" "$work/results"

# --- fixtures -------------------------------------------------------------------------------
printf '//! nothing\njob("noop", || ());\n' > "$work/tasks/noop.rhai"
printf 'noop:\n\t@:\n' > "$work/Makefile"
{
    echo "version: '3'"
    echo "tasks:"
    echo "  noop:"
    echo "    cmds: []"
} > "$work/Taskfile.yml"

# 200-job chain: each job runs `true` after the previous one.
{
    echo 'job("j0", || run(["true"]));'
    for i in $(seq 1 199); do echo "job(\"j$i\", #{ needs: [\"j$((i - 1))\"] }, || run([\"true\"]));"; done
} > "$work/tasks/chain.rhai"
{
    echo "chain: j199"
    echo "j0:"; printf '\t@true\n'
    for i in $(seq 1 199); do echo "j$i: j$((i - 1))"; printf '\t@true\n'; done
    echo ".PHONY: chain $(seq -f 'j%g' 0 199 | tr '\n' ' ')"
} >> "$work/Makefile"
{
    echo "  j0:"
    echo "    cmds: [\"true\"]"
    for i in $(seq 1 199); do
        echo "  j$i:"
        echo "    deps: [j$((i - 1))]"
        echo "    cmds: [\"true\"]"
    done
    echo "  chain:"
    echo "    deps: [j199]"
} >> "$work/Taskfile.yml"

# 4 independent sleeps.
{
    for i in 1 2 3 4; do echo "job(\"s$i\", || run([\"sleep\", \"0.5\"]));"; done
} > "$work/tasks/sleeps.rhai"
{
    echo "sleeps: s1 s2 s3 s4"
    for i in 1 2 3 4; do echo "s$i:"; printf '\t@sleep 0.5\n'; done
    echo ".PHONY: sleeps s1 s2 s3 s4"
} >> "$work/Makefile"
{
    for i in 1 2 3 4; do
        echo "  s$i:"
        echo "    cmds: [\"sleep 0.5\"]"
    done
    echo "  sleeps:"
    echo "    deps: [s1, s2, s3, s4]"
} >> "$work/Taskfile.yml"

# 50 MB of output, 100-byte lines.
{ yes 'xtask benchmark line: the quick brown fox jumps over the lazy dog, again and again and again' || true; } \
    | head -c 52428800 > "$work/big.txt"
printf 'job("big", || run(["cat", "%s"]));\n' "$work/big.txt" > "$work/tasks/output.rhai"

cd "$work"
run() { # name, then hyperfine arguments
    local name=$1; shift
    hyperfine --style basic --export-json "results/$name.json" "$@" >&2
}
run noop --warmup 5 --runs 50 -N \
    --command-name "xtask (release binary)" "$xtask noop" \
    --command-name "cargo xtask (alias, dev build)" "cargo run --quiet --manifest-path $root/Cargo.toml --package xtask-cli -- noop" \
    --command-name "make" "make -s noop" \
    --command-name "go-task" "task -s noop"
run chain --warmup 2 --runs 10 -N \
    --command-name "xtask -j 2" "$xtask -q chain" \
    --command-name "make" "make -s chain" \
    --command-name "go-task" "task -s chain"
run sleeps --warmup 1 --runs 10 -N \
    --command-name "xtask -j 4" "$xtask -q -j 4 sleeps" \
    --command-name "make -j4" "make -s -j4 sleeps" \
    --command-name "go-task" "task -s sleeps"
run output --warmup 2 --runs 10 \
    --command-name "cat > /dev/null (baseline)" "cat big.txt > /dev/null" \
    --command-name "xtask, one job streaming" "$xtask output > /dev/null" \
    --command-name "xtask --output prefixed" "$xtask --output prefixed output > /dev/null"

# --- summary --------------------------------------------------------------------------------
python3 - "$work/results" > "$root/benches/results/runner.md" <<'PY'
import json, os, statistics, sys, platform, datetime
d = sys.argv[1]
print(f"# Runner benchmarks\n\n{datetime.date.today()}, {os.cpu_count()} cores, {platform.platform()}\n")
for name in ["noop", "chain", "sleeps", "output"]:
    data = json.load(open(os.path.join(d, name + ".json")))["results"]
    base = statistics.median(data[0]["times"])
    print(f"## {name}\n\n| command | median | min | max | vs first |\n|---|---|---|---|---|")
    for r in data:
        med = statistics.median(r["times"])
        print(f"| {r['command']} | {med*1000:.1f} ms | {min(r['times'])*1000:.1f} ms | {max(r['times'])*1000:.1f} ms | {med/base:.2f}x |")
    print()
PY
cat "$root/benches/results/runner.md"
