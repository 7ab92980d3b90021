// Package ociruntime keeps the state of containers run through sandboxrun's
// runc-compatible command line (create, start, state, kill, delete, ...):
// one directory per container id under a root directory, a lock that
// serialises the commands on one id, the record that lets another
// invocation find the container, and the status derived from the live
// processes rather than from what was last written.
//
// Layout of a root (default /run/nsfork as host root, $XDG_RUNTIME_DIR/nsfork
// otherwise):
//
//	ROOT/                 mode 0700
//	ROOT/ID/              mode 0700, made by create (mkdir: an id exists once)
//	ROOT/ID/state.json    the Record, replaced atomically (rename)
//	ROOT/ID/config.json   the bundle's config as the container was made from it
//	ROOT/ID/exec.fifo     exists while the container is "created": start
//	                      writes one byte to it, which releases the command
//
// The lock is a flock(2) on ROOT/ID itself, so nothing is left once delete
// removed the directory.
package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// Status values of the runtime-spec's state, and "creating".
const (
	StatusCreating = "creating"
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusStopped  = "stopped"
)

// File names inside a container's directory.
const (
	StateFile  = "state.json"
	ConfigFile = "config.json"
	FifoFile   = "exec.fifo"
)

// Record is what state.json holds: everything a later command needs to find
// and end the container.
type Record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Created     time.Time         `json:"created"`
	Owner       int               `json:"owner"` // uid of the creator
	// Init is the container's first process (its pid 1 in a new pid
	// namespace), identified by pid and start time against pid reuse.
	Init Proc `json:"init"`
	// Monitor is the sandboxrun process that started the container, waits
	// for it, holds its cgroup and its lease of host ids, and removes them
	// when it ends.
	Monitor Proc `json:"monitor"`
	// Started: start released the command.
	Started bool `json:"started,omitempty"`
	// Cgroup maps each controller (v1) or "unified" (v2) to the
	// container's cgroup directory.
	Cgroup map[string]string `json:"cgroup,omitempty"`
	// Hooks run after create: poststart (by start) and poststop (by delete).
	Hooks *Hooks `json:"hooks,omitempty"`
}

// Proc is a process identified against pid reuse.
type Proc struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // /proc/PID/stat starttime, clock ticks since boot
}

// idChar reports whether c may appear in a container id: an ASCII
// letter or digit, '_', '+', '.' or '-'.
func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '+' || c == '.' || c == '-'
}

// CheckID refuses an id that is not a plain name: it becomes a directory
// name under the root.
func CheckID(id string) error {
	if id == "" {
		return Fail("id", "", "", "", "a container id is needed", nil)
	}
	bad := len(id) > 1024 || id == "." || id == ".."
	for i := 0; i < len(id) && !bad; i++ {
		bad = !idChar(id[i])
	}
	if bad {
		return Fail("id", id, "", "", "invalid container id (letters, digits, _ + . - only)", nil)
	}
	return nil
}

// DefaultRoot is /run/nsfork for host root (sandbox.RootInInitialUserNS)
// and $XDG_RUNTIME_DIR/nsfork for anyone else, root of another user
// namespace too.
func DefaultRoot() (string, error) {
	// Root of a user namespace of its own (rootless podman runs its
	// runtime so) is not host root: /run is not its to write.
	if sandbox.RootInInitialUserNS() {
		return "/run/nsfork", nil
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "nsfork"), nil
	}
	return "", Fail("root", "", "", "", "no --root given and XDG_RUNTIME_DIR is not set", nil)
}

// Root is a state directory.
type Root struct{ Dir string }

// Open makes (mode 0700) or opens the root directory dir, for commands
// that act on containers: it must be the caller's own, writable by nobody
// else (checkRootDir).
func Open(dir string) (*Root, error) { return open(dir, true) }

// OpenForQuery opens the root directory dir for commands that only read
// records (state, list, ps): root may read another user's.
func OpenForQuery(dir string) (*Root, error) { return open(dir, false) }

func open(dir string, owned bool) (*Root, error) {
	if dir == "" {
		d, err := DefaultRoot()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, Fail("root", "", "resolve", dir, "", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, Fail("root", "", "mkdir", abs, "", err)
	}
	if !owned {
		return &Root{Dir: abs}, nil
	}
	if err := checkRootDir(abs); err != nil {
		return nil, err
	}
	return &Root{Dir: abs}, nil
}

// checkRootDir refuses a state directory that is not the caller's own, or
// that others may write without the sticky bit: whoever can write it can
// plant records, whose hooks and pids later commands would run and
// signal with the caller's privileges.
func checkRootDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return Fail("root", "", "stat", dir, "", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return Fail("root", "", "", dir, "not a directory", nil)
	case int(st.Uid) != os.Geteuid():
		return Fail("root", "", "", dir, fmt.Sprintf("owned by uid %d, not %d: refusing a state directory of another user's", st.Uid, os.Geteuid()), nil)
	case st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0:
		return Fail("root", "", "", dir, fmt.Sprintf("mode %04o: others may write it: refusing it", st.Mode&0o7777), nil)
	}
	return nil
}

// runDir is nsfork's own run directory (/run/nsfork), the default root for
// root, which also holds the leases of host ids and root's warm pools.
var runDir = filepath.Dir(sandbox.IDLeaseDir)

// reservedIDs are the entries nsfork keeps in runDir itself.
var reservedIDs = []string{filepath.Base(sandbox.IDLeaseDir), "warm"}

// checkReserved refuses, in runDir, an id that names one of nsfork's own
// entries there: made before them (the first lease after a boot), the
// container's directory would be taken for theirs, and delete would
// remove it with what they hold.
func (r *Root) checkReserved(id string) error {
	if r.Dir == runDir && slices.Contains(reservedIDs, id) {
		return Fail("create", id, "", r.Dir, "the id names an entry nsfork keeps in its run directory: choose another", nil)
	}
	return nil
}

// Path is the directory of container id.
func (r *Root) Path(id string) string { return filepath.Join(r.Dir, id) }

// IDs lists the containers under the root, sorted.
func (r *Root) IDs() ([]string, error) {
	ents, err := os.ReadDir(r.Dir)
	if err != nil {
		return nil, Fail("list", "", "readdir", r.Dir, "", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && CheckID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Load reads the record of container id (the caller holds its lock).
func (r *Root) Load(id string) (*Record, error) {
	p := filepath.Join(r.Path(id), StateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Fail("state", id, "read", p, "", ErrNotExist)
	}
	if err != nil {
		return nil, Fail("state", id, "read", p, "", err)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, Fail("state", id, "decode", p, "", err)
	}
	return &rec, nil
}

// Save replaces the record atomically: a reader sees the old or the new one.
func (r *Root) Save(rec *Record) error {
	dir := r.Path(rec.ID)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return Fail("state", rec.ID, "encode", "", "", err)
	}
	tmp := filepath.Join(dir, "."+StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return Fail("state", rec.ID, "write", tmp, "", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFile)); err != nil {
		os.Remove(tmp)
		return Fail("state", rec.ID, "rename", tmp, "", err)
	}
	return nil
}

// SpecState is the runtime-spec state document of rec with status st.
func (rec *Record) SpecState(st string) *specs.State {
	pid := 0
	if st != StatusStopped {
		pid = rec.Init.Pid
	}
	return &specs.State{Version: specs.Version, ID: rec.ID, Status: specs.ContainerState(st), Pid: pid,
		Bundle: rec.Bundle, Annotations: rec.Annotations}
}

// String names a process for messages.
func (p Proc) String() string { return fmt.Sprintf("pid %d", p.Pid) }
