package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/seccomp"
)

// The hidden steps of exec (oci_exec.go).
const (
	// execJoinVerb: `__execjoin CGROUPDIR... -- nsenter ARGS...` moves
	// itself into the container's cgroup directories, then executes
	// nsenter, whose children are born there.
	execJoinVerb = "__execjoin"
	// execInitVerb runs inside the container's namespaces (nsenter's
	// child): fd 3 the request, fd 4 the report socket, fd 5 this binary,
	// fd 6 the console socket (with a terminal).
	execInitVerb = "__execinit"
)

func ociExecJoin(_ *ociGlobal, args []string) error {
	i := 0
	for i < len(args) && args[i] != "--" {
		i++
	}
	if i+1 >= len(args) {
		return ociruntime.Fail("exec", "", "", "", "usage: "+execJoinVerb+" CGROUPDIR... -- COMMAND...", nil)
	}
	pid := []byte(fmt.Sprint(os.Getpid()))
	for _, dir := range args[:i] {
		p := filepath.Join(dir, "cgroup.procs")
		if err := os.WriteFile(p, pid, 0); err != nil {
			return ociruntime.Fail("exec", "", "join cgroup", p, "", err)
		}
	}
	argv := args[i+1:]
	err := unix.Exec(argv[0], argv, os.Environ())
	return ociruntime.Fail("exec", "", "execve", argv[0], "", err)
}

// ociExecInit applies the request's process settings to itself through
// nsinit (the same steps as a container's process: rlimits, ids,
// working directory, capabilities, no_new_privs, Landlock, seccomp last),
// reports, waits for the go-ahead byte on fd 3 and executes the command.
// Its errors go to the report socket; its exit status then means nothing.
func ociExecInit(_ *ociGlobal, _ []string) error {
	// Until the execve nothing of the container may ptrace us.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	for _, fd := range []int{3, 4, 5, 6} {
		unix.CloseOnExec(fd)
	}
	// Non-blocking: the request pipe goes through the runtime's poller,
	// whose epoll descriptor is then open before nsinit's setup, which
	// closes whatever descriptor the setup opened.
	unix.SetNonblock(3, true)
	reqf, report := os.NewFile(3, "request"), os.NewFile(4, "report")
	send := func(rep execReport) error {
		b, _ := json.Marshal(rep)
		cred := unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
		return unix.Sendmsg(int(report.Fd()), b, cred, nil, 0)
	}
	fail := func(err error) error {
		if send(execReport{Error: oneLine(err.Error())}) != nil {
			return err
		}
		// exec prints it.
		return &containerExit{code: exitLauncher}
	}
	var req execRequest
	dec := json.NewDecoder(reqf)
	if err := dec.Decode(&req); err != nil {
		return fail(fmt.Errorf("read the request: %w", err))
	}
	var filter *seccomp.Program
	if len(req.Filter) > 0 {
		filter = &seccomp.Program{}
		if err := filter.UnmarshalBinary(req.Filter); err != nil {
			return fail(err)
		}
	}
	if req.Terminal {
		if err := execConsole(os.NewFile(6, "console-socket")); err != nil {
			return fail(err)
		}
	}
	env := req.Opts.Env
	if !req.Opts.ClearEnv {
		env = append(os.Environ(), env...)
	}
	os.Clearenv()
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
	runtime.LockOSThread()
	if err := ociruntime.ApplyProcess(&req.Opts, filter); err != nil {
		return fail(err)
	}
	path, err := exec.LookPath(req.Argv[0])
	if err != nil {
		return fail(fmt.Errorf("exec: find command %s: %w", req.Argv[0], err))
	}
	if err := send(execReport{}); err != nil {
		return err
	}
	// The go-ahead: exec's pid file is written, nsenter gone with --detach.
	if !goAhead(io.MultiReader(dec.Buffered(), reqf)) {
		os.Exit(exitLauncher)
	}
	err = unix.Exec(path, req.Argv, os.Environ())
	fmt.Fprintf(os.Stderr, "sandboxrun: exec: execve %s: %v\n", path, err)
	if errors.Is(err, unix.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
	return nil
}

// goAhead reads the byte after the request (past the encoder's newline):
// 1 runs the command; anything else, or end of file, does not.
func goAhead(r io.Reader) bool {
	var b [1]byte
	for {
		if n, _ := r.Read(b[:]); n == 0 {
			return false
		}
		if b[0] != '\n' {
			return b[0] == 1
		}
	}
}
