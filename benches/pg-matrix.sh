#!/usr/bin/env bash
# Benchmark: the full PostgreSQL 13/14/15/16 migration matrix on examples/service.
#
#   bash benches/pg-matrix.sh [runs]      (default 5 runs)
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
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${XTASK_PG_PATH:-} ]]; then
  eval "export $(bash "$root/.ci/provision-postgres.sh" | tail -n1)"
fi
cargo build --quiet --manifest-path "$root/Cargo.toml" -p xtask-cli
xtask="$root/target/debug/xtask"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks"
ln -s "$root/examples/service/migrations" "$work/migrations"
cat > "$work/tasks/bench.rhai" <<'RHAI'
job("matrix", #{ cache: false }, || {
    let r = pg::test_migrations(#{ versions: [13, 14, 15, 16], dir: "migrations" });
    for v in r.versions.keys() {
        let t = r.versions[v].timings;
        for k in t.keys() { print(`BENCH ${v} ${k} ${t[k]}`); }
    }
});
RHAI

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$work/breakdown"
: > "$work/wall1"
: > "$work/wall2"
: > "$work/wall3"
: > "$work/cold"
(cd "$work" && NO_COLOR=1 "$xtask" bench > /dev/null)
for i in $(seq "$runs"); do
  t=$(now)
  (cd "$work" && NO_COLOR=1 "$xtask" bench) | grep '^BENCH' >> "$work/breakdown"
  awk -v a="$t" -v b="$(now)" 'BEGIN{print b-a}' >> "$work/wall1"
  t=$(now)
  (cd "$root/examples/service" && NO_COLOR=1 "$xtask" migrate --force > /dev/null)
  awk -v a="$t" -v b="$(now)" 'BEGIN{print b-a}' >> "$work/wall2"
  t=$(now)
  (cd "$work" && NO_COLOR=1 XTASK_PG_CACHE=off "$xtask" bench) | grep '^BENCH' >> "$work/cold"
  awk -v a="$t" -v b="$(now)" 'BEGIN{print b-a}' >> "$work/wall3"
  echo "run $i/$runs done" >&2
done

echo "PostgreSQL migration matrix, examples/service ($(ls "$root/examples/service/migrations" | grep -c '\.up\.sql$') migrations), median of $runs runs, $(nproc) cores, load $(cut -d" " -f1-3 /proc/loadavg)"
printf '  one job, 4 versions on threads:  %.2fs wall\n' "$(median < "$work/wall1")"
printf '  cargo xtask migrate (job/version): %.2fs wall\n' "$(median < "$work/wall2")"
printf '  one job, no initdb cache:         %.2fs wall\n' "$(median < "$work/wall3")"
keys="initdb start setup apply rollback stepwise compare stop total"
for file in breakdown cold; do
  echo
  [[ $file == breakdown ]] && echo "  per version, one job (initdb = copy from the cache):" || echo "  per version, one job, no cache (real initdb):"
  printf '  %-8s' version; for k in $keys; do printf '%9s' "$k"; done; echo
  for v in 13 14 15 16; do
    printf '  %-8s' "$v"
    for k in $keys; do
      m=$(awk -v v="$v" -v k="$k" '$2==v && $3==k {print $4}' "$work/$file" | median)
      printf '%8.2fs' "${m:-0}"
    done
    echo
  done
done
