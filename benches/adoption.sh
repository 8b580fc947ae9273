#!/usr/bin/env bash
# What adopting the runner costs a repository: the cold build of a generated `xtask/` crate with
# every family and with only `cargo`, and the warm `cargo xtask --list` (cargo's freshness check
# plus the runner's start-up).
#
#   bash benches/adoption.sh            # results on stdout, hyperfine for the warm figure
#
# Each cold build uses an empty target directory (the registry's sources stay cached, as on a CI
# runner with a warm ~/.cargo and a cold target/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --manifest-path "$root/Cargo.toml" -p xtask-cli
xtask="$root/target/debug/xtask"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
cargo init --quiet --lib --name demo
git init --quiet
"$xtask" init --path "$root" >/dev/null

cold() { # $1 = label, $2 = features
  sed -i "s/features = \[[^]]*\]/features = [$2]/" xtask/Cargo.toml
  rm -rf "$work/target-cold"
  # wall and CPU (user + sys of cargo and every rustc): CPU is what a busy machine cannot hide.
  CARGO_TARGET_DIR="$work/target-cold" /usr/bin/time -f "cold build, $1: %e s wall, %U s user + %S s sys (load: $(cut -d' ' -f1 /proc/loadavg))" \
    cargo build --quiet --manifest-path xtask/Cargo.toml
}

cold "every family" '"cargo", "pg", "docker", "http", "perf", "release"'
cold "cargo only" '"cargo"'

# Warm: the crate is built; `cargo xtask --list` is cargo's freshness check plus the runner.
export CARGO_TARGET_DIR="$work/target-cold"
cargo xtask --list >/dev/null
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 3 --runs 20 --export-markdown "$work/warm.md" 'cargo xtask --list' >/dev/null
  cat "$work/warm.md"
else
  for _ in 1 2 3; do /usr/bin/time -f "warm cargo xtask --list: %e s" cargo xtask --list >/dev/null; done
fi
