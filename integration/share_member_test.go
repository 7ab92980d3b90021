package integration

// A job namespace set belongs to its job: a rank that starts a second
// sandboxrun --share-ns of its own job from inside is refused, and what it
// leaves behind keeps neither the holder nor itself alive once the last
// launcher outside has left.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestShareNSInsiderRefused(t *testing.T) {
	e := shareSetup(t)
	name := fmt.Sprintf("insider%d", os.Getpid())
	// A number no other sleep on the machine has: the left-behind member.
	secs := strconv.Itoa(90000 + os.Getpid()%10000)
	// The rank sees the rendezvous and a copy of sandboxrun in e.dir, its
	// working directory, bound at its host path.
	bin := filepath.Join(e.dir, "sandboxrun-insider")
	b, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	binds := []string{"--ro-bind", e.dir}
	inner := bin + " --share-ns " + name + " " + strings.Join(binds, " ") + " -- sleep " + secs
	script := `out=$(timeout 20 ` + inner + ` </dev/null 2>&1); echo "inner exit $? $out"
setsid ` + inner + ` </dev/null >/dev/null 2>&1 &
sleep 1`
	start := time.Now()
	r := e.run(t, nil, append(append([]string{"--share-ns", name}, binds...), "--", "/bin/sh", "-c", script)...)
	left := time.Now()
	t.Logf("rank: exit %d after %v; stdout %q stderr %q", r.code, left.Sub(start), r.out, r.err)
	if r.code != 0 {
		t.Fatalf("the rank failed: exit %d, stderr %q", r.code, r.err)
	}
	line := strings.TrimSpace(r.out)
	if !strings.HasPrefix(line, "inner exit ") || strings.HasPrefix(line, "inner exit 0") || strings.HasPrefix(line, "inner exit 124") {
		t.Errorf("a sandboxrun --share-ns %s started inside the job was not refused: %q", name, line)
	}
	// Rootless, the rank reaches the job's rendezvous and the holder
	// refuses it; as root the rank runs as a leased uid to which root's
	// rendezvous directory belongs to nobody, and it does not get so far.
	if !root() && !strings.Contains(line, "the caller runs inside the job's own pid namespace") {
		t.Errorf("the refusal does not say why: %q", line)
	}
	// The holder, and the member left behind inside, end within about a
	// second of the last launcher outside.
	holderGone := waitUntil(10*time.Second, func() bool { return pgrepCount("nsfork-jobns-holder "+name) == 0 })
	took := time.Since(left)
	if !holderGone {
		t.Fatalf("the holder of %s outlived its last member by 10 s", name)
	}
	t.Logf("holder gone %v after the last launcher outside left", took)
	if took > 5*time.Second {
		t.Errorf("the holder of %s lived %v after its last member, want about a second", name, took)
	}
	if !waitUntil(5*time.Second, func() bool { return len(scanCmdline("sleep\x00"+secs+"\x00")) == 0 }) {
		t.Errorf("the sleep %s started from inside outlived the job", secs)
	}
}
