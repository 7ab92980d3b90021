package fork

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// forgeApplied plays a hostile function: it writes a report of applied
// settings of its own on every socket it holds (the channel to the parent
// among them) after its setup reported the genuine one.
func forgeApplied(payload string) int {
	var b bytesWriter
	wire.WriteFrame(&b, wire.KindApplied, []byte(payload))
	ents, _ := os.ReadDir("/proc/self/fd")
	sent := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); len(l) > 7 && l[:7] == "socket:" {
			if _, err := unix.Write(fd, b); err == nil {
				sent++
			}
		}
	}
	return sent
}

func init() { RegisterFunc("forgeApplied", forgeApplied) }

// A function runs after its setup sent the report of what it applied: a
// report it sends itself is not the setup's. It is refused (a protocol
// error) and the genuine report stays, whether it decodes as a report or
// only as JSON.
func TestAppliedNotForgedByFunction(t *testing.T) {
	opts := sandbox.Default()
	if os.Geteuid() != 0 {
		opts = sandbox.Rootless()
	}
	for _, forged := range []string{
		`{"noNewPrivileges":false,"seccomp":{"instructions":1,"digest":"forged"}}`,
		`{"namespaces": 5}`,
	} {
		p, err := ForkIsolated("forgeApplied", opts, forged)
		if err != nil {
			t.Fatal(err)
		}
		werr := p.Wait()
		if r := p.Results(); len(r) != 1 || r[0].(int) < 1 {
			t.Fatalf("%s: the function reached no socket (results %v, %v)", forged, r, werr)
		}
		var pe *ProtocolError
		if !errors.As(werr, &pe) {
			t.Errorf("%s: Wait() = %v, want a protocol error for the function's report", forged, werr)
		}
		a := p.Applied()
		if a == nil || a.Seccomp == nil || a.Seccomp.Digest == "forged" || !a.NoNewPrivileges {
			t.Errorf("%s: Applied() = %+v, want the setup's report", forged, a)
		}
	}
}
