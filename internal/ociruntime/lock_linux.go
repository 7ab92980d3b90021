package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Locked is a container directory under its lock: every command on one id
// runs under it, so that they follow one another.
type Locked struct {
	Root *Root
	ID   string
	f    *os.File
}

// Lock takes the lock of container id, waiting for the command that holds
// it. A directory that delete removed meanwhile is ErrNotExist.
func (r *Root) Lock(id string) (*Locked, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	dir := r.Path(id)
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Fail("lock", id, "", "", "", ErrNotExist)
	}
	if err != nil {
		return nil, Fail("lock", id, "open", dir, "", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, Fail("lock", id, "flock", dir, "", err)
	}
	// Delete removes the directory while holding the lock: whoever waited
	// holds a lock on a directory that is gone.
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(dir, &now) != nil ||
		held.Dev != now.Dev || held.Ino != now.Ino || held.Nlink == 0 {
		f.Close()
		return nil, Fail("lock", id, "", "", "", ErrNotExist)
	}
	return &Locked{Root: r, ID: id, f: f}, nil
}

// Create makes the directory of a new container id, already locked: it
// appears under its name only once its lock is held, and never replaces
// another container's.
func (r *Root) Create(id string) (*Locked, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if err := r.checkReserved(id); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(r.Path(id)); err == nil {
		return nil, Fail("create", id, "", "", "", ErrExist)
	}
	tmp, err := os.MkdirTemp(r.Dir, ".new-")
	if err != nil {
		return nil, Fail("create", id, "mkdir", r.Dir, "", err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = flock(f)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, Fail("create", id, "lock", tmp, "", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, r.Path(id), unix.RENAME_NOREPLACE); err != nil {
		f.Close()
		os.Remove(tmp)
		if errors.Is(err, unix.EEXIST) {
			return nil, Fail("create", id, "", "", "", ErrExist)
		}
		return nil, Fail("create", id, "rename", r.Path(id), "", err)
	}
	return &Locked{Root: r, ID: id, f: f}, nil
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

// Dir is the container's directory.
func (l *Locked) Dir() string { return l.Root.Path(l.ID) }

// File is the path of name in the container's directory.
func (l *Locked) File(name string) string { return filepath.Join(l.Dir(), name) }

// Load reads the container's record.
func (l *Locked) Load() (*Record, error) { return l.Root.Load(l.ID) }

// Remove deletes the container's directory and everything in it; the lock
// is released with Unlock as usual.
func (l *Locked) Remove() error {
	if err := os.RemoveAll(l.Dir()); err != nil {
		return Fail("delete", l.ID, "remove", l.Dir(), "", err)
	}
	return nil
}

// Unlock releases the lock.
func (l *Locked) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// String names the container for messages.
func (l *Locked) String() string { return fmt.Sprintf("container %s", l.ID) }
