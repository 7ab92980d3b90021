package fork

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// The child's report is checked when it arrives and decoded when asked
// for: a report that is not JSON, or not a report, is a protocol error
// either way.
func TestAppliedDecodedWhenAsked(t *testing.T) {
	want := sandbox.Applied{Namespaces: map[string]string{"pid": "pid:[4026532000]"}, NoNewPrivileges: true}
	b, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{}
	p.take(wire.KindApplied, b)
	b[0] = 'x' // the frame's buffer is not kept
	a := p.Applied()
	if a == nil || !a.NoNewPrivileges || a.Namespaces["pid"] != "pid:[4026532000]" {
		t.Fatalf("Applied() = %+v, want %+v", a, want)
	}
	if p.Applied() != a || p.childErr != nil {
		t.Fatal("a second Applied() decoded again, or the report was taken for an error")
	}

	for _, bad := range []string{"{not json", `{"namespaces": 5}`} {
		p := &Process{}
		p.take(wire.KindApplied, []byte(bad))
		if a := p.Applied(); a != nil {
			t.Errorf("%s: Applied() = %+v", bad, a)
		}
		var pe *ProtocolError
		if !errors.As(p.childErr, &pe) {
			t.Errorf("%s: child error %v, want a protocol error", bad, p.childErr)
		}
	}
}
