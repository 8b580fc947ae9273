#!/usr/bin/env bash
# Benchmark: a generated 300-migration diesel history (the three version styles mixed) through
# pg::test_migrations on PostgreSQL 13, 14, 15 and 16 at once: fresh apply, full rollback,
# step-wise up/down/up of every migration, re-apply and cross-version comparison.
#
#   bash benches/pg-history.sh [runs] [migrations]     (default 3 runs, 300 migrations)
#   XTASK_BENCH_PROFILE=release bash benches/pg-history.sh   (the release binary; default: the
#                                                             dev build `cargo xtask` runs)
#   XTASK_PG_NARROW=off bash benches/pg-history.sh   (every step-wise read a full snapshot, as
#                                                     before the narrowed reads: for comparison)
#
# Prints the median wall time of the run and the per-version phase medians. Goal: <= 12 s wall
# for 300 migrations on 4 versions. Reported, never asserted.
set -euo pipefail
runs=${1:-3}
count=${2:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK_PG_PATH:-} ]]; then
  eval "export $(bash "$root/.ci/provision-postgres.sh" | tail -n1)"
fi
profile=${XTASK_BENCH_PROFILE:-debug}
case $profile in
  debug) cargo build --quiet --manifest-path "$root/Cargo.toml" -p xtask-cli ;;
  release) cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p xtask-cli ;;
  *) echo "XTASK_BENCH_PROFILE must be debug or release" >&2; exit 2 ;;
esac
xtask="${CARGO_TARGET_DIR:-$root/target}/$profile/xtask"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks" "$work/db"
# Every third migration creates a table, the next adds a column to it, the next indexes it.
# Versions cycle through diesel's styles: 20170102030405, 2017-01-02-030405 and
# 2017-01-02-030405-0000 (diesel orders them by the digits, dashes removed).
for i in $(seq 1 "$count"); do
  secs=$(printf '%06d' "$i")
  case $((i % 3)) in
    0) version="20200101${secs}" ;;
    1) version="2020-01-01-${secs}" ;;
    2) version="2020-01-01-${secs}" ;;
  esac
  t=$(( (i + 2) / 3 ))
  case $((i % 3)) in
    1) name="create_t${t}"; up="CREATE TABLE t${t} (id bigint PRIMARY KEY, label text NOT NULL DEFAULT '');"; down="DROP TABLE t${t};" ;;
    2) name="t${t}_note"; up="ALTER TABLE t${t} ADD COLUMN note text;"; down="ALTER TABLE t${t} DROP COLUMN note;" ;;
    0) name="t${t}_label_idx"; up="CREATE INDEX t${t}_label_idx ON t${t} (label);"; down="DROP INDEX t${t}_label_idx;" ;;
  esac
  mkdir -p "$work/db/${version}_${name}"
  echo "$up" > "$work/db/${version}_${name}/up.sql"
  echo "$down" > "$work/db/${version}_${name}/down.sql"
done
cat > "$work/tasks/bench.rhai" <<'RHAI'
job("history", #{ cache: false }, || {
    let r = pg::test_migrations(#{ versions: [13, 14, 15, 16], dir: "db", budget: "10m" });
    for v in r.versions.keys() {
        let t = r.versions[v].timings;
        for k in t.keys() { print(`BENCH ${v} ${k} ${t[k]}`); }
    }
});
RHAI

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
: > "$work/breakdown"
: > "$work/wall"
(cd "$work" && NO_COLOR=1 "$xtask" bench > /dev/null) # warms the initdb cache
for i in $(seq "$runs"); do
  t=$(now)
  (cd "$work" && NO_COLOR=1 "$xtask" bench) | grep '^BENCH' >> "$work/breakdown"
  awk -v a="$t" -v b="$(now)" 'BEGIN{print b-a}' >> "$work/wall"
  echo "run $i/$runs done" >&2
done
echo "generated diesel history, $count migrations, PostgreSQL 13-16 in one job, $profile binary, median of $runs runs, $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)"
printf '  wall: %.2fs (goal <= 12s for 300)\n' "$(median < "$work/wall")"
keys="initdb start setup apply rollback stepwise compare stop total"
printf '  %-8s' version; for k in $keys; do printf '%9s' "$k"; done; echo
for v in 13 14 15 16; do
  printf '  %-8s' "$v"
  for k in $keys; do
    m=$(awk -v v="$v" -v k="$k" '$2==v && $3==k {print $4}' "$work/breakdown" | median)
    printf '%8.2fs' "${m:-0}"
  done
  echo
done
