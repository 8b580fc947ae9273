#!/usr/bin/env bash
# Make sure a Docker engine answers on /var/run/docker.sock.
#
#  - installs Debian's docker.io (engine 20.10, BuildKit built in, no buildx
#    plugin) if dockerd is absent;
#  - if the engine does not answer, starts
#      dockerd --bridge=none --iptables=false
#    in the background (no docker0 bridge, no iptables/NAT: containers get
#    only --network host or --network none), logging to $LOG;
#  - waits up to ${XTASK_DOCKER_WAIT:-60}s for `docker info`, fails loudly otherwise.
# Idempotent: a no-op (well under a second) when the engine already answers.
# No image is ever pulled (there is no reachable container registry): build
# FROM scratch images only.
#
# The dockerd it starts is left running on purpose (it outlives this script).
set -euo pipefail

LOG="${XTASK_DOCKERD_LOG:-/var/log/xtask-dockerd.log}"
WAIT="${XTASK_DOCKER_WAIT:-60}"
SOCK=/var/run/docker.sock

log() { printf '[start-docker] %s\n' "$*" >&2; }
die() { printf '[start-docker] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

T_START=$(now)
[[ $(id -u) -eq 0 ]] || die "must run as root"

# Talk to the local engine only, whatever the caller's environment says.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_HOST="unix://$SOCK"

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

# ---------------------------------------------------------------- install
t=$(now)
if ! command -v dockerd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  log "dockerd absent: apt-get update && apt-get install docker.io"
  apt-get update -qq >&2 || die "apt-get update failed"
  # Recommends (apparmor, criu, needrestart, git, ...) are not needed.
  apt-get install -y -qq --no-install-recommends docker.io >&2 \
    || die "apt-get install docker.io failed"
  command -v dockerd >/dev/null || die "docker.io installed but dockerd not in PATH"
  log "installed: $(dockerd --version) ($(elapsed "$t"))"
fi
command -v docker >/dev/null || die "no docker client in PATH"

# ---------------------------------------------------------------- start
if engine_up; then
  log "engine already answering ($(elapsed "$T_START"))"
else
  if pgrep -x dockerd >/dev/null; then
    log "dockerd is running (pid $(pgrep -x dockerd | tr '\n' ' ')) but not answering yet; waiting"
  else
    # A stale pid file from a dead dockerd makes a new one refuse to start.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
      rm -f /var/run/docker.pid
    fi
    # containerd is started by dockerd itself (managed mode) when none is running.
    mkdir -p "$(dirname "$LOG")"
    log "starting dockerd --bridge=none --iptables=false (log: $LOG)"
    # setsid + nohup: fully detached from this script's session and stdio, so
    # `... | tail` pipelines in .ci/run don't wait for it.
    setsid nohup dockerd --bridge=none --iptables=false --ip6tables=false \
      >>"$LOG" 2>&1 </dev/null &
    disown || true
  fi
  t=$(now)
  deadline=$((SECONDS + WAIT))
  until engine_up; do
    if ! pgrep -x dockerd >/dev/null; then
      tail -n 40 "$LOG" >&2 2>/dev/null || true
      die "dockerd exited during startup (last lines of $LOG above)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG" >&2 2>/dev/null || true
      die "docker engine not answering after ${WAIT}s (last lines of $LOG above)"
    fi
    sleep 0.5
  done
  log "engine up after $(elapsed "$t")"
fi

# ---------------------------------------------------------------- report
info=$(docker version --format 'client {{.Client.Version}} (API {{.Client.APIVersion}}), server {{.Server.Version}} (API {{.Server.APIVersion}}, min {{.Server.MinAPIVersion}})' 2>&1) \
  || die "docker version failed: $info"
log "$info"
log "$(docker info --format 'storage={{.Driver}} cgroup={{.CgroupDriver}} v{{.CgroupVersion}} runtime={{.DefaultRuntime}} mem_limit={{.MemoryLimit}} cpu_cfs={{.CPUCfsQuota}} kernel={{.KernelVersion}}' 2>&1)"
# BuildKit: Debian's 20.10 client (/usr/bin/docker) has it built in; a newer
# client (e.g. a v28 one earlier in PATH) needs the buildx plugin, which Debian 12
# does not package, so with it DOCKER_BUILDKIT=1 fails and plain `docker build`
# falls back to the (deprecated) classic builder.
if ! docker buildx version >/dev/null 2>&1; then
  log "note: no buildx; for BuildKit use DOCKER_BUILDKIT=1 /usr/bin/docker build ($( /usr/bin/docker --version 2>/dev/null || echo 'absent'))"
fi
log "done in $(elapsed "$T_START")"
