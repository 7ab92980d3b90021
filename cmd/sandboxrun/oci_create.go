package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/sandbox"
)

// createFlags are create's flags (run takes them too).
type createFlags struct {
	bundle        string
	pidFile       string
	consoleSocket string
	noPivot       bool
	noNewKeyring  bool
	preserveFDs   int
	reparent      bool // create (not run): the init becomes create's child, then its caller's
}

func addCreateFlags(fs *pflag.FlagSet, f *createFlags) {
	fs.StringVarP(&f.bundle, "bundle", "b", "", "bundle directory (default: the current directory)")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the container's pid to this file")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	fs.BoolVar(&f.noPivot, "no-pivot", false, "refused: nsfork chooses pivot_root or MS_MOVE+chroot itself")
	fs.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N more descriptors (from 3) to the container")
}

// created is a container create made: its directory still locked, and the
// monitor process, a child of ours until we exit.
type created struct {
	lk      *ociruntime.Locked
	rec     *ociruntime.Record
	monitor *exec.Cmd
}

func ociCreate(g *ociGlobal, args []string) error {
	fs := verbFlags("create")
	var f createFlags
	addCreateFlags(fs, &f)
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] create [--bundle DIR] [--pid-file FILE] ID")
	if err != nil {
		return err
	}
	f.reparent = true
	c, err := createContainer(g, &f, pos[0])
	if err != nil {
		return err
	}
	c.lk.Unlock()
	// The monitor outlives us: it is reparented when we exit.
	c.monitor.Process.Release()
	return nil
}

// createContainer checks the bundle, makes the container's directory and
// starts its monitor, which sets the container up and holds it before its
// command; it returns once the container is "created".
func createContainer(g *ociGlobal, f *createFlags, id string) (*created, error) {
	if err := ociruntime.CheckID(id); err != nil {
		return nil, err
	}
	switch {
	case f.noPivot:
		return nil, ociruntime.Fail("create", id, "", "", "--no-pivot: not supported: nsfork uses pivot_root, and MS_MOVE+chroot only where the root is an initramfs, which it detects itself", nil)
	case f.preserveFDs < 0:
		return nil, ociruntime.Fail("create", id, "", "", "--preserve-fds: must not be negative", nil)
	case f.preserveFDs > 0:
		return nil, ociruntime.Fail("create", id, "", "", "--preserve-fds: not supported yet", nil)
	}
	bundle := f.bundle
	if bundle == "" {
		bundle = "."
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, ociruntime.Fail("bundle", id, "", f.bundle, "", err)
	}
	spec, hooks, err := readBundle(bundle)
	if err != nil {
		return nil, ociruntime.Fail("bundle", id, "", bundle, "", err)
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	switch {
	case terminal && f.consoleSocket == "":
		return nil, ociruntime.Fail("process.terminal", id, "", "", "true needs --console-socket (the caller's socket for the terminal's master)", nil)
	case !terminal && f.consoleSocket != "":
		return nil, ociruntime.Fail("create", id, "", "", "--console-socket without process.terminal: nothing to send", nil)
	}
	if err := ociruntime.CheckHooks(hooks); err != nil {
		return nil, err
	}
	// The hooks are the runtime's to run, not the sandbox's.
	spec.Hooks = nil
	if f.noNewKeyring {
		if spec.Annotations == nil {
			spec.Annotations = map[string]string{}
		}
		spec.Annotations[sandbox.AnnotationNewSessionKeyring] = "false"
	}
	root, err := g.openRoot()
	if err != nil {
		return nil, err
	}
	lk, err := root.Create(id)
	if err != nil {
		return nil, err
	}
	c := &created{lk: lk}
	ok := false
	defer func() {
		if !ok {
			c.abandon()
		}
	}()
	b, err := json.MarshalIndent(spec, "", "  ")
	if err == nil {
		err = os.WriteFile(lk.File(ociruntime.ConfigFile), b, 0o600)
	}
	if err != nil {
		return nil, ociruntime.Fail("create", id, "write", lk.File(ociruntime.ConfigFile), "", err)
	}
	c.rec = &ociruntime.Record{ID: id, Bundle: bundle, Annotations: spec.Annotations, Created: time.Now().UTC(), Owner: os.Geteuid(), Hooks: hooks}
	if err := root.Save(c.rec); err != nil {
		return nil, err
	}
	if err := unix.Mkfifo(lk.File(ociruntime.FifoFile), 0o600); err != nil {
		return nil, ociruntime.Fail("create", id, "mkfifo", lk.File(ociruntime.FifoFile), "", err)
	}
	if err := c.startMonitor(g, f); err != nil {
		return nil, err
	}
	if f.pidFile != "" {
		if err := writePidFile(f.pidFile, c.rec.Init.Pid); err != nil {
			return nil, ociruntime.Fail("create", id, "write pid file", f.pidFile, "", err)
		}
	}
	ok = true
	return c, nil
}

// readBundle reads BUNDLE/config.json and its hooks, refusing members the
// runtime-spec does not define, and makes root.path and relative bind
// sources absolute so that the copy kept in the state directory means the
// same.
func readBundle(dir string) (*specs.Spec, *ociruntime.Hooks, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if err := sandbox.CheckConfigFields(b); err != nil {
		return nil, nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	hooks, err := ociruntime.DecodeHooks(b)
	if err != nil {
		return nil, nil, err
	}
	sandbox.ResolveBundlePaths(dir, s.Root, s.Mounts)
	return &s, hooks, nil
}

// writePidFile writes pid atomically, as runc does. The temporary file is
// made anew (O_EXCL, O_NOFOLLOW): a name planted beside the pid file by
// whoever else can write its directory (a symbolic link to a file of the
// caller's) is removed, never written through.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// monitorReport is what the monitor sends create on its status pipe: the
// container's init, or why there is none.
type monitorReport struct {
	Init   ociruntime.Proc   `json:"init"`
	Cgroup map[string]string `json:"cgroup,omitempty"`
	Error  string            `json:"error,omitempty"`
}

// startMonitor starts `sandboxrun __monitor ID` in a session of its own,
// with our stdio (the container's), and waits for its report.
func (c *created) startMonitor(g *ociGlobal, f *createFlags) error {
	id := c.rec.ID
	exe, err := os.Executable()
	if err != nil {
		return ociruntime.Fail("create", id, "find own executable", "", "", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return ociruntime.Fail("create", id, "pipe", "", "", err)
	}
	defer r.Close()
	args := []string{"--root", c.lk.Root.Dir}
	if g.log != "" {
		args = append(args, "--log", g.log, "--log-format", g.logFormat)
	}
	if g.debug {
		args = append(args, "--debug")
	}
	if g.hostRoot {
		args = append(args, "--host-root")
	}
	args = append(args, monitorVerb)
	if f.reparent {
		args = append(args, "--reparent")
	}
	var extra []*os.File
	if f.consoleSocket != "" {
		// Connected here, so that a wrong path fails create at once; the
		// container's setup sends the terminal over it.
		cs, err := dialConsole(f.consoleSocket)
		if err != nil {
			return ociruntime.Fail("create", id, "connect", f.consoleSocket, "", err)
		}
		defer cs.Close()
		extra = append(extra, cs)
		args = append(args, "--console")
	}
	cmd := exec.Command(exe, append(args, id)...)
	cmd.Args[0] = "sandboxrun"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{w}, extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return ociruntime.Fail("create", id, "start monitor", exe, "", err)
	}
	c.monitor = cmd
	// Recorded at once: should create die before the report, delete finds
	// the monitor (status "creating") and ends it.
	if c.rec.Monitor, err = ociruntime.Identify(cmd.Process.Pid); err != nil {
		return ociruntime.Fail("create", id, "identify monitor", "", "", err)
	}
	if err := c.lk.Root.Save(c.rec); err != nil {
		return err
	}
	var rep monitorReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		werr := cmd.Wait()
		return ociruntime.Fail("create", id, "", "", fmt.Sprintf("the monitor ended without a report (%v)", werr), nil)
	}
	if rep.Error != "" {
		// The monitor ends the container and removes its cgroup itself
		// once it has reported a failure (a hook's, say): abandon, which
		// kills it, would leave the cgroup behind.
		awaitExit(cmd.Process.Pid, monitorCleanup)
		return ociruntime.Fail("create", id, "", "", rep.Error, nil)
	}
	c.rec.Init, c.rec.Cgroup = rep.Init, rep.Cgroup
	return c.lk.Root.Save(c.rec)
}

// monitorCleanup bounds how long create waits for a monitor that
// reported a failure to end on its own.
const monitorCleanup = 10 * time.Second

// awaitExit waits until the process pid (a child not yet waited for, so
// the pid is its own) has exited, at most d.
func awaitExit(pid int, d time.Duration) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	end := time.Now().Add(d)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for left := time.Until(end); left > 0; left = time.Until(end) {
		if n, err := unix.Poll(fds, int(left/time.Millisecond)+1); n > 0 || err != nil && err != unix.EINTR {
			return
		}
	}
}

// abandon undoes a create that failed: the monitor and the container are
// killed and reaped, the directory goes.
func (c *created) abandon() {
	if c.monitor != nil {
		c.monitor.Process.Kill()
		c.monitor.Wait()
	}
	if c.rec != nil {
		removeCgroup(c.rec)
	}
	c.lk.Remove()
	c.lk.Unlock()
}

// monitorExit is a monitor's exit status as run reports it.
func monitorExit(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return exitLauncher
}
