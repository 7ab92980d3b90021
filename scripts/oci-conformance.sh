#!/usr/bin/env bash
# The OCI runtime conformance suite (opencontainers/runtime-tools v0.9.0,
# validation/*/*.t) against sandboxrun and its peers, one table.
#
#   scripts/oci-conformance.sh [-r "sandboxrun runc crun"] [-c FILE] [-o FILE] [TEST...]
#
#   -r RUNTIMES  the runtimes to run (default: sandboxrun sandboxrun-host-root
#                runc crun; those not installed are left out). sandboxrun is
#                built from this tree; sandboxrun-host-root is it with the
#                global --host-root (trusted code only: configs without a
#                user namespace run as host root, as runc runs them).
#   -c FILE      check: every test named in FILE (one per line, # comments)
#                must pass with sandboxrun; exit 1 otherwise.
#   -o FILE      also write the table (markdown) to FILE.
#   TEST...      only these tests (names as in validation/, e.g. hostname).
#
# runtime-tools predates go.mod: it is built in module mode with the pins
# of docs/oci-runtime.md, once, under the Go build cache
# ($(go env GOCACHE)/nsfork-runtime-tools-v0.9.0; ~3 minutes the first
# time). Every test is a TAP program run from there as
# `RUNTIME=... timeout 60 validation/T/T.t`: pass (no "not ok", exit 0),
# fail, or skip ("1..0"). Needs root, as the suite's tests assume.
set -euo pipefail
cd "$(dirname "$0")/.."

runtimes="sandboxrun sandboxrun-host-root runc crun"
check= out=
while getopts r:c:o: opt; do
  case $opt in
    r) runtimes=$OPTARG ;;
    c) check=$OPTARG ;;
    o) out=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ -z "$check" ] || check=$(realpath "$check")
[ -z "$out" ] || out=$(realpath "$out")

rtver=v0.9.0
rtools=$(go env GOCACHE)/nsfork-runtime-tools-$rtver
if [ ! -e "$rtools/.built" ]; then
  echo "building runtime-tools $rtver in $rtools" >&2
  go mod download github.com/opencontainers/runtime-tools@$rtver
  src=$(go env GOMODCACHE)/github.com/opencontainers/runtime-tools@$rtver
  rm -rf "$rtools" && cp -r "$src" "$rtools" && chmod -R u+w "$rtools"
  (
    cd "$rtools"
    # No go.mod in v0.9.0: these pins build it (later selinux versions
    # drop label.FileLabel, which cmd/runtimetest needs).
    GOFLAGS=-mod=mod go mod init github.com/opencontainers/runtime-tools >/dev/null 2>&1
    GOFLAGS=-mod=mod go get github.com/opencontainers/runtime-spec@v1.0.2 \
      github.com/opencontainers/selinux@v1.8.0 \
      github.com/urfave/cli@v1.19.1 \
      github.com/hashicorp/go-multierror@v1.0.0 \
      github.com/blang/semver@v3.5.0+incompatible \
      github.com/satori/go.uuid@v1.1.0 >/dev/null 2>&1
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
    make runtimetest validation-executables >/dev/null
  )
  touch "$rtools/.built"
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
CGO_ENABLED=0 go build -o "$bin/sandboxrun" ./cmd/sandboxrun
printf '#!/bin/sh\nexec %s --host-root "$@"\n' "$bin/sandboxrun" >"$bin/sandboxrun-host-root"
chmod 755 "$bin/sandboxrun-host-root"

declare -a rts paths
for rt in $runtimes; do
  case $rt in
    sandboxrun | sandboxrun-host-root) p=$bin/$rt ;;
    *) p=$(command -v "$rt" || true) ;;
  esac
  if [ -z "$p" ]; then
    echo "$rt: not installed, left out" >&2
    continue
  fi
  rts+=("$rt")
  paths+=("$p")
done

cd "$rtools"
if [ $# -gt 0 ]; then
  tests=("$@")
else
  mapfile -t tests < <(ls validation/*/*.t | sed 's|validation/\([^/]*\)/.*|\1|')
fi

declare -A res pass fail skip
logdir=$(mktemp -d -p "$bin")
for t in "${tests[@]}"; do
  for i in "${!rts[@]}"; do
    rt=${rts[$i]}
    log=$logdir/$t.$rt
    rc=0
    RUNTIME=${paths[$i]} timeout 60 "./validation/$t/$t.t" >"$log" 2>&1 || rc=$?
    if grep -q '^1\.\.0' "$log"; then
      r=skip
    elif [ $rc = 0 ] && ! grep -q '^not ok' "$log"; then
      r=pass
    else
      r=fail
    fi
    res[$t.$rt]=$r
    case $r in pass) pass[$rt]=$((${pass[$rt]:-0} + 1)) ;; fail) fail[$rt]=$((${fail[$rt]:-0} + 1)) ;; skip) skip[$rt]=$((${skip[$rt]:-0} + 1)) ;; esac
    if [ -n "${NSFORK_CONFORMANCE_LOGS:-}" ]; then
      mkdir -p "$NSFORK_CONFORMANCE_LOGS" && cp "$log" "$NSFORK_CONFORMANCE_LOGS/"
    fi
  done
done

table() {
  printf '| test |'
  for rt in "${rts[@]}"; do printf ' %s |' "$rt"; done
  printf '\n|---|'
  for _ in "${rts[@]}"; do printf -- '---|'; done
  printf '\n'
  for t in "${tests[@]}"; do
    printf '| %s |' "$t"
    for rt in "${rts[@]}"; do printf ' %s |' "${res[$t.$rt]}"; done
    printf '\n'
  done
  printf '| **pass / fail / skip** |'
  for rt in "${rts[@]}"; do printf ' **%s / %s / %s** |' "${pass[$rt]:-0}" "${fail[$rt]:-0}" "${skip[$rt]:-0}"; done
  printf '\n'
}
table
[ -z "$out" ] || table >"$out"

if [ -n "$check" ]; then
  bad=0
  while read -r t _; do
    case $t in '' | '#'*) continue ;; esac
    if [ "${res[$t.sandboxrun]:-missing}" != pass ]; then
      echo "REGRESSION: $t: ${res[$t.sandboxrun]:-not run} with sandboxrun (listed as passing in $check)" >&2
      bad=1
    fi
  done <"$check"
  exit $bad
fi
