#!/usr/bin/env bash
# Benchmark: the full PostgreSQL 13/14/15/16 migration matrix on examples/service.
#
#   bash benches/pg-matrix.sh [runs]      (default 5 runs)
#   XTASK_BENCH_PROFILE=release bash benches/pg-matrix.sh   (the release binary)
#
# Measures two shapes, each `runs` times, and prints medians:
#   1. one job, pg::test_migrations(#{ versions: [13, 14, 15, 16] }) (versions on threads),
#      with the per-version breakdown the call returns (initdb, start, setup, apply, rollback,
#      stepwise, compare, stop, total);
#   2. the example's own task, `cargo xtask migrate` (a job per version, then compare);
#   3. shape 1 without the initdb cache (XTASK_PG_CACHE=off), i.e. a real initdb per version.
# The cache is warmed by a first, unmeasured run.
# Needs XTASK_PG_PATH (provisioned with .ci/provision-postgres.sh when unset and root).
set -euo pipefail
runs=${1:-5}
# shellcheck source=benches/pg-common.sh
source "$(dirname "$0")/pg-common.sh"
ln -s "$root/examples/service/migrations" "$work/migrations"
bench_task matrix 'dir: "migrations"'

: > "$work/breakdown"
: > "$work/wall1"
: > "$work/wall2"
: > "$work/wall3"
: > "$work/cold"
bench_run > /dev/null
for i in $(seq "$runs"); do
  timed "$work/wall1" bench_run >> "$work/breakdown"
  timed "$work/wall2" sh -c 'cd "$1" && NO_COLOR=1 "$2" migrate --force > /dev/null' _ "$root/examples/service" "$xtask"
  timed "$work/wall3" bench_run XTASK_PG_CACHE=off >> "$work/cold"
  echo "run $i/$runs done" >&2
done

echo "PostgreSQL migration matrix, examples/service ($(ls "$root/examples/service/migrations" | grep -c '\.up\.sql$') migrations), $profile binary, median of $runs runs, $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)"
printf '  one job, 4 versions on threads:  %.2fs wall\n' "$(median < "$work/wall1")"
printf '  cargo xtask migrate (job/version): %.2fs wall\n' "$(median < "$work/wall2")"
printf '  one job, no initdb cache:         %.2fs wall\n' "$(median < "$work/wall3")"
for file in breakdown cold; do
  echo
  [[ $file == breakdown ]] && echo "  per version, one job (initdb = copy from the cache):" || echo "  per version, one job, no cache (real initdb):"
  phase_table "$work/$file"
done
