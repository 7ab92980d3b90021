#!/usr/bin/env bash
# The whole test suite: vet, unit tests with -race and with cgo off, the
# integration suite as the calling user and, when run as root, again as an
# unprivileged user (uid 65534, with the fork and jobns unit tests), and a
# short run of every fuzz target.
# NSFORK_REQUIRE_ALL=1 turns every skip for a missing prerequisite into a
# failure (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME="${FUZZTIME:-5s}"

step() { printf '\n== %s\n' "$*"; }

step "build (cgo off and on)"
CGO_ENABLED=0 go build ./...
go build ./...

step "go vet"
go vet ./...

# The oldest Go the go line allows (go.mod: go 1.25.0), fetched as a
# toolchain module: importers may build with it.
OLDEST_GO=go1.25.5
step "build, vet and unit tests of sandbox and fork's go-fork surface with $OLDEST_GO"
GOTOOLCHAIN=$OLDEST_GO CGO_ENABLED=0 go build ./...
GOTOOLCHAIN=$OLDEST_GO go build ./...
GOTOOLCHAIN=$OLDEST_GO CGO_ENABLED=0 go vet ./...
GOTOOLCHAIN=$OLDEST_GO go test -count=1 ./sandbox/ ./internal/wire/
GOTOOLCHAIN=$OLDEST_GO go test -count=1 -run '^(TestGoFork.*|TestResults|TestRemoteErrors|TestCompat.*|TestChildComm|TestExitErrorUnwrap)$' ./fork/

step "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "vagrant validate"
if command -v vagrant >/dev/null; then
  # -p (--ignore-provider): a Vagrantfile is validated without a provider
  # installed (Debian's vagrant with --no-install-recommends has none, and
  # plain `vagrant validate` then fails with "No usable default provider").
  # Unknown settings and a missing box are still errors.
  vagrant validate -p
  rm -rf .vagrant
elif [ "${NSFORK_REQUIRE_ALL:-}" = 1 ]; then
  echo "vagrant is missing (NSFORK_REQUIRE_ALL=1): apt-get install --no-install-recommends vagrant" >&2
  exit 1
else
  echo "skipped: vagrant is not installed"
fi

# Test files live outside /tmp, /var/tmp and /run, which the default view
# of the host makes private to each sandbox (integration/main_test.go):
# the integration tests' temporary directories and, so that a sandbox can
# run them, the test binaries.
if [ "$(id -u)" = 0 ]; then
  export NSFORK_TEST_TMPDIR="${NSFORK_TEST_TMPDIR:-/var/lib/nsfork-t}"
  mkdir -p "$NSFORK_TEST_TMPDIR"
  chmod 1777 "$NSFORK_TEST_TMPDIR"
  export GOTMPDIR="$NSFORK_TEST_TMPDIR"
fi

UNIT=$(go list ./... | grep -v /integration)

step "unit tests, -race"
go test -race -count=1 $UNIT

step "all tests, CGO_ENABLED=0 (integration as $(id -un))"
CGO_ENABLED=0 go test -count=1 ./...

step "integration, cgo on, as $(id -un)"
go test -count=1 ./integration/

if [ "$(id -u)" = 0 ]; then
  step "integration as uid 65534 (rootless), cgo on and off"
  tmp=$(mktemp -d -p "$NSFORK_TEST_TMPDIR")
  trap 'rm -rf "$tmp"; rmdir "$NSFORK_TEST_TMPDIR" 2>/dev/null || true' EXIT
  chmod 755 "$tmp"
  go test -c -o "$tmp/integration.test" ./integration/
  # The CLI tests use this binary instead of building one (uid 65534
  # cannot read root's module cache).
  go build -o "$tmp/sandboxrun" ./cmd/sandboxrun
  # Rootless podman's runtime, static (exec runs part of it inside).
  CGO_ENABLED=0 go build -o "$tmp/sandboxrun-static" ./cmd/sandboxrun
  # TestConformance's probe, static, for the same reason.
  CGO_ENABLED=0 go build -o "$tmp/probe" ./integration/testdata/conformance/probe
  # TestReadmeQuickStart compares the README with the program.
  cp README.md "$tmp/README.md" && chmod 644 "$tmp/README.md"
  CGO_ENABLED=0 go test -c -o "$tmp/integration-nocgo.test" ./integration/
  chmod 755 "$tmp"/*.test
  # Owned by the unprivileged user, as a user's own program would be: the
  # self-exe overwrite attack then has the file permissions on its side.
  chown 65534:65534 "$tmp"/*.test
  for bin in integration.test integration-nocgo.test; do
    (cd "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
      env HOME="$tmp" NSFORK_REQUIRE_ALL="${NSFORK_REQUIRE_ALL:-}" NSFORK_SANDBOXRUN="$tmp/sandboxrun" NSFORK_SANDBOXRUN_STATIC="$tmp/sandboxrun-static" NSFORK_CONFORMANCE_PROBE="$tmp/probe" NSFORK_README="$tmp/README.md" "./$bin" -test.count=1)
  done

  step "unit tests of fork, gofork, jobns, internal/warm, internal/pidsig, internal/passwd, internal/earlysig and internal/sealedexe as uid 65534 (the pool, the holder, the warm server's peer checks: rootless)"
  go test -c -o "$tmp/fork.test" ./fork/
  go test -c -o "$tmp/jobns.test" ./jobns/
  go test -c -o "$tmp/warm.test" ./internal/warm/
  go test -c -o "$tmp/pidsig.test" ./internal/pidsig/
  go test -c -o "$tmp/sandbox.test" ./sandbox/
  go test -c -o "$tmp/gofork.test" ./gofork/
  go test -c -o "$tmp/passwd.test" ./internal/passwd/
  go test -c -o "$tmp/earlysig.test" ./internal/earlysig/
  go test -c -o "$tmp/sealedexe.test" ./internal/sealedexe/
  chmod 755 "$tmp"/*.test
  # The fork tests that build example programs need the module
  # (unreadable to uid 65534); they run above, as root.
  (cd "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    env HOME="$tmp" NSFORK_REQUIRE_ALL="${NSFORK_REQUIRE_ALL:-}" ./fork.test -test.count=1 \
    -test.skip '^(TestGoForkReadmeExample|TestForgottenInit|TestGoForkCompat|TestForkOnlyDeps|TestForkOnlyInit|TestNoPSX|TestGoForkOnlyDeps|TestGoForkOnlyInit|TestForkAndGoFork)$')
  (cd "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    env HOME="$tmp" NSFORK_REQUIRE_ALL="${NSFORK_REQUIRE_ALL:-}" ./gofork.test -test.count=1 \
    -test.skip '^(TestNoInit|TestCommOffLeader)$')
  for bin in jobns.test warm.test pidsig.test passwd.test earlysig.test sealedexe.test; do
    (cd "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
      env HOME="$tmp" NSFORK_REQUIRE_ALL="${NSFORK_REQUIRE_ALL:-}" "./$bin" -test.count=1)
  done
  # Root of a user namespace is not host root (nor a spoofed /proc), host root is unmapped in its namespace (no ErrHostRoot), and user names resolve, seen from uid 65534 too.
  (cd "$tmp" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    env HOME="$tmp" NSFORK_REQUIRE_ALL="${NSFORK_REQUIRE_ALL:-}" ./sandbox.test -test.count=1 \
    -test.run '^(TestRootInInitialUserNS|TestInitialUserNSFallback|TestNSRootIsRootless|TestRootInInitialUserNSSpoofedProc|TestHostRootIDsKernel|TestRootID|TestValidateHostRoot)$')
fi

step "fuzz targets, $FUZZTIME each"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "-- $pkg $f"
    go test -run='^$' -fuzz="^$f\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=0 "$pkg" >/dev/null
  done
done

step "all checks passed"
