package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nestedOverflowChain is host root's id reaching the overflow id two user
// namespaces deep: the first maps the caller's ids to 1000, the second
// maps 1000 to 65534, so the second namespace's own uid_map reads
// "65534 1000 1" and the owner of its namespace file (host root) shows as
// 65534, the id every unmapped owner shows as.
func nestedOverflowChain(cred *syscall.Credential, args ...string) (string, string, int, error) {
	cmd := exec.Command("unshare", append([]string{"--map-user=1000", "--map-group=1000", "unshare", "--map-user=65534", "--map-group=65534"}, args...)...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode(), nil
	}
	return out.String(), errb.String(), 0, err
}

// TestHostRootNested: as host root, the nested chain's control cat reads a
// root-owned 0600 file, and sandboxrun refuses (exit 125, host uid 0,
// --host-root); as uid 1000 with host gid 0 the control reads a root:root
// 0640 file and sandboxrun refuses naming host gid 0. As uid 65534 the
// chain's uid is not taken for host root's.
func TestHostRootNested(t *testing.T) {
	needUnshare(t)
	bin := sandboxrunBin(t)
	if !root() {
		out, errs, code, err := nestedOverflowChain(nil, bin, "--", "cat", "/etc/shadow")
		if err != nil || strings.Contains(errs, "host uid 0") || strings.Contains(out, "root:") {
			t.Errorf("uid 65534, nested: sandboxrun -- cat /etc/shadow: exit %d %q %q %v: want no refusal naming host uid 0 (the overflow id is 65534's own)", code, out, errs, err)
		}
		return
	}
	dir := tempDir(t)
	cases := []struct {
		name, want string
		cred       *syscall.Credential
		mode       os.FileMode
	}{
		{"host root", "host uid 0", nil, 0o600},
		{"uid 1000 with host gid 0", "host gid 0", &syscall.Credential{Uid: 1000, Gid: 0, Groups: []uint32{}}, 0o640},
	}
	for i, c := range cases {
		file := filepath.Join(dir, fmt.Sprintf("secret%d", i))
		secret := fmt.Sprintf("nsfork nested secret %d %d\n", i, os.Getpid())
		if err := os.WriteFile(file, []byte(secret), c.mode); err != nil {
			t.Fatal(err)
		}
		if out, errs, code, err := nestedOverflowChain(c.cred, "cat", file); err != nil || code != 0 || out != secret {
			t.Fatalf("%s: control: nested cat %s: exit %d %q %q %v, want the secret: the attack does not work here", c.name, file, code, out, errs, err)
		}
		for _, args := range [][]string{{}, {"--share", "user"}} {
			out, errs, code, err := nestedOverflowChain(c.cred, append(append([]string{bin}, args...), "--", "cat", file)...)
			if err != nil || code != 125 || strings.Contains(out, secret) || !strings.Contains(errs, c.want) || !strings.Contains(errs, "--host-root") {
				t.Errorf("%s: nested sandboxrun %v -- cat %s: exit %d, stdout %q, stderr %q, %v: want exit 125 naming %s and --host-root", c.name, args, file, code, out, errs, err, c.want)
			}
		}
	}
}
