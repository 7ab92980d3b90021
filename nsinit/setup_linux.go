package nsinit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// Applied is the child's record of what it set up, sent to the parent as
// JSON before the function runs.
type Applied struct {
	Namespaces      map[string]string    `json:"namespaces"` // type -> "type:[inode]"
	UIDMap          string               `json:"uidMap,omitempty"`
	GIDMap          string               `json:"gidMap,omitempty"`
	UID             int                  `json:"uid"`
	GID             int                  `json:"gid"`
	Groups          []int                `json:"groups,omitempty"`
	Hostname        string               `json:"hostname,omitempty"`
	Rlimits         map[string][2]uint64 `json:"rlimits,omitempty"`
	Capabilities    map[string]string    `json:"capabilities,omitempty"` // set -> hex mask
	NoNewPrivileges bool                 `json:"noNewPrivileges"`
	SessionKeyring  int                  `json:"sessionKeyring,omitempty"` // the session keyring's serial
	Seccomp         *SeccompReport       `json:"seccomp,omitempty"`
	Landlock        *LandlockReport      `json:"landlock,omitempty"`
	Root            string               `json:"root,omitempty"` // "pivot_root", "move+chroot" or ""
	Mounts          []string             `json:"mounts,omitempty"`
	// Inexact lists what was asked for and not applied exactly (stricter
	// or weaker): --strict refuses to run the command when it is not
	// empty.
	Inexact []string `json:"inexact,omitempty"`
	// CgroupView is /proc/self/cgroup inside, once the setup is done
	// (with a new cgroup namespace, every path should be "/").
	CgroupView string `json:"cgroupView,omitempty"`

	// selfCgroup and selfMountinfo are /proc/self/cgroup and
	// /proc/self/mountinfo as they read before the child made its cgroup
	// namespace (cgroupfs_linux.go).
	selfCgroup, selfMountinfo string
	// lateNS are the namespaces the child made itself, for its other
	// threads (latens_linux.go).
	lateNS []lateNS
}

// Setup applies o in the calling process. It must run on a goroutine locked
// to its thread, in a process that was created with o's namespaces.
func Setup(o *sandbox.Options, cfg Config) ([]byte, error) {
	a := &Applied{Namespaces: map[string]string{}}
	steps := []func(*sandbox.Options, Config, *Applied) error{
		stepLateNamespaces,
		stepMounts,
		stepLateNamespacesAll,
		stepUTS,
		stepNetwork,
		stepOOM,
		stepRlimitCache,
		stepKeyring,
		stepSeccompEarly,
		stepIDs,
		stepParent,
		stepCwd,
		stepCapabilities,
		stepNoNewPrivs,
		stepThreadsCheck,
		stepLandlock,
		stepSeccomp,
		stepReport,
	}
	for _, s := range steps {
		if err := s(o, cfg, a); err != nil {
			return nil, err
		}
	}
	return json.Marshal(a)
}

func stepUTS(o *sandbox.Options, _ Config, a *Applied) error {
	if o.Hostname != "" {
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return fail("hostname", "sethostname", o.Hostname, err)
		}
		a.Hostname = o.Hostname
	}
	if o.Domainname != "" {
		if err := unix.Setdomainname([]byte(o.Domainname)); err != nil {
			return fail("hostname", "setdomainname", o.Domainname, err)
		}
	}
	return nil
}

// stepNetwork brings loopback up in a new network namespace.
func stepNetwork(o *sandbox.Options, _ Config, _ *Applied) error {
	if !o.NewNamespace(specs.NetworkNamespace) {
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("network", "socket", "", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fail("network", "ifreq", "lo", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fail("network", "SIOCGIFFLAGS", "lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fail("network", "SIOCSIFFLAGS up", "lo", err)
	}
	return nil
}

func stepOOM(o *sandbox.Options, _ Config, _ *Applied) error {
	if o.OOMScoreAdj == nil {
		return nil
	}
	// The file is checked to be on a procfs before it is written: in a
	// root file system another user can write, /proc may be a stand-in by
	// now (the mount moves with a renamed directory), and a write there
	// would be lost silently.
	p := "/proc/self/oom_score_adj"
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("oom", "open", p, err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fail("oom", "fstatfs", p, err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fail("oom", "check", p, fmt.Errorf("%w: not on a procfs (file system type %#x): /proc was replaced", unix.EXDEV, st.Type))
	}
	if _, err := unix.Write(fd, []byte(strconv.Itoa(*o.OOMScoreAdj))); err != nil {
		return fail("oom", "write", p, err)
	}
	return nil
}

// stepRlimitCache: the parent set the rlimits with prlimit before the
// request was sent. The Go runtime raised RLIMIT_NOFILE at start and would
// restore its start value in every exec'ed child; setting it again through
// syscall.Setrlimit clears that cache. Every limit is checked here too.
func stepRlimitCache(o *sandbox.Options, _ Config, a *Applied) error {
	for _, r := range o.Rlimits {
		res, ok := sandbox.RlimitResource(r.Type)
		if !ok {
			return fail("rlimit", "unknown", r.Type, unix.EINVAL)
		}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err != nil {
			return fail("rlimit", "getrlimit "+r.Type, "", err)
		}
		want := syscall.Rlimit{Cur: r.Soft, Max: r.Hard}
		if cur.Cur != r.Soft || cur.Max != r.Hard || res == unix.RLIMIT_NOFILE {
			if err := syscall.Setrlimit(res, &want); err != nil {
				return fail("rlimit", "setrlimit "+r.Type, "", err)
			}
		}
		if a.Rlimits == nil {
			a.Rlimits = map[string][2]uint64{}
		}
		a.Rlimits[r.Type] = [2]uint64{r.Soft, r.Hard}
	}
	return nil
}

// stepParent: an id change clears the parent-death signal; set it again,
// then make sure the parent did not die in between (the channel hangs up).
func stepParent(_ *sandbox.Options, cfg Config, _ *Applied) error {
	if !cfg.DieWithParent {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fail("parent", "prctl PR_SET_PDEATHSIG", "", err)
	}
	fds := []unix.PollFd{{Fd: int32(cfg.Ctrl), Events: unix.POLLRDHUP}}
	if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0 {
		os.Exit(124) // the parent is gone: nobody to report to
	}
	return nil
}

func stepCwd(o *sandbox.Options, _ Config, _ *Applied) error {
	if o.Cwd == "" {
		return nil
	}
	if err := unix.Chdir(o.Cwd); err != nil {
		return fail("cwd", "chdir", o.Cwd, err)
	}
	return nil
}

func stepReport(o *sandbox.Options, _ Config, a *Applied) error {
	// Read through descriptors checked to be on a procfs (procfs_linux.go):
	// the parent's --strict checks rely on this report.
	if ns, err := openProc("/proc/self/ns", unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
		buf := make([]byte, 64)
		for _, t := range []string{"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"} {
			if n, err := unix.Readlinkat(int(ns.Fd()), t, buf); err == nil {
				a.Namespaces[t] = string(buf[:n])
			}
		}
		ns.Close()
	}
	for _, m := range []struct {
		name string
		to   *string
	}{{"uid_map", &a.UIDMap}, {"gid_map", &a.GIDMap}} {
		if f, err := openProc("/proc/self/"+m.name, unix.O_RDONLY); err == nil {
			if b, err := io.ReadAll(f); err == nil {
				*m.to = string(b)
			}
			f.Close()
		}
	}
	if LateNamespaces(o)&unix.CLONE_NEWCGROUP != 0 {
		// Through this process's /proc, if it has one: the report reads
		// nothing when the root has no procfs.
		if v, err := readProcFile("/proc/self/cgroup"); err == nil {
			a.CgroupView = v
		}
	}
	a.UID, a.GID = unix.Getuid(), unix.Getgid()
	a.Groups, _ = unix.Getgroups()
	return nil
}

// unwrapPath turns an *os.PathError into its errno so that the step's own
// Error names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
