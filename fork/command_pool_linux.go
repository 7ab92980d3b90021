package fork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"reflect"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// pooledExecFunc is the call a command pool's child takes: the command, its
// environment, its working directory and its stdio. It is never called as a
// function; the child execs instead (takeCommand, execCommand).
var pooledExecFunc = func() *Function {
	f := NewFork("nsfork:pooled-exec", func(argv, env []string, dir string, stdin, stdout, stderr *os.File) {})
	Register(f)
	return f
}()

// Command is one command for a command pool (NewCommandPool).
type Command struct {
	// Argv is the command; Argv[0] is looked up in the PATH of Env.
	Argv []string
	// Env is the caller's environment; the sandbox's ClearEnv and Env
	// apply to it as StartCommand applies them to the launcher's.
	Env []string
	// Dir is the caller's working directory. The child changes into it
	// (as the sandbox sees it) only where StartCommand's child keeps the
	// launcher's: without Options.Cwd and without a root file system.
	Dir string
	// Stdin, Stdout and Stderr become the command's descriptors 0, 1, 2
	// (nil: this process's own).
	Stdin, Stdout, Stderr *os.File
}

// NewCommandPool is NewPool for commands: each child is set up as
// StartCommand sets one up (command mode: the bounding set on the thread
// that execs, the seccomp filter checked to allow execve), then waits for
// one Command and execs it. Hand commands out with StartCommand.
func (c *Config) NewCommandPool(opts *sandbox.Options, size int) (*Pool, error) {
	return c.newPool(opts, size, []string{})
}

// StartCommand runs cmd in one of the pool's children, which was set up
// before cmd was known and has served nothing else; it returns once the
// command was exec'ed (or, in a new pid namespace, started under the
// child's pid 1). Wait, Signal and Kill work as for Config.StartCommand.
func (p *Pool) StartCommand(ctx context.Context, cmd *Command) (*Process, error) {
	if p.argv == nil {
		return nil, fmt.Errorf("%w: StartCommand on a pool of functions (NewCommandPool makes one of commands)", ErrArgs)
	}
	if cmd == nil || len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
		return nil, fmt.Errorf("%w: StartCommand needs a command", ErrArgs)
	}
	dir := ""
	if p.opts.Cwd == "" && (p.opts.Root == nil || path.Clean(p.opts.Root.Path) == "/") {
		dir = cmd.Dir
	}
	files := []*os.File{cmd.Stdin, cmd.Stdout, cmd.Stderr}
	for i, std := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if files[i] == nil {
			files[i] = std
		}
	}
	return p.Start(ctx, pooledExecFunc.Name, cmd.Argv, envWith(cmd.Env, p.opts), dir, files[0], files[1], files[2])
}

// takeCommand is the child's side of StartCommand: it puts the passed
// descriptors on 0, 1 and 2, takes the environment and changes into the
// directory, and returns the command to exec.
func takeCommand(f *Function, in []reflect.Value, send func(wire.Kind, []byte)) ([]string, error) {
	if f != pooledExecFunc || len(in) != 6 {
		return nil, fmt.Errorf("a command pool's child got a call of %q", f.Name)
	}
	argv := in[0].Interface().([]string)
	env := in[1].Interface().([]string)
	dir := in[2].Interface().(string)
	for i := range 3 {
		file, _ := in[3+i].Interface().(*os.File)
		if file == nil {
			return nil, fmt.Errorf("stdio descriptor %d missing", i)
		}
		if err := unix.Dup3(int(file.Fd()), i, 0); err != nil {
			return nil, fmt.Errorf("dup3 onto %d: %w", i, err)
		}
		if int(file.Fd()) > 2 {
			file.Close()
		}
	}
	setEnviron(env)
	if dir != "" {
		if err := unix.Chdir(dir); err != nil {
			send(wire.KindSetup, setupFrame(sandbox.NewSetupError("cwd", "chdir", dir,
				fmt.Errorf("%w (the caller's working directory, inside the sandbox)", err))))
			return nil, errCwd
		}
	}
	return argv, nil
}

// errCwd: takeCommand reported the failure itself.
var errCwd = errors.New("cwd")

// setEnviron makes env (validated KEY=VALUE entries) the process's
// environment.
func setEnviron(env []string) {
	os.Clearenv()
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			os.Setenv(k, v)
		}
	}
}

// envWith is the environment a command starts with: base, or none
// (sandbox ClearEnv), with the sandbox's additions on top.
func envWith(base []string, opts *sandbox.Options) []string {
	var env []string
	if opts == nil || !opts.ClearEnv {
		env = append(env, base...)
	}
	if opts == nil || len(opts.Env) == 0 {
		return env
	}
	idx := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range opts.Env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			env[i] = kv
			continue
		}
		idx[k] = len(env)
		env = append(env, kv)
	}
	return env
}
