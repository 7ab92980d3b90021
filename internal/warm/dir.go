package warm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// maxSocketPath is the room sockaddr_un has for a path, with its NUL.
const maxSocketPath = 108

// Dir returns the directory of the caller's pools, made if missing: under
// $XDG_RUNTIME_DIR; for host root (sandbox.RootInInitialUserNS)
// /run/nsfork/warm/0; otherwise
// nsfork-warm-UID in the temporary directory. It must be a directory (not
// a symbolic link) owned by the caller with no access for anyone else:
// anything else is an error, never used.
func Dir() (string, error) {
	uid := os.Geteuid()
	var dir string
	switch x := os.Getenv("XDG_RUNTIME_DIR"); {
	case x != "" && filepath.IsAbs(x):
		if err := checkOwned(x, uid, false); err != nil {
			return "", err
		}
		dir = filepath.Join(x, "nsfork-warm")
	case uid == 0 && sandbox.RootInInitialUserNS():
		// Host root only: root of another user namespace owns nothing
		// under the host's /run (its pools go to the temporary
		// directory, as any user's).
		for _, d := range []string{"/run/nsfork", "/run/nsfork/warm"} {
			if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return "", fmt.Errorf("warm: mkdir %s: %w", d, err)
			}
			if err := checkOwned(d, 0, false); err != nil {
				return "", err
			}
		}
		dir = "/run/nsfork/warm/0"
	default:
		// The namespace's tag: uid 0 of every `unshare -r` is 0.
		dir = filepath.Join(os.TempDir(), "nsfork-warm-"+strconv.Itoa(uid)+sandbox.UserNSTag())
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("warm: mkdir %s: %w", dir, err)
	}
	return dir, checkOwned(dir, uid, true)
}

// checkOwned refuses a path that is not a directory owned by uid, or,
// with private, one that anyone else may enter, read or write; one that
// others may write is refused unless it is sticky.
func checkOwned(path string, uid int, private bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fmt.Errorf("warm: socket directory: lstat %s: %w", path, err)
	}
	mode := st.Mode
	switch {
	case mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("warm: socket directory %s: not a directory (a symbolic link or a file): refusing it", path)
	case int(st.Uid) != uid:
		return fmt.Errorf("warm: socket directory %s: owned by uid %d, not %d: refusing it", path, st.Uid, uid)
	case private && mode&0o077 != 0:
		return fmt.Errorf("warm: socket directory %s: mode %04o, others have access: refusing it (want 0700)", path, mode&0o7777)
	case mode&0o022 != 0 && mode&unix.S_ISVTX == 0:
		return fmt.Errorf("warm: socket directory %s: mode %04o, writable by others: refusing it", path, mode&0o7777)
	}
	return nil
}

// Paths are a pool's files in its directory.
type Paths struct {
	Socket, Lock, Log string
}

// PathsFor names the files of pool key in dir; the socket's path must fit
// in a sockaddr_un.
func PathsFor(dir, key string) (Paths, error) {
	base := filepath.Join(dir, key)
	p := Paths{Socket: base + ".sock", Lock: base + ".lock", Log: base + ".log"}
	if len(p.Socket) >= maxSocketPath {
		return p, fmt.Errorf("warm: socket path %s is %d bytes, a unix socket takes fewer than %d: set XDG_RUNTIME_DIR to a shorter directory", p.Socket, len(p.Socket), maxSocketPath)
	}
	return p, nil
}
