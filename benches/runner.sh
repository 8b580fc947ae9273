#!/usr/bin/env bash
# Runner overhead benchmarks: xtask side by side with GNU make, just and go-task on equivalent
# fixtures, every tool in the same hyperfine run per scenario so machine drift hits all alike.
#
#   bash benches/runner.sh [runs]   # needs hyperfine (apt-get install hyperfine), just and
#                                   # go-task (pip install rust-just go-task-bin: both ship the
#                                   # real binaries; Debian has no just)
#
# Scenarios: a no-op task; a 200-job chain of `true` (and a bare shell loop for reference);
# 4 independent `sleep 0.5` jobs at each tool's default parallelism; 50 MB of child output read
# through a pipe, with no secret and with three registered, against the command alone; peak
# RSS of a no-op. Medians and ratios: benches/results/runner.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-20}
for tool in hyperfine make just task; do
    command -v "$tool" >/dev/null || { echo "missing $tool (see the comment at the top)" >&2; exit 1; }
done
# pyenv puts shell-script shims first on PATH; time the binaries themselves.
just=$(command -v pyenv >/dev/null && pyenv which just 2>/dev/null || command -v just)
task=$(command -v pyenv >/dev/null && pyenv which task 2>/dev/null || command -v task)

# XTASK_BIN: time an already built binary instead of building this tree's.
xtask=${XTASK_BIN:-}
if [ -z "$xtask" ]; then
    cargo build --release -p xtask-cli --quiet
    xtask="$root/target/release/xtask"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks" "$work/results"

# --- fixtures -------------------------------------------------------------------------------
printf '//! nothing\njob("noop", || ());\n' > "$work/tasks/noop.rhai"
printf 'noop:\n\t@:\n' > "$work/Makefile"
printf 'noop:\n\t@:\n' > "$work/justfile"
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
    echo "chain: j199"
    echo "j0:"; printf '\t@true\n'
    for i in $(seq 1 199); do echo "j$i: j$((i - 1))"; printf '\t@true\n'; done
} >> "$work/justfile"
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
for i in 1 2 3 4; do echo "job(\"s$i\", || run([\"sleep\", \"0.5\"]));"; done > "$work/tasks/sleeps.rhai"
{
    echo "sleeps: s1 s2 s3 s4"
    for i in 1 2 3 4; do echo "s$i:"; printf '\t@sleep 0.5\n'; done
    echo ".PHONY: sleeps s1 s2 s3 s4"
} >> "$work/Makefile"
{
    # just runs dependencies one after another; [parallel] (1.42+) runs them at once.
    echo "[parallel]"
    echo "sleeps: s1 s2 s3 s4"
    for i in 1 2 3 4; do echo "s$i:"; printf '\t@sleep 0.5\n'; done
} >> "$work/justfile"
{
    for i in 1 2 3 4; do
        echo "  s$i:"
        echo "    cmds: [\"sleep 0.5\"]"
    done
    echo "  sleeps:"
    echo "    deps: [s1, s2, s3, s4]"
} >> "$work/Taskfile.yml"

# 50 MB of output, 100-byte lines; the secrets never occur in it (the matcher still looks).
{ yes 'xtask benchmark line: the quick brown fox jumps over the lazy dog, again and again and again' || true; } \
    | head -c 52428800 > "$work/big.txt"
printf 'job("big", || run(["cat", "%s"]));\n' "$work/big.txt" > "$work/tasks/output.rhai"
printf 'output:\n\t@cat %s\n' "$work/big.txt" >> "$work/justfile"
printf 'output:\n\t@cat %s\n.PHONY: output\n' "$work/big.txt" >> "$work/Makefile"
export BENCH_S1=hunter2-correct-horse BENCH_S2=ghp_0123456789abcdefABCDEF BENCH_S3=s3cr3t-t0k3n-value

cd "$work"
run() { # name, then hyperfine arguments
    local name=$1; shift
    hyperfine --style basic --export-json "results/$name.json" "$@" >&2
}
run noop --warmup 5 --runs $((runs * 3)) -N \
    --command-name "xtask" "$xtask noop" \
    --command-name "make" "make -s noop" \
    --command-name "just" "$just noop" \
    --command-name "go-task" "$task -s noop"
run chain --warmup 2 --runs "$runs" -N \
    --command-name "xtask" "$xtask -q chain" \
    --command-name "sh loop of true" "sh -c 'for i in \$(seq 200); do /bin/true; done'" \
    --command-name "make" "make -s chain" \
    --command-name "just" "$just chain" \
    --command-name "go-task" "$task -s chain"
run sleeps --warmup 1 --runs "$runs" -N \
    --command-name "xtask (default -j)" "$xtask -q sleeps" \
    --command-name "make -j4" "make -s -j4 sleeps" \
    --command-name "just [parallel]" "$just sleeps" \
    --command-name "go-task" "$task -s sleeps"
run output --warmup 2 --runs "$runs" \
    --command-name "cat | cat (the command alone)" "cat big.txt | cat > /dev/null" \
    --command-name "xtask" "$xtask output | cat > /dev/null" \
    --command-name "xtask, 3 secrets" "$xtask --secret-env BENCH_S1 --secret-env BENCH_S2 --secret-env BENCH_S3 output | cat > /dev/null" \
    --command-name "make" "make -s output | cat > /dev/null" \
    --command-name "just" "$just output | cat > /dev/null"

# Peak RSS (GNU time's %M, KiB), median of 10.
rss() { for _ in $(seq 10); do /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n1; done | sort -n | sed -n 5p; }
{
    echo "xtask $(rss "$xtask" noop)"
    echo "make $(rss make -s noop)"
    echo "just $(rss "$just" noop)"
    echo "go-task $(rss "$task" -s noop)"
} > results/rss.txt

# --- summary --------------------------------------------------------------------------------
python3 - "$work/results" > "$root/benches/results/runner.md" <<'PY'
import json, os, statistics, sys, platform, datetime
d = sys.argv[1]
load = open("/proc/loadavg").read().split()[0]
print(f"# Runner benchmarks\n\n{datetime.date.today()}, {os.cpu_count()} cores, load {load}, {platform.platform()}\n")
for name in ["noop", "chain", "sleeps", "output"]:
    data = json.load(open(os.path.join(d, name + ".json")))["results"]
    base = statistics.median(data[0]["times"])
    print(f"## {name}\n\n| command | median | min | max | vs first |\n|---|---|---|---|---|")
    for r in data:
        med = statistics.median(r["times"])
        name = r["command"].replace("|", "\\|")  # a pipe in a command name would split the cell
        print(f"| {name} | {med*1000:.1f} ms | {min(r['times'])*1000:.1f} ms | {max(r['times'])*1000:.1f} ms | {med/base:.2f}x |")
    print()
print("## peak RSS of a no-op\n\n| tool | median |\n|---|---|")
for line in open(os.path.join(d, "rss.txt")):
    tool, kib = line.split()
    print(f"| {tool} | {int(kib)/1024:.1f} MiB |")
PY
cat "$root/benches/results/runner.md"
