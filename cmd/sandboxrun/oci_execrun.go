package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/ociruntime"
)

// execReport is what __execinit sends on fd 4 once the settings are
// applied (with its pid as SCM_CREDENTIALS, which the kernel translates
// into our pid namespace), or why it failed.
type execReport struct {
	Error string `json:"error,omitempty"`
}

// nsenterFlags are nsenter(1)'s options by /proc/PID/ns name. nsenter
// enters the user namespace first when it must (it orders them itself).
var nsenterFlags = []struct{ ns, flag string }{
	{"user", "--user"}, {"mnt", "--mount"}, {"uts", "--uts"}, {"ipc", "--ipc"}, {"net", "--net"},
	{"pid", "--pid"}, {"cgroup", "--cgroup"}, {"time", "--time"},
}

// nsenterArgs are nsenter's arguments for the namespaces of pid that are
// not ours (setns into one's own user namespace fails).
func nsenterArgs(pid int) ([]string, error) {
	args := []string{"--target", strconv.Itoa(pid)}
	for _, n := range nsenterFlags {
		theirs, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/ns/" + n.ns)
		if errors.Is(err, os.ErrNotExist) && n.ns == "time" {
			continue
		}
		if err != nil {
			return nil, err
		}
		ours, err := os.Stat("/proc/self/ns/" + n.ns)
		if err != nil {
			return nil, err
		}
		if !os.SameFile(theirs, ours) {
			args = append(args, n.flag)
			if n.ns == "user" && setgroupsDenied(pid) {
				// nsenter's own change of credentials starts with
				// setgroups, which a user namespace whose setgroups is
				// "deny" (a rootless container mapping only its
				// user's own id) refuses. Keep ours: __execinit sets
				// the process's ids, groups and capabilities itself.
				args = append(args, "--preserve-credentials")
			}
		}
	}
	return append(args, "--root", "--wd"), nil
}

// setgroupsDenied reports whether pid's user namespace refuses setgroups.
func setgroupsDenied(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}

// runExec starts the chain __execjoin -> nsenter -> __execinit and waits
// for its report; then, with --detach, hands the process over (it is
// reparented to the caller's subreaper, as a runc exec'd process is) and
// returns, or waits for it and returns its status.
func runExec(g *ociGlobal, rec *ociruntime.Record, req *execRequest, f *execFlags) error {
	id := rec.ID
	fail := func(op string, err error) error { return ociruntime.Fail("exec", id, op, "", "", err) }
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return ociruntime.Fail("exec", id, "find nsenter", "", "nsenter (Debian util-linux) is needed to enter the container's user and mount namespaces", err)
	}
	nsArgs, err := nsenterArgs(rec.Init.Pid)
	if err != nil {
		return fail("read namespaces of the container's init", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fail("find own executable", err)
	}
	exe, err := os.Open(self)
	if err != nil {
		return fail("open own executable", err)
	}
	defer exe.Close()
	if err := checkStatic(exe); err != nil {
		return ociruntime.Fail("exec", id, "", self, err.Error(), nil)
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return fail("pipe", err)
	}
	defer reqR.Close()
	defer reqW.Close()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socketpair", err)
	}
	ours, theirs := os.NewFile(uintptr(sp[0]), "report"), os.NewFile(uintptr(sp[1]), "report")
	defer ours.Close()
	defer theirs.Close()
	if err := unix.SetsockoptInt(sp[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return fail("setsockopt SO_PASSCRED", err)
	}
	files := []*os.File{reqR, theirs, exe}
	if req.Terminal {
		cf, err := dialConsole(f.consoleSocket)
		if err != nil {
			return ociruntime.Fail("exec", id, "connect", f.consoleSocket, "", err)
		}
		defer cf.Close()
		files = append(files, cf)
	}
	args := append([]string{execJoinVerb}, uniqueDirs(rec.Cgroup)...)
	args = append(args, "--", nsenter)
	args = append(args, nsArgs...)
	args = append(args, "--", "/proc/self/fd/5", execInitVerb)
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "sandboxrun"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	g.debugf("exec %s: %v", id, cmd.Args)
	if err := cmd.Start(); err != nil {
		return fail("start "+execJoinVerb, err)
	}
	theirs.Close()
	reqR.Close()
	err = json.NewEncoder(reqW).Encode(req)
	pid, rep, rerr := readExecReport(ours)
	if err != nil || rerr != nil || rep.Error != "" {
		cmd.Process.Kill()
		werr := cmd.Wait()
		switch {
		case rep.Error != "":
			return ociruntime.Fail("exec", id, "", "", rep.Error, nil)
		case err != nil:
			return fail("send the request", err)
		default:
			return ociruntime.Fail("exec", id, "", "", "the process ended before its report ("+errString(werr)+", "+errString(rerr)+")", nil)
		}
	}
	proc, err := ociruntime.Identify(pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fail("identify the process", err)
	}
	if f.detach {
		// nsenter, our child, waits for the process: ended before the
		// process may run, so that the process is reparented before it
		// can exit (a subreaper such as conmon waits for it by pid).
		cmd.Process.Kill()
		cmd.Wait()
	}
	if f.pidFile != "" {
		if err := writePidFile(f.pidFile, pid); err != nil {
			signalProc(proc, unix.SIGKILL)
			reqW.Write([]byte{0})
			return ociruntime.Fail("exec", id, "write pid file", f.pidFile, "", err)
		}
	}
	if _, err := reqW.Write([]byte{1}); err != nil {
		signalProc(proc, unix.SIGKILL)
		return fail("release the process", err)
	}
	reqW.Close()
	if f.detach {
		return nil
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				signalProc(proc, s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	werr := cmd.Wait()
	close(done)
	return &containerExit{code: monitorExit(werr)}
}

// readExecReport reads __execinit's report and the pid in its credentials.
func readExecReport(f *os.File) (int, execReport, error) {
	var rep execReport
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, 0)
	if err != nil {
		return 0, rep, err
	}
	if n == 0 {
		return 0, rep, errors.New("no report")
	}
	if err := json.Unmarshal(buf[:n], &rep); err != nil {
		return 0, rep, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return 0, rep, errors.New("the report has no credentials")
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		return 0, rep, err
	}
	return int(cred.Pid), rep, nil
}

// uniqueDirs lists the cgroup directories of a record once each (v1
// controllers mounted together share one).
func uniqueDirs(cg map[string]string) []string {
	var dirs []string
	for _, d := range cg {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// checkStatic refuses a dynamically linked build: the binary runs inside
// the container (__execinit), where the host's loader and libc are not.
func checkStatic(exe *os.File) error {
	dynamic, err := hasInterp(exe)
	if err != nil {
		return fmt.Errorf("read own executable: %w", err)
	}
	if dynamic {
		return errors.New("exec needs a statically linked sandboxrun (build it with CGO_ENABLED=0): part of it runs inside the container, which has no host loader or libc")
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
