package jobns

// The holder's side of one rank: its stdio, its command, started in the
// job's namespaces, and its end reported back.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// serve runs one caller's rank.
func (s *server) serve(c *net.UnixConn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	refuse := func(e *sandbox.SetupError) { refuseConn(c, e) }
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	files, err := recvStdio(c)
	if err != nil {
		refuse(fail("handshake", "receive stdio", "", err))
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	dec := json.NewDecoder(c)
	var h hello
	if err := dec.Decode(&h); err != nil {
		refuse(fail("handshake", "read hello", "", err))
		return
	}
	if h.Version != protoVersion {
		refuse(failf("handshake", "version", "", "protocol version %d, the holder speaks %d", h.Version, protoVersion))
		return
	}
	if h.Digest != s.digest {
		refuse(failf("options", "compare", "", "this caller's options are %s, the job's are %s (every rank of a job must use the same sandbox flags)", h.Digest, s.digest))
		return
	}
	cmd, e := command(&h, files)
	if e != nil {
		refuse(e)
		return
	}
	if err := startBound(cmd, h.CPUs); err != nil {
		refuse(fail("exec", "start", cmd.Path, err))
		return
	}
	for _, f := range files {
		f.Close()
	}
	files = nil
	pid := cmd.Process.Pid
	c.SetDeadline(time.Time{})
	if err := enc.Encode(&message{Type: "started", Pid: pid}); err != nil {
		killGroup(pid)
		cmd.Wait()
		return
	}
	// Signals in; the end of the connection kills the rank.
	go func() {
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				killGroup(pid)
				return
			}
			if m.Type == "signal" && relayed(syscall.Signal(m.Signal)) {
				cmd.Process.Signal(syscall.Signal(m.Signal))
			}
		}
	}()
	cmd.Wait()
	// What is left of the rank's process group ends with it, as a job
	// step's processes do.
	syscall.Kill(-pid, syscall.SIGKILL)
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	m := &message{Type: "exit", Code: ws.ExitStatus()}
	if ws.Signaled() {
		m.Code, m.Signal = 0, int(ws.Signal())
	}
	enc.Encode(m)
}

func killGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
}

// recvStdio reads the byte that carries the caller's stdin, stdout and
// stderr.
func recvStdio(c *net.UnixConn) ([]*os.File, error) {
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(8*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(b[:], oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			f, err := unix.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, f...)
			}
		}
	}
	if n != 1 || len(fds) != 3 || flags&unix.MSG_CTRUNC != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("want one byte with 3 descriptors, got %d bytes and %d descriptors", n, len(fds))
	}
	return []*os.File{os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "stdout"), os.NewFile(uintptr(fds[2]), "stderr")}, nil
}

// command builds the rank's exec.Cmd: argv[0] looked up in the PATH of the
// rank's environment, the rank in a session of its own.
func command(h *hello, files []*os.File) (*exec.Cmd, *sandbox.SetupError) {
	if len(h.Argv) == 0 || h.Argv[0] == "" {
		return nil, failf("exec", "check", "", "no command")
	}
	if !filepath.IsAbs(h.Cwd) {
		return nil, failf("cwd", "check", h.Cwd, "not an absolute path")
	}
	if st, err := os.Stat(h.Cwd); err != nil {
		return nil, fail("cwd", "chdir", h.Cwd, err)
	} else if !st.IsDir() {
		return nil, fail("cwd", "chdir", h.Cwd, syscall.ENOTDIR)
	}
	path, err := lookPath(h.Argv[0], h.Env, h.Cwd)
	if err != nil {
		return nil, fail("exec", "find command", h.Argv[0], err)
	}
	cmd := &exec.Cmd{Path: path, Args: h.Argv, Env: h.Env, Dir: h.Cwd,
		Stdin: files[0], Stdout: files[1], Stderr: files[2],
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	return cmd, nil
}

// lookPath finds file as execvp does, in the PATH of env.
func lookPath(file string, env []string, cwd string) (string, error) {
	check := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.IsDir() {
			return syscall.EACCES
		}
		return unix.Access(p, unix.X_OK)
	}
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		return p, check(p)
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	var first error
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(cwd, d)
		}
		p := filepath.Join(d, file)
		if _, err := os.Stat(p); err != nil {
			continue // as a shell does: a directory we cannot search has nothing for us
		}
		err := check(p)
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return "", first
	}
	return "", syscall.ENOENT
}

// startBound starts cmd with the CPU affinity cpus: the thread that forks
// has it for the moment, so the rank inherits it from its first
// instruction. A set the holder may not use (a cpuset) is left out.
func startBound(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return cmd.Start()
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return cmd.Start()
	}
	err := cmd.Start()
	if unix.SchedSetaffinity(0, &old) == nil {
		runtime.UnlockOSThread()
	}
	// Otherwise the thread stays locked to this goroutine and ends with
	// it, rather than serve others with the rank's set.
	return err
}
