package jobns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/passwd"
	"github.com/nsfork/nsfork/sandbox"
)

// maxName bounds a job name, so that DIR/NAME.sock fits in a sockaddr_un.
const maxName = 64

// CheckName reports whether name can name a job: 1 to 64 characters of
// [A-Za-z0-9._-], not starting with a dot.
func CheckName(name string) error {
	if name == "" || len(name) > maxName || name[0] == '.' {
		return failf("name", "check", "", "job name %q: want 1 to %d characters of [A-Za-z0-9._-], not starting with '.'", name, maxName)
	}
	for _, r := range name {
		if !nameChar(r) {
			return failf("name", "check", "", "job name %q: character %q is not one of [A-Za-z0-9._-]", name, r)
		}
	}
	return nil
}

func nameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// SafeName turns any string into a valid job name: characters outside
// [A-Za-z0-9._-] become '_', and a name longer than 64 characters is cut
// and ends in a hash of the whole.
func SafeName(s string) string {
	b := []rune(s)
	for i, r := range b {
		if !nameChar(r) {
			b[i] = '_'
		}
	}
	out := string(b)
	if strings.HasPrefix(out, ".") {
		out = "_" + out[1:]
	}
	if len(out) > maxName {
		sum := sha256.Sum256([]byte(s))
		out = out[:maxName-17] + "-" + hex.EncodeToString(sum[:8])
	}
	return out
}

// NameFromEnv derives the job's name from the launcher's environment:
// PMIX_NAMESPACE (set by mpirun and by srun --mpi=pmix, one per job step),
// else SLURM_JOB_ID with SLURM_STEP_ID, else OMPI_MCA_ess_base_jobid. Ranks
// of one step get the same name; two steps, or two jobs, get different
// ones.
func NameFromEnv(environ []string) (string, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	switch {
	case env["PMIX_NAMESPACE"] != "":
		return SafeName("pmix-" + env["PMIX_NAMESPACE"]), nil
	case env["SLURM_JOB_ID"] != "":
		n := "slurm-" + env["SLURM_JOB_ID"]
		if s := env["SLURM_STEP_ID"]; s != "" {
			n += "." + s
		}
		return SafeName(n), nil
	case env["OMPI_MCA_ess_base_jobid"] != "":
		return SafeName("ompi-" + env["OMPI_MCA_ess_base_jobid"]), nil
	}
	return "", failf("name", "derive", "", "no PMIX_NAMESPACE, SLURM_JOB_ID or OMPI_MCA_ess_base_jobid in the environment: give the job a name")
}

// RuntimeDir returns the per-user directory of the job sockets and lock
// files, the first of:
//
//   - $XDG_RUNTIME_DIR/nsfork-jobns, when XDG_RUNTIME_DIR is a directory
//     of the caller's that nobody else can reach (mode 0700);
//   - /run/user/UID/nsfork-jobns, when /run/user/UID is one (systemd's
//     per-user runtime directory, which no other user can create);
//   - /tmp/nsfork-jobns-UID, in the shared /tmp (outside the initial user
//     namespace /tmp/nsfork-jobns-UID-nsINODE, INODE its user
//     namespace's): another user can create that name first, and
//     ensureDir then refuses it naming that user.
//
// Callers must agree on it: ranks of one job inherit one environment.
func RuntimeDir() string {
	return runtimeDir(os.Getenv("XDG_RUNTIME_DIR"), "/run/user", os.TempDir(), os.Geteuid(), sandbox.UserNSTag())
}

// runtimeDir: nsTag (sandbox.UserNSTag) tells uid N of one user namespace
// from uid N of another in the shared /tmp (root of every `unshare -r` is
// uid 0).
func runtimeDir(xdg, runUser, tmp string, uid int, nsTag string) string {
	if xdg != "" && filepath.IsAbs(xdg) && private(xdg, uid) {
		return filepath.Join(xdg, "nsfork-jobns")
	}
	if r := filepath.Join(runUser, strconv.Itoa(uid)); private(r, uid) {
		return filepath.Join(r, "nsfork-jobns")
	}
	return filepath.Join(tmp, "nsfork-jobns-"+strconv.Itoa(uid)+nsTag)
}

// private reports whether dir is a directory (not a symbolic link) of uid
// that nobody else can reach.
func private(dir string, uid int) bool {
	st, err := os.Lstat(dir)
	return err == nil && st.IsDir() && ownedBy(st, uid) && st.Mode().Perm()&0o077 == 0
}

func ownedBy(st fs.FileInfo, uid int) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) == uid
}

// ensureDir creates dir (mode 0700) if it is missing and checks that it is
// a directory, not a symbolic link, owned by the caller and reachable by
// nobody else. A dir another user made first (squatting a name in a
// shared /tmp) is refused with ErrSquatted, naming that user.
func ensureDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return failf("dir", "check", dir, "not an absolute path")
	}
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fail("dir", "mkdir", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fail("dir", "lstat", dir, err)
	}
	uid := os.Geteuid()
	if !ownedBy(st, uid) {
		owner := int(st.Sys().(*syscall.Stat_t).Uid)
		return fail("dir", "check", dir, fmt.Errorf("%w: uid %d%s created it, not uid %d; it is never trusted: have it removed, or set XDG_RUNTIME_DIR to a private directory of yours",
			ErrSquatted, owner, userName(owner), uid))
	}
	switch {
	case !st.IsDir():
		return failf("dir", "check", dir, "not a directory (%s)", st.Mode().Type())
	case st.Mode().Perm()&0o077 != 0:
		return failf("dir", "check", dir, "mode %04o: others can reach it (want 0700)", st.Mode().Perm())
	}
	return nil
}

// userName is " (NAME)" for a uid with a name, else "".
func userName(uid int) string {
	if name := passwd.Name(uid); name != "" {
		return " (" + name + ")"
	}
	return ""
}

func paths(dir, name string) (sock, lock string) {
	return filepath.Join(dir, name+".sock"), filepath.Join(dir, name+".lock")
}

// maxSweep bounds the stale sockets one Start looks at.
const maxSweep = 16

// sweepStale removes the sockets of other jobs in dir whose holder died
// without removing its own: one SIGKILLed, as at the end of a Slurm step
// under proctrack/cgroup, which kills the step's whole cgroup, holder
// included, once its tasks have ended. A socket is stale when its job's
// lock is free and a connect to it is refused: under that lock no holder
// can be starting, and a living holder listens until it has removed its
// socket. The lock files stay (see connectOrStart). A living holder sees
// the probe as a caller that left at once. At most maxSweep sockets are
// looked at; errors are ignored.
func sweepStale(dir, self string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	n := 0
	for _, sock := range socks {
		name := strings.TrimSuffix(filepath.Base(sock), ".sock")
		if name == self || CheckName(name) != nil {
			continue
		}
		if n++; n > maxSweep {
			return
		}
		sweepOne(dir, name)
	}
}

func sweepOne(dir, name string) {
	sock, lockPath := paths(dir, name)
	if st, err := os.Lstat(sock); err != nil || st.Mode().Type() != fs.ModeSocket {
		return
	}
	lock, err := os.OpenFile(lockPath, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // a caller or a leaving holder has it
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if refused(sock) {
		os.Remove(sock)
	}
}

// refused reports whether a connect to the unix socket sock is refused
// (nobody listens). The connect does not block: a full backlog (EAGAIN)
// is a listener.
func refused(sock string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return errors.Is(unix.Connect(fd, &unix.SockaddrUnix{Name: sock}), unix.ECONNREFUSED)
}
