package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRedteamOCIForeignRoot: a state directory someone else can write (as
// root: another user's; as anyone: one open to every user) is refused by
// the commands that act on containers. Before, whoever could write it
// planted a state.json whose poststop hook `delete --force` ran with the
// caller's privileges (and whose pids kill signalled).
func TestRedteamOCIForeignRoot(t *testing.T) {
	bin := sandboxrunBin(t)
	base := tempDir(t)
	mark := filepath.Join(base, "hook-ran")
	dirs := map[string]func(string) error{
		"open to all": func(d string) error { return os.Chmod(d, 0o777) },
	}
	if root() {
		dirs["another user's"] = func(d string) error { return os.Chown(d, 65534, 65534) }
	}
	i := 0
	for name, prepare := range dirs {
		i++
		state := filepath.Join(base, fmt.Sprintf("state%d", i))
		id := "planted"
		if err := os.MkdirAll(filepath.Join(state, id), 0o755); err != nil {
			t.Fatal(err)
		}
		rec := fmt.Sprintf(`{"id":%q,"bundle":"/","init":{"pid":0,"start":0},"monitor":{"pid":0,"start":0},`+
			`"hooks":{"poststop":[{"path":"/bin/sh","args":["sh","-c","echo > %s"]}]}}`, id, mark)
		if err := os.WriteFile(filepath.Join(state, id, "state.json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := prepare(state); err != nil {
			t.Fatal(err)
		}
		for _, verb := range [][]string{{"delete", "--force", id}, {"kill", id, "KILL"}, {"start", id}} {
			out, err := exec.Command(bin, append([]string{"--root", state}, verb...)...).CombinedOutput()
			if _, serr := os.Stat(mark); serr == nil {
				t.Fatalf("%s state directory: `%v` ran the planted record's hook (output %q)", name, verb, out)
			}
			if err == nil {
				t.Errorf("%s state directory: `%v` succeeded, want a refusal (output %q)", name, verb, out)
			}
		}
		// Reading it stays possible for its owner's records (list exits 0).
		if out, err := exec.Command(bin, "--root", state, "list", "--quiet").CombinedOutput(); err != nil {
			t.Errorf("%s state directory: list: %v (%q)", name, err, out)
		}
	}
}
