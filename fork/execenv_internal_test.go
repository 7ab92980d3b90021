package fork

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/sandbox"
)

func init() {
	RegisterFunc("envSeen", func() (string, string, string, int) {
		// /proc/self/environ is the block the exec was given; the
		// environment Go reports is the one the process has now.
		b, _ := os.ReadFile("/proc/self/environ")
		return strings.ReplaceAll(string(b), "\x00", "\n"), os.Getenv("NSFORK_T_ADDED"), os.Getenv("LD_PRELOAD"), runtime.GOMAXPROCS(0)
	})
}

// TestExecEnvNotSandboxEnv: what the sandbox's options add to the
// environment (an OCI image's process.env) reaches the function, but not
// the child's exec of this program, which runs before the setup, on the
// host's file system and with the caller's ids, where the dynamic loader
// acts on it (LD_PRELOAD). The Go runtime's own settings come along; with
// ClearEnv nothing of the caller's does either.
func TestExecEnvNotSandboxEnv(t *testing.T) {
	t.Setenv("NSFORK_T_CALLER", "kept")
	for _, clear := range []bool{false, true} {
		o := sandbox.Default()
		o.ClearEnv = clear
		o.Env = append(o.Env, "NSFORK_T_ADDED=1", "LD_PRELOAD=/nonexistent/nsfork-t.so", "GOMAXPROCS=3")
		p, err := new(Config).Start(context.Background(), "envSeen", o)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		r := p.Results()
		execBlock, added, preload, procs := r[0].(string), r[1].(string), r[2].(string), r[3].(int)
		if added != "1" || preload != "/nonexistent/nsfork-t.so" {
			t.Errorf("ClearEnv %v: the function's environment lacks the options' variables: NSFORK_T_ADDED=%q LD_PRELOAD=%q", clear, added, preload)
		}
		for _, v := range []string{"NSFORK_T_ADDED=", "LD_PRELOAD="} {
			if strings.Contains(execBlock, v) {
				t.Errorf("ClearEnv %v: the exec of the launcher's child was given %s...:\n%s", clear, v, execBlock)
			}
		}
		if !strings.Contains(execBlock, "GOMAXPROCS=3") || procs != 3 {
			t.Errorf("ClearEnv %v: GOMAXPROCS=3 of the options: exec block has it %v, the function's runtime has %d procs", clear, strings.Contains(execBlock, "GOMAXPROCS=3"), procs)
		}
		if got := strings.Contains(execBlock, "NSFORK_T_CALLER=kept"); got == clear {
			t.Errorf("ClearEnv %v: the caller's variable in the exec block: %v", clear, got)
		}
	}
}
