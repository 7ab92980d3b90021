package fork

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// The helper parent: started by TestParentDeath as a separate process, it
// starts a sandboxed child, prints the pids to watch, and waits to be killed.
func init() {
	RegisterFunc("pdGrandchild", func() error {
		c := exec.Command("/bin/sleep", "300")
		if err := c.Start(); err != nil {
			return err
		}
		fmt.Println("grandchild started")
		time.Sleep(300 * time.Second)
		return nil
	})
}

func TestParentDeathHelper(t *testing.T) {
	stage := os.Getenv("NSFORK_PD_STAGE")
	if stage == "" {
		t.Skip("helper process for TestParentDeath")
	}
	opts := sandbox.Default()
	if stage == "before-request" || stage == "after-uid-change" || stage == "keepalive-before-maps" {
		testHookAfterStart = func(pid int) {
			fmt.Printf("child %d\n", pid)
			if stage == "keepalive-before-maps" {
				// Still without its maps: the start without a fork.
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
				fmt.Printf("uid_map %q %v\n", b, err)
			}
			if stage == "before-request" || stage == "keepalive-before-maps" {
				fmt.Println("ready")
				time.Sleep(300 * time.Second)
			}
		}
	}
	if stage == "after-uid-change" {
		opts.WithNamespaces(specs.UserNamespace)
		if os.Geteuid() == 0 {
			opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
			opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 300000, Size: 65536}}
		} else {
			opts.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65535}}
			opts.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65535}}
		}
		opts.User = specs.User{UID: 1000, GID: 1000}
	}
	p, err := (&Config{KeepAlive: stage == "keepalive-before-maps"}).Start(context.Background(), "pdGrandchild", opts)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if stage == "running" {
		fmt.Printf("child %d\n", p.Pid)
	}
	time.Sleep(300 * time.Second)
}

// TestParentDeath: SIGKILL of the parent at each stage leaves nothing of
// the sandbox running within a second. keepalive-before-maps (red team):
// with Config.KeepAlive (no parent-death signal) a child started without
// a fork, killed parent before its id maps, is no sandbox at all yet (a
// root caller's child still has host root's uid, unmapped, with every
// capability of its namespace): it must end with its channel, not live
// on.
func TestParentDeath(t *testing.T) {
	for _, stage := range []string{"before-request", "running", "after-uid-change", "keepalive-before-maps"} {
		t.Run(stage, func(t *testing.T) {
			if stage == "after-uid-change" && os.Geteuid() != 0 {
				needSubIDMaps(t, 100000, 65535)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestParentDeathHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "NSFORK_PD_STAGE="+stage)
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A failure before the kill below must not wait out the
			// helper's sleep.
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			sc := bufio.NewScanner(out)
			var pids []int
			deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			seen := false
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 2 && f[0] == "child" {
					n, _ := strconv.Atoi(f[1])
					pids = append(pids, n)
				}
				if f[0] == "error" {
					t.Fatalf("helper: %s", sc.Text())
				}
				if f[0] == "uid_map" && f[1] != `""` {
					t.Fatalf("helper: the child had its maps before the parent's steps (%s): not the start without a fork", sc.Text())
				}
				if f[0] == "ready" || f[0] == "grandchild" {
					seen = true
				}
				if seen && len(pids) == 1 {
					break
				}
			}
			if len(pids) != 1 {
				t.Fatalf("helper printed %v", pids)
			}
			// The grandchild, seen from here through the host's /proc.
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pids[0]))
			for _, tk := range tasks {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pids[0], tk.Name()))
				for _, f := range strings.Fields(string(b)) {
					n, _ := strconv.Atoi(f)
					pids = append(pids, n)
				}
			}
			if stage != "before-request" && stage != "keepalive-before-maps" && len(pids) < 2 {
				t.Fatalf("no grandchild found under %d", pids[0])
			}
			cmd.Process.Kill()
			cmd.Wait()
			end := time.Now().Add(time.Second)
			for _, pid := range pids {
				for alive(pid) {
					if time.Now().After(end) {
						t.Fatalf("pid %d still alive 1s after the parent's SIGKILL", pid)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// needSubIDMaps: a rootless map of host ids [start, start+size) needs
// newuidmap, newgidmap and subordinate ids covering them for this user
// (.ci/run installs uidmap and grants nobody 100000:65536).
func needSubIDMaps(t *testing.T, start, size uint32) {
	t.Helper()
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		_, err := exec.LookPath(tool)
		testreq.Need(t, err == nil, "%s (Debian package uidmap): %v", tool, err)
	}
	name, who := "", strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(who); err == nil {
		name, who = u.Username, u.Username
	}
	for _, file := range []string{sandbox.SubUIDFile, sandbox.SubGIDFile} {
		ranges, err := sandbox.LookupSubIDs(name, os.Geteuid(), file)
		covered := false
		for _, r := range ranges {
			covered = covered || (r.Start <= start && uint64(r.Start)+uint64(r.Size) >= uint64(start)+uint64(size))
		}
		testreq.Need(t, err == nil && covered, "%s granting %s the ids %d-%d (it grants %v, err %v; add e.g. %s:%d:%d)",
			file, who, start, start+size-1, ranges, err, who, start, size)
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || !strings.HasPrefix(s[i+2:], "Z")
}
