#!/usr/bin/env bash
# The full soak (see integration/soak_test.go and SECURITY.md): 10,000
# sequential and 2,000 concurrent (200 at a time) sandboxes, every result
# checked, then no leaked descriptor, child, zombie, mount or cgroup and
# bounded memory in the caller. Run as root it soaks the root mode, then
# the rootless mode as uid 65534 (override with SOAK_USER); as another
# user, that user's mode only.
#
#   scripts/soak.sh              # full form
#   NSFORK_SOAK=short scripts/soak.sh   # the short form CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export NSFORK_SOAK="${NSFORK_SOAK:-full}"
export NSFORK_REQUIRE_ALL=1

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
go test -c -o "$dir/integration.test" ./integration/

run() {
  (cd "$dir" && "$@" ./integration.test -test.run '^TestSoak$' -test.v -test.timeout 60m) |
    grep -E 'soak_test.go|^(--- |ok|FAIL|PASS)'
}

echo "== $(id -un) ($(id -u)), NSFORK_SOAK=$NSFORK_SOAK, $(nproc) CPUs, $(uname -r)"
run env
if [ "$(id -u)" = 0 ]; then
  user="${SOAK_USER:-65534}"
  echo "== rootless as uid $user"
  run setpriv --reuid="$user" --regid="$user" --clear-groups -- env HOME="$dir" NSFORK_SOAK="$NSFORK_SOAK" NSFORK_REQUIRE_ALL=1
fi
