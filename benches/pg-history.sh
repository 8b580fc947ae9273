#!/usr/bin/env bash
# Benchmark: a generated 300-migration diesel history (the three version styles mixed) through
# pg::test_migrations on PostgreSQL 13, 14, 15 and 16 at once: fresh apply, full rollback,
# step-wise up/down/up of every migration, re-apply and cross-version comparison.
#
#   bash benches/pg-history.sh [runs] [migrations]     (default 3 runs, 300 migrations)
#   XTASK_BENCH_PROFILE=release bash benches/pg-history.sh   (the release binary; default: the
#                                                             dev build `cargo xtask` runs)
#   XTASK_BENCH_BIN=/tmp/xtask.old bash benches/pg-history.sh   (that binary: A/B runs)
#   XTASK_PG_NARROW=off bash benches/pg-history.sh   (every step-wise read a full snapshot, as
#                                                     before the narrowed reads: for comparison)
#
# Prints the median wall time of the run and the per-version phase medians. Goal: <= 12 s wall
# for 300 migrations on 4 versions. Reported, never asserted.
set -euo pipefail
runs=${1:-3}
count=${2:-300}
# shellcheck source=benches/pg-common.sh
source "$(dirname "$0")/pg-common.sh"
mkdir -p "$work/db"
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
bench_task history 'dir: "db", budget: "10m"'
: > "$work/breakdown"
: > "$work/wall"
bench_run > /dev/null # warms the initdb cache
for i in $(seq "$runs"); do
  timed "$work/wall" bench_run >> "$work/breakdown"
  echo "run $i/$runs done" >&2
done
echo "generated diesel history, $count migrations, PostgreSQL 13-16 in one job, $profile binary, median of $runs runs, $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)"
printf '  wall: %.2fs (goal <= 12s for 300)\n' "$(median < "$work/wall")"
phase_table "$work/breakdown"
