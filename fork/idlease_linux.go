package fork

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// idLease is a range of host ids from nsfork's pool (sandbox.IDPoolStart),
// held by a flock on the range's file in sandbox.IDLeaseDir for as long as
// the sandbox runs: exclusive for a sandbox's own range, shared for the
// sandboxes of one IDRangeKey.
type idLease struct {
	slot int
	f    *os.File
	own  bool // exclusive: the file records the sandbox's pid
}

// base is the first host id of the range.
func (l *idLease) base() uint32 { return uint32(sandbox.IDPoolStart + l.slot*sandbox.IDRangeSize) }

// record writes the pid of the sandbox's first process into the lease file
// of an exclusive lease, so that a later launcher does not hand the range
// out again while that process outlives this one (Config.KeepAlive).
func (l *idLease) record(pid int) {
	if l != nil && l.own {
		l.f.WriteAt([]byte("pid="+strconv.Itoa(pid)+"\n"), 0)
	}
}

// release ends the lease. An exclusive lease's file is emptied first: the
// range is then free without a look at any process.
func (l *idLease) release() {
	if l == nil || l.f == nil {
		return
	}
	if l.own {
		l.f.Truncate(0)
	}
	l.f.Close()
	l.f = nil
}

func leaseError(op, path string, err error) error {
	return sandbox.NewSetupError("idrange", op, path, err)
}

// leaseIDRange leases a range of host ids for a sandbox started by root:
// one of its own (key empty) or the one of key.
func leaseIDRange(key string) (*idLease, error) {
	dir := sandbox.IDLeaseDir
	if err := ownedDir(filepath.Dir(dir), 0o711); err != nil {
		return nil, err
	}
	if err := ownedDir(dir, 0o700); err != nil {
		return nil, err
	}
	reserved, err := subordinateRanges()
	if err != nil {
		return nil, err
	}
	return leaseIn(dir, reserved, key)
}

// leaseIn leases a range with its lock files in dir, never one that
// overlaps reserved.
func leaseIn(dir string, reserved []sandbox.IDRange, key string) (*idLease, error) {
	// Every launcher takes the pool's guard while it picks, so a shared
	// lease's exclusive-to-shared change cannot be raced; releases need no
	// guard.
	guard, err := os.Open(dir)
	if err != nil {
		return nil, leaseError("open", dir, err)
	}
	defer guard.Close()
	if err := flockRetry(int(guard.Fd()), unix.LOCK_EX); err != nil {
		return nil, leaseError("flock", dir, err)
	}
	n := sandbox.IDPoolSlots
	start := randomSlot(n)
	if key != "" {
		h := fnv.New32a()
		h.Write([]byte(key))
		start = int(h.Sum32() % uint32(n))
	}
	for i := 0; i < n; i++ {
		slot := (start + i) % n
		base := uint64(sandbox.IDPoolStart + slot*sandbox.IDRangeSize)
		if overlapsAny(reserved, base, sandbox.IDRangeSize) {
			continue
		}
		l, err := trySlot(dir, slot, key)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
	}
	return nil, &SetupError{Step: "idrange", Op: "lease", Path: dir, Errno: syscall.EBUSY,
		Err: fmt.Errorf("every one of the %d ranges of host ids is in use or listed in /etc/subuid or /etc/subgid", n)}
}

// trySlot takes the range slot if it is free (or, for a key, held by the
// same key) and returns nil, nil when it is not.
func trySlot(dir string, slot int, key string) (*idLease, error) {
	path := filepath.Join(dir, strconv.Itoa(slot))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, leaseError("open", path, err)
	}
	fd := int(f.Fd())
	keyLine := []byte("key=" + key + "\n")
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		// Nobody holds it. A pid left by a launcher that ended without
		// releasing names a sandbox that may still run in the range.
		content, _ := readSmall(f)
		if pid, ok := recordedPid(content); ok && runsInRange(pid, slot) {
			f.Close()
			return nil, nil
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, leaseError("truncate", path, err)
		}
		if key == "" {
			return &idLease{slot: slot, f: f, own: true}, nil
		}
		if _, err := f.WriteAt(keyLine, 0); err != nil {
			f.Close()
			return nil, leaseError("write", path, err)
		}
		// The guard keeps every other launcher out while the lock changes.
		if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
			f.Close()
			return nil, leaseError("flock", path, err)
		}
		return &idLease{slot: slot, f: f}, nil
	}
	if key != "" && unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil {
		content, _ := readSmall(f)
		if bytes.Equal(content, keyLine) {
			return &idLease{slot: slot, f: f}, nil
		}
	}
	f.Close()
	return nil, nil
}

// ownedDir makes dir (mode perm) or checks that the one there is a
// directory of the caller's (root's) that nobody else can write.
func ownedDir(dir string, perm os.FileMode) error {
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, os.ErrExist) {
		return leaseError("mkdir", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return leaseError("lstat", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return &SetupError{Step: "idrange", Op: "check", Path: dir, Errno: syscall.EPERM,
			Err: fmt.Errorf("must be a directory of uid %d's that nobody else can write (mode %#o, uid %d)", os.Geteuid(), st.Mode&0o7777, st.Uid)}
	}
	return nil
}

func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

func randomSlot(n int) int {
	var b [4]byte
	if n, err := unix.Getrandom(b[:], 0); err != nil || n != len(b) {
		return int(time.Now().UnixNano() % int64(n))
	}
	return int(binary.LittleEndian.Uint32(b[:]) % uint32(n))
}

func readSmall(f *os.File) ([]byte, error) {
	b := make([]byte, 128)
	n, err := f.ReadAt(b, 0)
	if n > 0 {
		return b[:n], nil
	}
	return nil, err
}

func recordedPid(content []byte) (int, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(string(content)), "pid=")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
}

// runsInRange reports whether process pid is alive with a real uid in the
// range slot.
func runsInRange(pid, slot int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return false
		}
		uid, err := strconv.ParseUint(f[0], 10, 32)
		base := uint64(sandbox.IDPoolStart + slot*sandbox.IDRangeSize)
		return err == nil && uid >= base && uid < base+sandbox.IDRangeSize
	}
	return false
}

// subordinateRanges returns every range /etc/subuid and /etc/subgid list,
// for any user: the pool never hands those out.
func subordinateRanges() ([]sandbox.IDRange, error) {
	var all []sandbox.IDRange
	for _, file := range []string{sandbox.SubUIDFile, sandbox.SubGIDFile} {
		r, err := sandbox.AllSubIDs(file)
		if err != nil {
			return nil, leaseError("read", file, err)
		}
		all = append(all, r...)
	}
	return all, nil
}

func overlapsAny(rs []sandbox.IDRange, start, size uint64) bool {
	for _, r := range rs {
		if start < uint64(r.Start)+uint64(r.Size) && uint64(r.Start) < start+size {
			return true
		}
	}
	return false
}
