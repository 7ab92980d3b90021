package fork_test

import (
	"context"
	"testing"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// TestDeprecatedStarts: the names deprecated for (*Config).Start keep
// working, with its meaning. (staticcheck does not flag a package's own
// deprecated names in its tests.)
func TestDeprecatedStarts(t *testing.T) {
	starts := map[string]func() (*fork.Process, error){
		"Start":        func() (*fork.Process, error) { return fork.Start("add", 40, 2) },
		"ForkIsolated": func() (*fork.Process, error) { return fork.ForkIsolated("add", sandbox.Default(), 40, 2) },
		"ForkIsolatedContext": func() (*fork.Process, error) {
			return fork.ForkIsolatedContext(context.Background(), "add", sandbox.Default(), 40, 2)
		},
	}
	for name, start := range starts {
		p, err := start()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := p.Wait(); err != nil || p.Results()[0] != 42 {
			t.Errorf("%s: %v %v, want 42", name, p.Results(), err)
		}
		if isolated := p.Applied() != nil; isolated != (name != "Start") {
			t.Errorf("%s: report of the applied sandbox %v", name, p.Applied())
		}
	}
}
