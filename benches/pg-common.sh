# Sourced by pg-history.sh and pg-matrix.sh: the scaffolding both PostgreSQL benchmarks share.
# Sets `root`, `profile`, `xtask` (the binary, built) and `work` (a temporary directory removed on
# exit, with `tasks/`), and defines the helpers below. Needs XTASK_PG_PATH (provisioned with
# .ci/provision-postgres.sh when unset). XTASK_BENCH_PROFILE=release measures the release binary;
# the default is the dev build `cargo xtask` runs; XTASK_BENCH_BIN=path runs that binary instead
# (nothing is built).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${XTASK_PG_PATH:-} ]]; then
  eval "export $(bash "$root/.ci/provision-postgres.sh" | tail -n1)"
fi
profile=${XTASK_BENCH_PROFILE:-debug}
if [[ -n ${XTASK_BENCH_BIN:-} ]]; then
  # A binary built elsewhere (an older commit's, copied aside): for A/B comparisons.
  xtask=$(realpath "$XTASK_BENCH_BIN")
  profile="$xtask"
else
  case $profile in
    debug) cargo build --quiet --manifest-path "$root/Cargo.toml" -p xtask-cli ;;
    release) cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p xtask-cli ;;
    *) echo "XTASK_BENCH_PROFILE must be debug or release" >&2; exit 2 ;;
  esac
  xtask="${CARGO_TARGET_DIR:-$root/target}/$profile/xtask"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tasks"

# bench_task JOB OPTIONS: tasks/bench.rhai, one job running pg::test_migrations on 13-16 with
# OPTIONS (Rhai map entries) and printing each version's phase timings as `BENCH v phase secs`.
bench_task() {
  cat > "$work/tasks/bench.rhai" <<RHAI
job("$1", #{ cache: false }, || {
    let r = pg::test_migrations(#{ versions: [13, 14, 15, 16], $2 });
    for v in r.versions.keys() {
        let t = r.versions[v].timings;
        for k in t.keys() { print(\`BENCH \${v} \${k} \${t[k]}\`); }
    }
});
RHAI
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# timed WALL COMMAND...: runs the command, appending its wall time in seconds to the file WALL.
timed() {
  local wall=$1 t
  shift
  t=$(now)
  "$@"
  awk -v a="$t" -v b="$(now)" 'BEGIN{print b-a}' >> "$wall"
}

# bench_run [ENV=VALUE...]: one run of the bench task, its BENCH lines on stdout.
bench_run() {
  (cd "$work" && env NO_COLOR=1 "$@" "$xtask" bench) | grep '^BENCH'
}

# phase_table FILE: the median of every phase per version, from BENCH lines.
phase_table() {
  local keys="initdb start setup apply rollback stepwise compare stop total" v k m
  printf '  %-8s' version; for k in $keys; do printf '%9s' "$k"; done; echo
  for v in 13 14 15 16; do
    printf '  %-8s' "$v"
    for k in $keys; do
      m=$(awk -v v="$v" -v k="$k" '$2==v && $3==k {print $4}' "$1" | median)
      printf '%8.2fs' "${m:-0}"
    done
    echo
  done
}
