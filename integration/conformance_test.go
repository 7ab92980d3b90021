package integration

// The OCI conformance suite: bundles made by `runc spec` (as root) or
// `runc spec --rootless` (as a user), and variations of them, run through
// `sandboxrun run --bundle` and through runc and crun where they can run
// on this host. A static probe (testdata/conformance/probe) prints what the
// process sees; every line that differs between sandboxrun and a peer must
// be listed, with its reason, in testdata/conformance/allowlist.txt, and
// every entry there must still match a difference. See docs/oci.md,
// "Conformance suite".

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

// confPaths are the paths the probe describes in every bundle: runc
// spec's masked and read-only paths and the variations' own.
var confPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	"/proc/cpuinfo", "/data", "/data/secret", "/data/sub", "/data-rw", "/data-rw/ro",
	"/tmp", "/etc", "/etc/conf-file", "/sys/fs/cgroup",
}

// confBundle is one variation of runc spec's config.
type confBundle struct {
	name string
	// edit changes the generic JSON of config.json; dir is the bundle.
	edit func(t *testing.T, dir string, spec map[string]any)
}

// confRun is what one runtime showed in one bundle: the probe's lines, and
// "run" = "ok" or why the runtime did not start it.
type confRun map[string]string

// confDiff is one line that differs between sandboxrun and a peer.
type confDiff struct {
	bundle, peer, key string
	nsfork, other     string
}

// TestConformance runs every bundle through sandboxrun and the peers that
// can run here and checks the differences against the allowlist.
func TestConformance(t *testing.T) {
	mode := "rootless"
	if root() {
		mode = "root"
	}
	allow := readAllowlist(t)
	probe := buildProbe(t)
	peers := conformancePeers(t)
	hostNS := hostNamespaces(t)
	start := time.Now()

	var mu sync.Mutex
	var diffs []confDiff
	fields := 0
	t.Run("bundles", func(t *testing.T) {
		for _, b := range confBundles(mode) {
			t.Run(b.name, func(t *testing.T) {
				t.Parallel()
				dir := conformanceBundle(t, probe, hostNS, b)
				runs := map[string]confRun{"nsfork": runSandboxrunProbe(t, dir)}
				for _, p := range peers {
					runs[p] = runPeerProbe(t, p, dir, b.name)
				}
				dumpRuns(t, mode, b.name, runs)
				mu.Lock()
				defer mu.Unlock()
				for _, p := range peers {
					d, n := compareRuns(b.name, p, runs["nsfork"], runs[p])
					diffs = append(diffs, d...)
					fields += n
				}
			})
		}
	})
	if t.Failed() {
		return
	}

	used := make([]bool, len(allow))
	var unlisted []string
	for _, d := range diffs {
		i := matchAllow(allow, mode, d)
		if i < 0 {
			unlisted = append(unlisted, fmt.Sprintf("%s %s %s %s\n\tnsfork: %q\n\t%s: %q", mode, d.bundle, d.peer, d.key, d.nsfork, d.peer, d.other))
			continue
		}
		used[i] = true
	}
	for _, u := range unlisted {
		t.Errorf("a difference not in testdata/conformance/allowlist.txt (fix it, or list it with its reason): %s", u)
	}
	listed := 0
	for i, a := range allow {
		if !a.applies(mode, peers) {
			continue
		}
		listed++
		if !used[i] {
			t.Errorf("allowlist.txt:%d %q no longer differs: remove it", a.line, a.text)
		}
	}
	t.Logf("%s: %d bundles, peers %v, %d fields compared, %d differences, taken by %d allowlist entries, %s",
		mode, len(confBundles(mode)), peers, fields, len(diffs), listed, time.Since(start).Round(time.Millisecond))
}

// cgroupName matches the names runtimes give a container's cgroup: the
// suite's container ids and cgroupsPath (runc) and nsfork's own.
var cgroupName = regexp.MustCompile(`nsfconf-[a-z]+-[0-9]+|nsfork-[0-9]+-[0-9a-f]+`)

// compareRuns lists the keys whose values differ; when either runtime did
// not start the probe, only the outcome is compared.
func compareRuns(bundle, peer string, ns, other confRun) ([]confDiff, int) {
	keys := map[string]bool{"run": true}
	if ns["run"] == "ok" && other["run"] == "ok" {
		for k := range ns {
			keys[k] = true
		}
		for k := range other {
			keys[k] = true
		}
	}
	var out []confDiff
	for k := range keys {
		a, aok := ns[k]
		b, bok := other[k]
		if !aok {
			a = "(absent)"
		}
		if !bok {
			b = "(absent)"
		}
		switch {
		case k == "run":
			a, _, _ = strings.Cut(a, ":")
			b, _, _ = strings.Cut(b, ":")
		case strings.HasPrefix(k, "cgroup:"):
			a, b = cgroupName.ReplaceAllString(a, "CGROUP"), cgroupName.ReplaceAllString(b, "CGROUP")
		}
		if a != b {
			out = append(out, confDiff{bundle, peer, k, a, b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, len(keys)
}

// buildProbe builds the probe static, into a directory everyone can read,
// or takes $NSFORK_CONFORMANCE_PROBE (scripts/check.sh builds it for the
// rootless suite, which cannot read root's module cache).
func buildProbe(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NSFORK_CONFORMANCE_PROBE"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	dir := tempDir(t)
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command(goTool(), "build", "-buildvcs=false", "-o", bin, "./integration/testdata/conformance/probe")
	cmd.Dir = filepath.Dir(filepath.Dir(file))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if home, err := os.UserHomeDir(); err != nil || unix.Access(home, unix.W_OK) != nil {
		// The rootless suite's HOME is not its own: a private build cache.
		cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(dir, "cache"), "GOMODCACHE="+filepath.Join(dir, "mod"), "GOFLAGS=-modcacherw")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the probe: %v: %s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, "mod")) })
	return bin
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// hostNamespaces is "NAME:INODE,..." of the test's own namespaces.
func hostNamespaces(t *testing.T) string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/ns")
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/ns/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		_, ino, _ := strings.Cut(l, ":")
		parts = append(parts, e.Name()+":"+ino)
	}
	return "--host-ns=" + strings.Join(parts, ",")
}

// conformanceBundle makes a runc spec bundle (--rootless unless root) with
// busybox, the probe as /probe and the variation's edit applied.
func conformanceBundle(t *testing.T, probe, hostNS string, b confBundle) string {
	t.Helper()
	dir := makeBundle(t)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"rootfs/work", "rootfs/data", "rootfs/data-rw", "rootfs/etc", "data/sub", "data-rw/ro"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, v := range map[string]string{"data/secret": "secret\n", "data-rw/file": "rw\n", "rootfs/etc/conf-file": "conf\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "probe"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	editConfig(t, dir, func(spec map[string]any) {
		p := jsonObj(spec, "process")
		p["terminal"] = false
		args := []any{"/probe", hostNS}
		for _, c := range confPaths {
			args = append(args, c)
		}
		p["args"] = args
		b.edit(t, dir, spec)
	})
	return dir
}

// runSandboxrunProbe runs the bundle's probe under sandboxrun.
func runSandboxrunProbe(t *testing.T, dir string) confRun {
	t.Helper()
	r := sbx(t, "", "run", "--bundle", dir)
	return probeResult(t, "sandboxrun", r.code, r.out, r.err)
}

// runPeerProbe runs the bundle's probe under runc or crun, with a state
// directory of the test's own.
func runPeerProbe(t *testing.T, peer, dir, name string) confRun {
	t.Helper()
	state := tempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := fmt.Sprintf("nsfconf-%s-%d", name, os.Getpid())
	cmd := exec.CommandContext(ctx, peer, "--root", filepath.Join(state, peer), "run", "--bundle", dir, id)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s run: %v", peer, err)
	}
	// A container left behind (a failed start) is removed with its cgroup.
	exec.Command(peer, "--root", filepath.Join(state, peer), "delete", "--force", id).Run()
	return probeResult(t, peer, code, o.String(), e.String())
}

// probeResult parses the probe's lines; a runtime that did not start it
// gives "run" = "refused: STDERR".
func probeResult(t *testing.T, who string, code int, out, errOut string) confRun {
	t.Helper()
	if code != 0 {
		if strings.Contains(out, "\nuid=") {
			t.Fatalf("%s: the probe ran but exited %d: %s %s", who, code, out, errOut)
		}
		return confRun{"run": "refused: " + strings.TrimSpace(errOut)}
	}
	r := confRun{"run": "ok"}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("%s: probe line %q", who, sc.Text())
		}
		r[k] = v
	}
	if r["uid"] == "" {
		t.Fatalf("%s: no probe output: %q %q", who, out, errOut)
	}
	return r
}

// conformancePeers are the runtimes to compare with: runc, which .ci/run
// installs, and crun where it can run on this host (crun 1.8 refuses a
// hybrid cgroup hierarchy whose cgroup2 tree has controllers: that is the
// host's layout, which the test must not change).
func conformancePeers(t *testing.T) []string {
	t.Helper()
	_, err := exec.LookPath("runc")
	testreq.Need(t, err == nil, "runc (Debian runc) is the conformance suite's peer")
	_, err = exec.LookPath("crun")
	testreq.Need(t, err == nil, "crun (Debian crun) is the conformance suite's peer")
	peers := []string{"runc"}
	dir := makeBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		p := jsonObj(spec, "process")
		p["terminal"] = false
		p["args"] = []any{"/bin/sh", "-c", "echo crun-ran"}
	})
	state := tempDir(t)
	out, err := exec.Command("crun", "--root", state, "run", "--bundle", dir, fmt.Sprintf("nsfconf-crun-%d", os.Getpid())).CombinedOutput()
	switch {
	case err == nil && strings.Contains(string(out), "crun-ran"):
		peers = append(peers, "crun")
	case strings.Contains(string(out), "hybrid mode not supported"):
		ctrl, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
		testreq.KernelLacks(t, "a cgroup hierarchy crun 1.8 can use (this host's is hybrid, with a controller on the cgroup2 tree)",
			fmt.Sprintf("crun: %q; /sys/fs/cgroup/unified/cgroup.controllers: %q", strings.TrimSpace(string(out)), strings.TrimSpace(string(ctrl))),
			"the runc peer of TestConformance")
	default:
		t.Fatalf("crun cannot run runc spec's bundle: %v: %s", err, out)
	}
	return peers
}

// allowEntry is one line of the allowlist: MODE BUNDLE PEER KEY REASON,
// where the first four are patterns (comma-separated alternatives, "*"
// matches any run of characters). The first entry that matches a
// difference takes it.
type allowEntry struct {
	mode, bundle, peer, key *regexp.Regexp
	text                    string
	line                    int
}

func (a allowEntry) applies(mode string, peers []string) bool {
	if !a.mode.MatchString(mode) {
		return false
	}
	for _, p := range peers {
		if a.peer.MatchString(p) {
			return true
		}
	}
	return false
}

func matchAllow(allow []allowEntry, mode string, d confDiff) int {
	for i, a := range allow {
		if a.mode.MatchString(mode) && a.bundle.MatchString(d.bundle) && a.peer.MatchString(d.peer) && a.key.MatchString(d.key) {
			return i
		}
	}
	return -1
}

// globRE turns "a*,b" (alternatives, "*" any run of characters) into a
// regular expression.
func globRE(g string) *regexp.Regexp {
	alts := strings.Split(g, ",")
	for i, a := range alts {
		parts := strings.Split(a, "*")
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		alts[i] = strings.Join(parts, ".*")
	}
	return regexp.MustCompile("^(?:" + strings.Join(alts, "|") + ")$")
}

// readAllowlist reads testdata/conformance/allowlist.txt: every entry needs
// its reason.
func readAllowlist(t *testing.T) []allowEntry {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "testdata", "conformance", "allowlist.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []allowEntry
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 5 {
			t.Fatalf("allowlist.txt:%d: want MODE BUNDLE PEER KEY REASON: %q", i+1, l)
		}
		out = append(out, allowEntry{
			mode: globRE(f[0]), bundle: globRE(f[1]), peer: globRE(f[2]), key: globRE(f[3]),
			text: strings.Join(f[:4], " "), line: i + 1,
		})
	}
	return out
}

// dumpRuns writes each runtime's probe lines to
// $NSFORK_CONFORMANCE_DUMP/MODE-BUNDLE-RUNTIME.txt when that is set, for
// diffing by hand.
func dumpRuns(t *testing.T, mode, bundle string, runs map[string]confRun) {
	dir := os.Getenv("NSFORK_CONFORMANCE_DUMP")
	if dir == "" {
		return
	}
	for who, r := range runs {
		var b strings.Builder
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, r[k])
		}
		if err := os.WriteFile(filepath.Join(dir, mode+"-"+bundle+"-"+who+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
