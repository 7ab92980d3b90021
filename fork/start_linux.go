package fork

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/forkchild"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// markerEnv marks a process started by this package as a child. Its value
// is "<version>:<first fd>:<fd count>:<token>": the control socket is at
// <first fd>, the descriptors passed on purpose follow it, and the request
// read from the socket must carry <token>.
const markerEnv = "NSFORK_CHILD"

const ctrlFD = 3 // ExtraFiles[0]

// launch starts f in a child and returns at once.
func launch(ctx context.Context, c *Config, f *Function, opts *sandbox.Options, args []any) (*Process, error) {
	return launchMode(ctx, c, f, opts, args, nil)
}

// launchMode starts f with args, or, with argv, the command argv.
func launchMode(ctx context.Context, c *Config, f *Function, opts *sandbox.Options, args []any, argv []string) (*Process, error) {
	if _, child := os.LookupEnv(markerEnv); child {
		return nil, ErrInitNotCalled
	}
	warmPidfd.Do(func() { go probePidfd() })
	out, err := encodeArgs(f.Name, f.fn.Type(), args, ctrlFD+1)
	if err != nil {
		return nil, err
	}
	defer out.close()

	var plan *isolation
	if opts != nil {
		if plan, err = planIsolation(opts); err != nil {
			return nil, err
		}
		plan.planMapsAfter(c.SysProcAttr)
		if err := plan.checkAllThreads(argv != nil); err != nil {
			return nil, err
		}
		if err := plan.leaseRange(); err != nil {
			return nil, err
		}
		if err := plan.planGuard(); err != nil {
			plan.lease.release()
			return nil, err
		}
		if err := plan.makeCgroup(); err != nil {
			plan.lease.release()
			return nil, err
		}
	}
	// Whatever fails from here on removes the cgroup again and ends the
	// lease of host ids.
	started := false
	defer func() {
		if !started && plan != nil {
			if plan.cgroup != nil {
				plan.cgroup.Destroy()
			}
			plan.lease.release()
		}
	}()

	token, err := forkchild.NewToken()
	if err != nil {
		return nil, fmt.Errorf("fork: %w", err)
	}
	req := &wire.Request{Version: wire.Version, Token: token, Name: f.Name, Args: out.args, Argv: argv}
	if argv != nil {
		req.Flags |= wire.FlagCommand
		if plan != nil && plan.filter != nil {
			if err := checkFilterAllowsExec(plan.filter); err != nil {
				return nil, fmt.Errorf("fork: seccomp: %w", err)
			}
		}
	}
	if !c.KeepAlive && !c.Reparent {
		req.Flags |= wire.FlagDieWithParent
	}
	if plan != nil && plan.filter != nil {
		req.Filter, _ = plan.filter.MarshalBinary()
	}
	if c.pooled {
		req.Flags |= wire.FlagPooled
	}
	if plan != nil && plan.mapsAfter {
		req.Flags |= wire.FlagMapsAfter
		if plan.rootAfter {
			req.Flags |= wire.FlagRootAfter
		}
	}
	if opts != nil && c.OnApplied != nil {
		req.Flags |= wire.FlagWaitGo
		if c.Hold {
			req.Flags |= wire.FlagHold
		}
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fork: socketpair: %w", err)
	}
	unix.SetNonblock(fds[0], true)
	parentEnd := os.NewFile(uintptr(fds[0]), "nsfork-ctrl")
	childEnd := os.NewFile(uintptr(fds[1]), "nsfork-ctrl-child")
	defer childEnd.Close()

	childArgv := c.Args
	if len(childArgv) == 0 {
		childArgv = []string{os.Args[0]}
	}
	// The sealed copy where the binary's file must not be reachable
	// (selfexe_linux.go), and for a pool's children: on this project's VM
	// a Go child whose code is mapped from the binary's file answers after
	// an idle second up to twice as slowly as one run from the copy, with
	// no page fault in either (docs/speed.md, "Pooled children run from
	// memory"). A cold start from the copy is no faster (interleaved, p50:
	// 26.1 and 29.0 ms from the file, 28.9 and 31.6 ms from the copy), and
	// the copy costs a process 7 ms once, so cold starts exec the file.
	exe := "/proc/self/exe"
	if plan != nil && (plan.cloneflags&unix.CLONE_NEWPID == 0 || c.pooled) {
		if exe, err = sealedSelf(); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(orBackground(ctx), exe)
	cmd.Args = childArgv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.ExtraFiles = append([]*os.File{childEnd}, out.files...)
	if c.Console != nil && argv != nil {
		// Last, where the child looks for it.
		cmd.ExtraFiles = append(cmd.ExtraFiles, c.Console)
		req.Flags |= wire.FlagConsole
	}
	marker := markerEnv + "=" + forkchild.Marker{FD: ctrlFD, NFDs: len(cmd.ExtraFiles), Token: token}.String()
	env := childEnv(opts)
	if opts != nil {
		// The sandbox's environment is the function's or the command's,
		// taken after the setup; this program's own exec gets none of
		// what the options add (execEnv).
		req.Env = env
		req.Flags |= wire.FlagEnv
		env = execEnv(opts, env)
	}
	if plan != nil && !hasEnv(env, "GOMAXPROCS") {
		// Every all-threads system call of the setup stops and signals
		// every thread the child's runtime has; with one P it starts
		// fewer. The child restores the default right after setup.
		env = append(env, "GOMAXPROCS=1")
		req.Flags |= wire.FlagOneProc
	}
	cmd.Env = append(env, marker)
	attr := &syscall.SysProcAttr{}
	if c.SysProcAttr != nil {
		a := *c.SysProcAttr
		attr = &a
	}
	pidfd := -1
	if c.Reparent {
		// The parent-death signal would come from our parent's exit.
		attr.Cloneflags |= unix.CLONE_PARENT
		attr.PidFD = &pidfd
	} else if !c.KeepAlive {
		attr.Pdeathsig = syscall.SIGKILL
	}
	if plan != nil {
		plan.apply(attr)
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		// The whole session or group, if the child leads one.
		if attr.Setsid || attr.Setpgid {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = 0

	// A small request is queued before the start, so the child finds it at
	// once; a big one is written while the child reads. When the parent
	// has steps between the start and the request (the id maps, mostly),
	// the request is encoded after the start, while the child's Go runtime
	// comes up (the options' JSON: 1.1-1.4 ms of a cold launch).
	var reqBytes []byte
	encodeRequest := func() error {
		if opts != nil {
			var err error
			if req.Sandbox, err = childOptions(opts); err != nil {
				return fmt.Errorf("fork: encoding sandbox options: %w", err)
			}
		}
		reqBytes = wire.EncodeRequest(req)
		return nil
	}
	early := plan == nil || !plan.parentSteps()
	if early {
		if err := encodeRequest(); err != nil {
			parentEnd.Close()
			return nil, err
		}
		early = len(reqBytes) < 32<<10
	}
	if early {
		if err := wire.WriteFrame(parentEnd, wire.KindRequest, reqBytes); err != nil {
			parentEnd.Close()
			return nil, fmt.Errorf("fork: queueing request: %w", err)
		}
	}

	release := make(chan struct{})
	keyring := plan != nil && plan.opts.NewSessionKeyring
	if plan != nil && (len(plan.joins) > 0 || (keyring && attr.Pdeathsig == 0) || plan.guard != nil) {
		// A thread of its own, which ends with the child: it joins the
		// namespaces, or the new session keyring, or the launcher guard's
		// Landlock domain, for this child only.
		err = startJoined(cmd, plan.joins, keyring, plan.guard.prepare, release)
	} else if attr.Pdeathsig != 0 {
		var key spawnKey
		if plan != nil {
			key = plan.spawnKey()
		}
		err = startLocked(cmd, key)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		parentEnd.Close()
		if plan != nil {
			// The clone with the sandbox's namespaces, or the id maps
			// os/exec writes for it, failed.
			var se *SetupError
			if !errors.As(err, &se) {
				err = sandbox.NewSetupError("start", "clone with the sandbox's namespaces and id maps, and exec", exe, err)
			}
			return nil, err
		}
		return nil, fmt.Errorf("fork: starting child: %w", err)
	}
	childEnd.Close()
	out.closeOwned()

	if testHookAfterStart != nil {
		testHookAfterStart(cmd.Process.Pid)
	}
	p := &Process{Pid: cmd.Process.Pid, cmd: cmd, ctrl: parentEnd, fn: f, readDone: make(chan struct{}), release: release, command: argv != nil, pidfd: pidfd}
	if opts != nil {
		p.onApplied = c.OnApplied
	}
	// The child's pid 1 registers its forwarded signals early in these
	// cases too (child): a signal waits for its command, here and there.
	p.sigHold.on = req.Flags&wire.FlagCommand != 0 && req.Flags&(wire.FlagPooled|wire.FlagHold) == 0 &&
		plan != nil && plan.cloneflags&unix.CLONE_NEWPID != 0
	if c.pooled {
		p.idle = make(chan struct{})
		p.readyCh = make(chan struct{})
		p.outcome = make(chan struct{})
	}
	if plan != nil && plan.parentSteps() {
		err := plan.afterStart(p.Pid, argv != nil)
		if err == nil && reqBytes == nil {
			err = encodeRequest()
		}
		if err != nil {
			if ctx != nil && ctx.Err() != nil {
				// Cancelled while the parent's steps ran: the child
				// was killed under them, which is why they failed.
				err = fmt.Errorf("fork: %w: %w", ctx.Err(), err)
			}
			cmd.Cancel()
			cmd.Wait()
			close(release)
			parentEnd.Close()
			return nil, err
		}
	}
	started = true
	if plan != nil {
		p.cgroup = plan.cgroup
		p.lease = plan.lease
		p.lease.record(p.Pid)
	}
	max := c.MaxResult
	if max <= 0 {
		max = DefaultMaxResult
	}
	go p.read(uint32(min(max, wire.MaxFrame)))
	if !early {
		var ims []idmapMount
		var clones []*os.File
		if plan != nil {
			ims, clones, plan.idmapFiles = plan.idmaps, plan.idmapFiles, nil
		}
		go func() {
			// An error here means the child is gone; Wait reports why.
			if wire.WriteFrame(parentEnd, wire.KindRequest, reqBytes) == nil {
				sendIDMapMounts(parentEnd, ims, clones)
			}
			closeFiles(clones)
		}()
	}
	// The big arguments go while the child reads them; an error means it
	// is gone, and Wait reports why.
	out.sendBulk()
	return p, nil
}

// warmPidfd starts, once, the Go runtime's one-time check that pidfds
// work, which the first os/exec start would otherwise make on its own
// clock: it forks a child that exits at once and waits for it (about
// 0.3 ms). Run here it overlaps the parent's own preparation.
var warmPidfd sync.Once

func probePidfd() {
	// FindProcess looks the pid up through a pidfd, which runs the check.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Release()
	}
}

// testHookAfterStart, set only by this package's tests, runs between the
// start and the parent's steps.
var testHookAfterStart func(pid int)

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// childEnv is the environment the sandboxed function or command gets: the
// parent's, or none (sandbox ClearEnv), with the sandbox's additions on
// top. Building it here keeps the parent's environment out of the child's
// memory entirely when it is cleared.
func childEnv(opts *sandbox.Options) []string {
	if opts != nil && opts.ClearEnv {
		return envWith(nil, opts)
	}
	return envWith(os.Environ(), opts)
}

// execEnv is the environment of the child's exec of this program, before
// any of its setup, on the host's file system and with the caller's ids
// (host root's for a root caller until its id maps, mapsafter_linux.go):
// the caller's own (none with ClearEnv), never what the sandbox's options
// add (an OCI image's process.env): the dynamic loader of a dynamically
// linked program acts on it at that exec (LD_PRELOAD, LD_LIBRARY_PATH,
// GCONV_PATH). Of the sandbox's environment only the Go runtime's own
// settings, which the runtime reads at its start, come along (sandboxEnv
// holds them); the child takes the whole sandbox environment after its
// setup (wire.FlagEnv).
func execEnv(opts *sandbox.Options, sandboxEnv []string) []string {
	var env []string
	if !opts.ClearEnv {
		env = os.Environ()
	}
	for _, kv := range sandboxEnv {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG":
			env = setEnvIn(env, kv)
		}
	}
	return env
}

// setEnvIn sets kv in env, replacing a variable of the same name.
func setEnvIn(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// childOptions encodes opts for the child. The child loads the filter
// compiled here (the request's Filter) and never reads a seccomp profile's
// rules, so they are not sent: the profile becomes its default action
// alone, which keeps the child's check that a profile came with a filter.
// Docker's profile is about nine tenths of the options' JSON, and the
// child's first decode of runtime-spec's types is on every sandbox's
// clock (docs/speed.md).
func childOptions(opts *sandbox.Options) ([]byte, error) {
	if opts.Seccomp == nil {
		return json.Marshal(opts)
	}
	o := *opts
	o.Seccomp = &specs.LinuxSeccomp{DefaultAction: opts.Seccomp.DefaultAction}
	return json.Marshal(&o)
}
