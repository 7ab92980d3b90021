#!/bin/bash
# gofork-clients.sh: go-fork's two real users, built against go-fork v0.1.1
# and with only the import path swapped to nsfork's fork package (plus a
# replace to this checkout), run side by side (issue 21, docs/api.md
# "Migrating from go-fork").
#
#   scripts/gofork-clients.sh KRAKEN_SRC IMAGEAPI_SRC [WORKDIR]
#
# KRAKEN_SRC and IMAGEAPI_SRC are unpacked sources of
# github.com/kraken-hpc/kraken and github.com/kraken-hpc/imageapi (e.g.
# `git archive HEAD | tar -x -C DIR` of a clone). They are copied, never
# changed. WORKDIR (default: a new directory under $NSFORK_TEST_TMPDIR or
# /var/lib/nsfork-t) keeps the builds and logs.
#
# Needs: root (imageapi mounts and pivots into its containers), the go
# command, the Go module proxy (about 300 MB of modules on a cold cache),
# curl, python3, ports 3141, 31415 and 8080 on 127.0.0.1 free, and a few
# minutes. Not run in CI for those reasons.
#
# Toolchain: GOTOOLCHAIN (default go1.25.5) builds both sides. After the swap
# the clients' go line is nsfork's (1.25.0); before it is their own 1.15.
#
# NSFORK_PKG=gofork swaps the import to nsfork's go-fork drop-in,
# github.com/nsfork/nsfork/gofork, instead of the fork package (default).
#
# REUSE=1 with an earlier run's WORKDIR skips the builds.
#
# Exit status: 0 when every scenario ends the same for go-fork and nsfork,
# 1 otherwise. The table of results goes to stdout.
set -euo pipefail

KRAKEN_SRC=${1:?usage: $0 KRAKEN_SRC IMAGEAPI_SRC [WORKDIR]}
IMAGEAPI_SRC=${2:?usage: $0 KRAKEN_SRC IMAGEAPI_SRC [WORKDIR]}
NSFORK=${NSFORK:-$(cd "$(dirname "$0")/.." && pwd)} # the nsfork checkout to replace with
TMPROOT=${NSFORK_TEST_TMPDIR:-/var/lib/nsfork-t}
WORK=${3:-$(mktemp -d -p "$TMPROOT" gofork-clients.XXXXXX)}
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.25.5}
export GOFLAGS=-mod=mod
NSFORK_PKG=${NSFORK_PKG:-fork}
case $NSFORK_PKG in fork | gofork) ;; *)
	echo "NSFORK_PKG must be fork or gofork" >&2
	exit 2
	;;
esac
NODE=123e4567-e89b-12d3-a456-426655440000 # Kraken's default node id
API=http://127.0.0.1:3141
FAILED=0

say() { printf '%s\n' "$*" >&2; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }

# stop PID: SIGTERM, and SIGKILL after 5 s.
stop() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 25); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.2
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# swap DIR FILES...: the import path in FILES, and go.mod's requirement.
swap() {
	local dir=$1
	shift
	(cd "$dir" &&
		sed -i 's#"github.com/kraken-hpc/go-fork"#"github.com/nsfork/nsfork/'"$NSFORK_PKG"'"#' "$@" &&
		go mod edit -droprequire=github.com/kraken-hpc/go-fork \
			-require=github.com/nsfork/nsfork@v0.0.0-00010101000000-000000000000 \
			-replace=github.com/nsfork/nsfork="$NSFORK")
	if grep -rq 'kraken-hpc/go-fork"' --include='*.go' "$dir"; then
		say "swap: $dir still imports go-fork"
		exit 1
	fi
}

# ---------------------------------------------------------------- Kraken
# The fork-using package (core) and an app generated with the restapi and
# websocket modules, as Kraken's README makes one.
build_kraken() {
	local side=$1 src="$WORK/src-kraken-$1"
	rm -rf "$src" && cp -a "$KRAKEN_SRC" "$src"
	if [ "$side" = nsfork ]; then
		swap "$src" core/ServiceInstance.go
	fi
	(cd "$src" && go build -o "$WORK/kraken-gen-$side" . && go build -o /dev/null ./core/)
	mkdir -p "$src/tester"
	cat >"$src/tester/kraken.yaml" <<-EOF
		name: tester
		version: "v0.1.1"
		extensions:
		  - "github.com/kraken-hpc/kraken/extensions/ipv4"
		modules:
		  - "github.com/kraken-hpc/kraken/modules/restapi"
		  - "github.com/kraken-hpc/kraken/modules/websocket"
	EOF
	(cd "$src/tester" && "$WORK/kraken-gen-$side" app generate >/dev/null 2>&1)
	if [ "$side" = nsfork ]; then
		swap "$src" tester/main.go
	fi
	(cd "$src/tester" && go build -o "$WORK/tester-$side" .)
}

# svc_state cfg|dsc SERVICE: the service's state as Kraken reports it.
svc_state() {
	curl -sf "$API/$1/node/$NODE" | python3 -c '
import json, sys
n = json.load(sys.stdin)
print(next((s.get("state", "STOP") for s in n.get("services", []) if s["id"] == sys.argv[1]), "none"))' "$2"
}

# set_cfg SERVICE STATE: what an operator does through the REST API.
set_cfg() {
	curl -sf "$API/cfg/node/$NODE" | python3 -c '
import json, sys
n = json.load(sys.stdin)
for s in n["services"]:
    if s["id"] == sys.argv[1]:
        s["state"] = sys.argv[2]
# Kraken prints the loopback interface with an empty MAC, and refuses it.
for x in n.get("extensions", []):
    for i in x.get("ifaces", {}).values():
        if i.get("eth", {}).get("mac") == "":
            del i["eth"]["mac"]
print(json.dumps(n))' "$1" "$2" | curl -sf -X PUT --data-binary @- "$API/cfg/node/$NODE" >/dev/null
}

# poll "STATE..." COMMAND...: run COMMAND every 0.2 s, up to 20 s, until
# it prints one of the states; print what it printed last.
poll() {
	local want=" $1 " s=""
	shift
	for _ in $(seq 100); do
		s=$("$@" 2>/dev/null || true)
		case $want in *" $s "*) [ -n "$s" ] && break ;; esac
		sleep 0.2
	done
	echo "${s:-unreachable}"
}

# wait_dsc SERVICE STATE...: wait for the service's discovered state.
wait_dsc() {
	local svc=$1
	shift
	poll "$*" svc_state dsc "$svc"
}

# module_pid SIDE SERVICE: the pid of the module's child, found by name.
module_pid() { pgrep -x -f "$WORK/tester-$1 \[$2\]" | head -1 || true; }

# kraken_run SIDE: the scenarios; prints "name=value" lines.
kraken_run() {
	set +e # a failed step shows in its row; the cleanup below still runs
	local side=$1 bin="$WORK/tester-$1" log="$WORK/kraken-$1.log" pid p1 p2
	(cd "$WORK" && exec "$bin" -ip 127.0.0.1 -ipapi 127.0.0.1 >"$log" 2>&1) &
	pid=$!
	for _ in $(seq 100); do
		curl -sf "$API/cfg/node/$NODE" >/dev/null 2>&1 && break
		sleep 0.2
	done
	# restapi serves the API the rest goes through. Its discovered state
	# is shown, not compared: Kraken's service manager can start a module
	# twice, and the second start's "not in stop state" marks the running
	# module ERROR (seen once with go-fork, a race of Kraken's own).
	if curl -sf "$API/cfg/node/$NODE" >/dev/null; then
		echo "restapi=serves the API (discovered state $(wait_dsc restapi INIT RUN ERROR))"
	else
		echo "restapi=no API"
	fi
	# pgrep by the program's name finds the module children.
	echo "comm=$(pgrep -c -x "tester-$side" || true) processes named tester-$side"
	set_cfg websocket RUN
	echo "websocket RUN=$(wait_dsc websocket RUN ERROR)"
	p1=$(module_pid "$side" websocket)
	# The module's clean stop: websocket's Stop is os.Exit(0).
	set_cfg websocket STOP
	echo "websocket STOP=$(wait_dsc websocket STOP ERROR)"
	set_cfg websocket RUN
	echo "websocket RUN again=$(wait_dsc websocket RUN ERROR)"
	p2=$(module_pid "$side" websocket)
	if [ -n "$p1" ] && [ -n "$p2" ] && [ "$p1" != "$p2" ]; then
		echo "restarted=yes (pid $p1 -> $p2)"
	else
		echo "restarted=no (pid $p1 -> $p2)"
	fi
	# kill -9 of a module: an error in both, and it stays one.
	[ -n "$p2" ] && kill -9 "$p2"
	echo "websocket after kill -9=$(wait_dsc websocket ERROR STOP)"
	# The module children outlive Kraken (go-fork's behaviour, kept): end
	# them by pid.
	local kids
	kids=$(pgrep -P "$pid" || true)
	stop "$pid"
	[ -z "$kids" ] || kill -9 $kids 2>/dev/null || true
}

# -------------------------------------------------------------- imageapi
# Its replace of github.com/u-root/iscsinl points at a fork the module
# proxy no longer serves (403); both sides use upstream iscsinl's last
# version instead (imageapi's iSCSI attach is not exercised here).
ISCSINL=github.com/u-root/iscsinl@v0.1.1-0.20210528121423-84c32645822a
IAPI=http://127.0.0.1:8080/imageapi/v1

build_imageapi() {
	local side=$1 src="$WORK/src-imageapi-$1"
	rm -rf "$src" && cp -a "$IMAGEAPI_SRC" "$src"
	(cd "$src" && go mod edit -replace=github.com/u-root/iscsinl@v0.1.0=$ISCSINL)
	if [ "$side" = nsfork ]; then
		swap "$src" internal/api/container.go
	fi
	(cd "$src" && go build -o "$WORK/imageapi-$side" ./cmd/imageapi-server)
}

# container NAME COMMAND: create and start a container on a bind mount of
# the test root; print its id.
container() {
	printf '{"name":"%s","command":"%s","state":"running","mount":{"kind":"bind","bind":{"base":"root","path":"%s"}}}' \
		"$1" "$2" "$WORK/rootfs" |
		curl -sf -H 'Content-Type: application/json' -X POST --data-binary @- "$IAPI/container" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# ctn_get ID: the container's state.
ctn_get() {
	curl -sf "$IAPI/container?id=$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["state"])'
}

# ctn_state ID STATE...: wait for one of the states; print it.
ctn_state() {
	local id=$1
	shift
	poll "$*" ctn_get "$id"
}

# imageapi_run SIDE: the scenarios; prints "name=value" lines. imageapi
# keeps its mounts and logs in /var/run/imageapi: it runs in a mount
# namespace of its own with a tmpfs on /run, so nothing stays on the host.
imageapi_run() {
	set +e # a failed step shows in its row; the cleanup below still runs
	local side=$1 bin="$WORK/imageapi-$1" log="$WORK/imageapi-$1.log" pid id
	local run="$WORK/imageapi-run-$side"
	mkdir -p "$run"
	# The image: a tmpfs with busybox (imageapi wants its root on a file
	# system of its own), in the same mount namespace.
	unshare -m --propagation private -- sh -c \
		'mount -t tmpfs imageapi-run /run && mkdir /run/imageapi && mount --bind "$1" /run/imageapi &&
		mount -t tmpfs imageapi-image "$2" && mkdir "$2/bin" && cp "$3" "$2/bin/busybox" &&
		exec "$0" --scheme http --host 127.0.0.1 --port 8080' \
		"$bin" "$run" "$WORK/rootfs" "$(command -v busybox)" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		curl -sf "$IAPI/container" >/dev/null 2>&1 && break
		sleep 0.2
	done
	# (Container names may hold letters, 0, 1, '.', '-' and '_'; imageapi
	# splits the command at blanks, without shell quoting.) The container's
	# init is the forked function; it ends in an exec of the command.
	# An init that exits 0 at once, and one that exits 0 after a second.
	id=$(container zero "/bin/busybox true")
	echo "init exits 0=$(ctn_state "$id" exited dead)"
	id=$(container sleeper "/bin/busybox sleep 1")
	echo "init sleeps 1 s, exits 0=$(ctn_state "$id" exited dead)"
	# An init that exits 1: "dead".
	id=$(container one "/bin/busybox false")
	echo "init exits 1=$(ctn_state "$id" dead exited)"
	# A running container stopped through the API (the init is killed).
	id=$(container stopped "/bin/busybox sleep 60")
	ctn_state "$id" running >/dev/null
	curl -sf -X PATCH "$IAPI/container?id=$id&state=exited" >/dev/null || true
	echo "init stopped through the API=$(ctn_state "$id" exited dead)"
	# The init's stdin: imageapi sets Function.Stdin to nil.
	id=$(container stdin "/bin/busybox readlink /proc/self/fd/0")
	ctn_state "$id" exited dead >/dev/null
	echo "init stdin=$(grep -hv '^[0-9]\{4\}/' "$run"/logs/"$id"-*.log 2>/dev/null | head -1 || true)"
	stop "$pid"
}

# ------------------------------------------------------------------ main
for tool in go curl python3 unshare busybox pgrep; do
	command -v "$tool" >/dev/null || { say "missing: $tool"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "imageapi's containers need root"; exit 1; }
mkdir -p "$WORK/rootfs"
say "work directory: $WORK (toolchain $GOTOOLCHAIN)"

declare -A RES
for side in gofork nsfork; do
	if [ -n "${REUSE:-}" ] && [ -x "$WORK/tester-$side" ] && [ -x "$WORK/imageapi-$side" ]; then
		continue # REUSE=1: the binaries of an earlier run in WORK
	fi
	say "building Kraken and its app against $side"
	build_kraken "$side"
	say "building imageapi against $side"
	build_imageapi "$side"
done
say "go line after the swap: kraken $(go mod edit -json "$WORK/src-kraken-nsfork/go.mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])'), imageapi $(go mod edit -json "$WORK/src-imageapi-nsfork/go.mod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
for side in gofork nsfork; do
	say "running Kraken ($side)"
	while IFS='=' read -r k v; do RES["kraken $k,$side"]=$v; done < <(kraken_run "$side")
	say "running imageapi ($side)"
	while IFS='=' read -r k v; do RES["imageapi $k,$side"]=$v; done < <(imageapi_run "$side")
done

echo "| scenario | go-fork v0.1.1 | nsfork ($NSFORK_PKG) | same |"
echo "|---|---|---|---|"
for key in "kraken restapi" "kraken comm" "kraken websocket RUN" "kraken websocket STOP" \
	"kraken websocket RUN again" "kraken restarted" "kraken websocket after kill -9" \
	"imageapi init exits 0" "imageapi init sleeps 1 s, exits 0" "imageapi init exits 1" \
	"imageapi init stopped through the API" "imageapi init stdin"; do
	g=${RES["$key,gofork"]:-} n=${RES["$key,nsfork"]:-}
	same=yes
	case $key in
	"kraken comm") [ "${g%% *}" -gt 1 ] && [ "${n%% *}" -gt 1 ] || same=no ;; # names differ by design
	"kraken restarted") [ "${g%% *}" = yes ] && [ "${n%% *}" = yes ] || same=no ;;
	"kraken restapi") [ "${g%% (*}" = "${n%% (*}" ] || same=no ;; # the state is shown only
	"imageapi init stdin") ;; # go-fork's is whatever took the closed fd 0: reported, not compared
	*) [ "$g" = "$n" ] || same=no ;;
	esac
	[ "$same" = yes ] || FAILED=1
	row "$key" "$g" "$n" "$same"
done
exit $FAILED
