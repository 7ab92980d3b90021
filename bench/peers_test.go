package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
	"github.com/nsfork/nsfork/seccomp"
)

// Rows for issues 5, 6 and 9: sandboxrun against bwrap, unshare, crun and
// runc for the same isolation, each running busybox-static's true; a warm
// pool against a cold ForkIsolated; a busybox rootfs against none.

const keyBwrap = "bwrap"

// rootfsDir builds, once, a directory holding a static busybox as
// /bin/busybox, for the rootfs and OCI-bundle rows.
var rootfsOnce struct {
	sync.Once
	dir, why string
}

func busyboxRootfs() (string, string) {
	rootfsOnce.Do(func() {
		bb, err := exec.LookPath("busybox")
		if err != nil || !isStatic(bb) {
			rootfsOnce.why = "no static busybox (Debian: busybox-static)"
			return
		}
		dir, err := os.MkdirTemp("", "nsfork-bench-rootfs-")
		if err != nil {
			rootfsOnce.why = err.Error()
			return
		}
		os.Chmod(dir, 0o755)
		for _, d := range []string{"bin", "proc", "dev", "tmp"} {
			os.MkdirAll(filepath.Join(dir, d), 0o755)
		}
		data, err := os.ReadFile(bb)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755)
		}
		if err != nil {
			rootfsOnce.why = err.Error()
			return
		}
		rootfsOnce.dir = dir
	})
	return rootfsOnce.dir, rootfsOnce.why
}

// sandboxrunBinary is $NSFORK_SANDBOXRUN, or one built now.
var sbrOnce struct {
	sync.Once
	path, why string
}

func sandboxrunBinary() (string, string) {
	sbrOnce.Do(func() {
		if p := os.Getenv("NSFORK_SANDBOXRUN"); p != "" {
			sbrOnce.path = p
			return
		}
		dir, err := os.MkdirTemp("", "nsfork-bench-sbr-")
		if err != nil {
			sbrOnce.why = err.Error()
			return
		}
		os.Chmod(dir, 0o755)
		out := filepath.Join(dir, "sandboxrun")
		if b, err := exec.Command("go", "build", "-o", out, "github.com/nsfork/nsfork/cmd/sandboxrun").CombinedOutput(); err != nil {
			sbrOnce.why = fmt.Sprintf("go build sandboxrun: %v: %s", err, b)
			return
		}
		sbrOnce.path = out
	})
	return sbrOnce.path, sbrOnce.why
}

// ociBundle writes a bundle whose process runs busybox true with a
// read-only root, /proc and /dev, in the namespaces of `runc spec`
// (pid, network, ipc, uts, mount; --rootless adds user).
func ociBundle(rootless bool) (string, string) {
	rootfs, why := busyboxRootfs()
	if why != "" {
		return "", why
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return "", "runc not found (Debian: runc), needed for `runc spec`"
	}
	dir, err := os.MkdirTemp("", "nsfork-bench-bundle-")
	if err != nil {
		return "", err.Error()
	}
	os.Chmod(dir, 0o755)
	args := []string{"spec"}
	if rootless {
		args = append(args, "--rootless")
	}
	c := exec.Command(runc, args...)
	c.Dir = dir
	if b, err := c.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("runc spec: %v: %s", err, b)
	}
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		return "", err.Error()
	}
	s.Root = &specs.Root{Path: rootfs, Readonly: true}
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/busybox", "true"}
	b, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	return dir, ""
}

var ctrSeq atomic.Int64

func ociRun(tool, bundle string) func() error {
	state, _ := os.MkdirTemp("", "nsfork-bench-state-")
	return func() error {
		id := "nsfork-bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(ctrSeq.Add(1), 10)
		out, err := exec.Command(tool, "--root", state, "run", "-b", bundle, id).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}

func addPeerRows(add func(*row), floor string, floorArgs []string) {
	bbArgs := append([]string{floor}, floorArgs...)
	// bwrap: the reference for the CLI rows.
	bw := &row{key: keyBwrap, label: "`bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc busybox true`"}
	if p, err := exec.LookPath("bwrap"); err != nil {
		bw.skip = "bwrap not found (Debian: bubblewrap)"
	} else {
		bw.run = execRun(p, append([]string{"--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"}, bbArgs...)...)
	}
	add(bw)

	sbr, why := sandboxrunBinary()
	cli := &row{key: "sandboxrun", label: "`sandboxrun --unshare-net --read-only --proc --dev -- busybox true` (defaults: + no caps, no_new_privs, Docker seccomp)", base: keyBwrap, maxRatio: 0.75, skip: why}
	cli.run = execRun(sbr, append([]string{"--unshare-net", "--read-only", "--proc", "--dev", "--"}, bbArgs...)...)
	add(cli)
	addWarmRow(add, cli, sbr, append([]string{"--unshare-net", "--read-only", "--proc", "--dev", "--"}, bbArgs...))
	un := &row{key: "unshare-cli", label: "`unshare -Urpmuin -f busybox true`", base: keyBwrap}
	if p, err := exec.LookPath("unshare"); err != nil {
		un.skip = "unshare not found"
	} else {
		un.run = execRun(p, append([]string{"-Urpmuin", "-f"}, bbArgs...)...)
	}
	add(un)
	add(&row{key: "sandboxrun-vs-unshare", label: "sandboxrun (same row) against unshare(1)", run: cli.run, base: "unshare-cli", maxRatio: 1.3, skip: cli.skip})

	rootless := os.Geteuid() != 0
	bundle, bwhy := ociBundle(rootless)
	for _, tool := range []string{"crun", "runc"} {
		r := &row{key: tool, label: fmt.Sprintf("`%s run` of an equivalent bundle (busybox true)", tool), base: "sandboxrun"}
		p, err := exec.LookPath(tool)
		switch {
		case err != nil:
			r.skip = tool + " not found (Debian: " + tool + ")"
		case bwhy != "":
			r.skip = bwhy
		default:
			r.run = ociRun(p, bundle)
		}
		add(r)
	}
	add(&row{key: "sandboxrun-vs-crun", label: "sandboxrun (same row) against crun", run: cli.run, base: "crun", maxRatio: 0.5, skip: cli.skip})
	add(&row{key: "sandboxrun-vs-runc", label: "sandboxrun (same row) against runc", run: cli.run, base: "runc", maxRatio: 0.15, skip: cli.skip})
}

// Pool rows: a warm pool's call (Start returns once the function runs)
// and its full round trip, against a cold ForkIsolated of the same preset.
var poolOnce struct {
	sync.Once
	pool *fork.Pool
	err  error
}

func benchPool() (*fork.Pool, error) {
	poolOnce.Do(func() { poolOnce.pool, poolOnce.err = fork.NewPool(sandbox.Default(), 4) })
	return poolOnce.pool, poolOnce.err
}

func addPoolRows(add func(*row)) {
	cold := &row{key: "forkisolated-default", label: "fork: ForkIsolated(sandbox.Default()) + Wait (cold)", run: isolatedRun(sandbox.Default())}
	// Pool.Call's floor: a Go child started ahead from an in-memory copy
	// of this binary, as a pooled child is, idle a round, serving one call
	// in nsfork's wire format and exiting (freshRPC), with no sandbox and
	// no setup. Before the cold row, not after the pool's rows, whose
	// refills run then; its own replacement starts untimed, before the
	// next row.
	fresh := &freshRPC{o: peerOpts{memfd: true}}
	add(&row{key: "rpc-fresh", label: "RPC peer: a fresh Go child started ahead from memory, idle, one call (Pool.Call's floor)", base: cold.key, timed: fresh.call, run: func() error {
		_, err := fresh.call()
		return err
	}})
	add(cold)
	// The same with Docker's default seccomp profile (what sandboxrun
	// loads by default; the presets load none).
	sc := &row{key: "forkisolated-default-seccomp", label: "fork: ForkIsolated(sandbox.Default() + Docker's default seccomp profile) + Wait", base: cold.key}
	if prof, err := seccomp.DefaultProfile(nil, runtime.GOARCH); err != nil {
		sc.skip = "seccomp.DefaultProfile: " + err.Error()
	} else {
		o := sandbox.Default()
		o.Seccomp = prof
		sc.run = isolatedRun(o)
	}
	add(sc)
	skip := ""
	if _, err := benchPool(); err != nil {
		skip = "NewPool: " + err.Error()
	}
	add(&row{key: "pool-call-result", label: "fork: Pool.Call, call to result (warm, Default preset)", base: cold.key, maxRatio: 0.05, skip: skip, run: func() error {
		pool, _ := benchPool()
		res, err := pool.Call(context.Background(), "noop")
		if err == nil && len(res) != 0 {
			err = fmt.Errorf("noop returned %v", res)
		}
		return err
	}})
	add(&row{key: "pool-roundtrip", label: "fork: Pool.Start + Wait (warm, the child's exit and pid namespace included)", base: cold.key, skip: skip, run: func() error {
		pool, _ := benchPool()
		p, err := pool.Start(context.Background(), "noop")
		if err != nil {
			return err
		}
		return p.Wait()
	}})
	add(&row{key: "pool-call", label: "fork: Pool.Start until the function runs", base: cold.key, maxP50: 100 * time.Microsecond, skip: skip, run: func() error {
		pool, _ := benchPool()
		p, err := pool.Start(context.Background(), "noop")
		if err != nil {
			return err
		}
		go p.Wait()
		return nil
	}})
}

// addRootfsRows: the launch time with a busybox rootfs (pivot_root, /proc,
// minimal /dev, default masks) against the same preset without.
func addRootfsRows(add func(*row)) {
	dir, why := busyboxRootfs()
	base := &row{key: "forkisolated-norootfs", label: "fork: ForkIsolated(Default()) running `busybox true`, host root", run: commandRun(sandbox.Default(), why)}
	add(base)
	o := sandbox.Default()
	o.Root = &specs.Root{Path: dir, Readonly: true}
	o.Mounts = []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
	}
	add(&row{key: "forkisolated-rootfs", label: "fork: the same in a read-only busybox rootfs with /proc and /dev", run: commandRun(o, why), base: base.key, skip: why})
}

func commandRun(o *sandbox.Options, why string) func() error {
	if why != "" {
		return nil
	}
	bin := "/bin/busybox"
	if o.Root == nil {
		bin, _ = exec.LookPath("busybox")
	}
	return func() error {
		p, err := (&fork.Config{}).StartCommand(context.Background(), o, bin, "true")
		if err != nil {
			return err
		}
		return p.Wait()
	}
}
