package jobns

import (
	"slices"
	"syscall"
	"testing"

	"github.com/nsfork/nsfork/internal/earlysig"
)

// A rank gets the signals a sandboxrun launch forwards, no more, no fewer.
func TestRelayedIsForwarded(t *testing.T) {
	if len(Relayed) != len(earlysig.Forwarded) {
		t.Fatalf("Relayed %v, sandboxrun forwards %v", Relayed, earlysig.Forwarded)
	}
	for _, s := range earlysig.Forwarded {
		if !slices.Contains(Relayed, s.(syscall.Signal)) {
			t.Errorf("%v is forwarded but not relayed to a rank", s)
		}
	}
}
