package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/nsfork/nsfork/internal/ociruntime"
)

// The runc-compatible command line: sandboxrun [global flags] VERB [flags] ID.
// It shares the binary with sandboxrun's own command line; ociCommand
// decides which of the two an argument list is (docs/oci-runtime.md).

// ociVerb returns the function of one of runc's commands, nil for
// another word. Apart from run, none of them is a sandboxrun command, so
// `sandboxrun state ID` is always the OCI form (`sandboxrun -- state`
// still runs a program called state). A switch, not a map: a map would
// be built at every start (and a table of these functions would be an
// initialization cycle).
func ociVerb(verb string) func(*ociGlobal, []string) error {
	switch verb {
	case "create":
		return ociCreate
	case "start":
		return ociStart
	case "run":
		return ociRun
	case "state":
		return ociState
	case "kill":
		return ociKill
	case "delete":
		return ociDelete
	case "list":
		return ociList
	case "ps":
		return ociPs
	case "features":
		return ociFeatures
	case "exec":
		return ociExec
	case monitorVerb:
		return ociMonitor
	case execJoinVerb:
		return ociExecJoin
	case execInitVerb:
		return ociExecInit
	}
	return nil
}

// ociRefused are runc commands this runtime does not have.
var ociRefused = []string{"pause", "resume", "events", "update", "checkpoint", "restore", "spec"}

// ociGlobal is the global flags of runc and crun that their callers pass.
type ociGlobal struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string // "", "true", "false", "auto"
	hostRoot      bool   // TRUSTED CODE ONLY: configs without a user namespace run as host root, as runc runs them
	stdio         stdio
	logw          io.Writer
}

// globalFlags are the global flag names; set tells whether one was seen.
func (g *ociGlobal) flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("sandboxrun", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", "", "state directory")
	fs.StringVar(&g.log, "log", "", "log file")
	fs.StringVar(&g.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&g.debug, "debug", false, "debug output in the log")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "refused: nsfork writes cgroupfs directly")
	fs.StringVar(&g.rootless, "rootless", "", "true, false or auto")
	fs.Lookup("rootless").NoOptDefVal = "true"
	fs.BoolVar(&g.hostRoot, "host-root", false, "TRUSTED CODE ONLY: a config without a user namespace runs as host root, as runc runs it (podman --runtime-flag host-root); for root of a user namespace that maps host root (unshare -r run by host root), lets its containers run as that namespace's uid 0, host root's")
	return fs
}

// ociCommand tells whether args are the runc form and splits off the
// global flags: a global flag of runc's (--root, --log, --log-format,
// --debug, --systemd-cgroup) before a verb, or a verb other than run first,
// or run with exactly one positional argument (the container id) and no
// "--".
func ociCommand(args []string) (*ociGlobal, string, []string, bool) {
	g := &ociGlobal{}
	fs := g.flags()
	if len(args) == 0 || fs.Parse(args) != nil || fs.NArg() == 0 || fs.ArgsLenAtDash() == 0 {
		// ("--" before the first word: sandboxrun -- COMMAND.)
		return nil, "", nil, false
	}
	rest := fs.Args()
	verb := rest[0]
	if ociVerb(verb) == nil && !slices.Contains(ociRefused, verb) {
		return nil, "", nil, false
	}
	global := false
	for _, n := range []string{"root", "log", "log-format", "debug", "systemd-cgroup", "host-root"} {
		global = global || fs.Changed(n)
	}
	if verb == "run" && !global && !ociRunShape(rest[1:]) {
		return nil, "", nil, false
	}
	if fs.Changed("rootless") && !global && verb == "run" {
		return nil, "", nil, false
	}
	return g, verb, rest[1:], true
}

// runOCI runs one runc-form command and returns the exit code: 0, or 125
// for a failure of the runtime (run returns the container's status).
func runOCI(g *ociGlobal, verb string, args []string, io stdio) int {
	g.stdio = io
	g.logw = io.err
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			printErr(io.err, fmt.Sprintf("--log %s: %v", g.log, err))
			return exitLauncher
		}
		defer f.Close()
		g.logw = f
	}
	g.debugf("%s %s", verb, strings.Join(args, " "))
	var err error
	switch {
	case g.logFormat != "text" && g.logFormat != "json":
		err = ociruntime.Fail("--log-format", "", "", "", fmt.Sprintf("%q: text or json", g.logFormat), nil)
	case g.systemdCgroup:
		err = ociruntime.Fail("--systemd-cgroup", "", "", "", "not supported: nsfork writes cgroupfs directly (leave --systemd-cgroup off)", nil)
	case g.rootless != "" && g.rootless != "true" && g.rootless != "false" && g.rootless != "auto":
		err = ociruntime.Fail("--rootless", "", "", "", fmt.Sprintf("%q: true, false or auto", g.rootless), nil)
	case g.hostRoot && !hasHostRootID():
		err = ociruntime.Fail("--host-root", "", "", "", strings.TrimPrefix(noHostRootToGive, "--host-root: "), nil)
	case slices.Contains(ociRefused, verb):
		err = ociruntime.Fail(verb, "", "", "", "not supported by nsfork's runtime", nil)
	default:
		err = ociVerb(verb)(g, args)
	}
	if err == nil {
		return 0
	}
	var ce *containerExit
	if errors.As(err, &ce) {
		return ce.code
	}
	g.logError(err)
	return exitLauncher
}

// containerExit carries run's exit status: the container's own.
type containerExit struct{ code int }

func (e *containerExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// logError prints err on stderr and, with --log, into the log in its
// format (runc's callers read the log's last error).
func (g *ociGlobal) logError(err error) {
	msg := oneLine(message(err))
	if g.logw != g.stdio.err {
		g.logLine("error", msg)
	}
	printErr(g.stdio.err, msg)
}

// logLine writes one line to the log.
func (g *ociGlobal) logLine(level, msg string) {
	if g.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintf(g.logw, "%s\n", b)
		return
	}
	fmt.Fprintf(g.logw, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), level, msg)
}

// debugf logs with --debug.
func (g *ociGlobal) debugf(format string, a ...any) {
	if g.debug {
		g.logLine("debug", fmt.Sprintf(format, a...))
	}
}

// openRoot opens the state directory, which must be the caller's own.
func (g *ociGlobal) openRoot() (*ociruntime.Root, error) { return ociruntime.Open(g.root) }

// queryRoot opens the state directory for reading records only.
func (g *ociGlobal) queryRoot() (*ociruntime.Root, error) { return ociruntime.OpenForQuery(g.root) }

// verbFlags is a flag set for one verb.
func verbFlags(verb string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(verb, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseVerb parses args and returns the positional ones, between min and
// max of them.
func parseVerb(fs *pflag.FlagSet, args []string, min, max int, usage string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, ociruntime.Fail(fs.Name(), "", "", "", err.Error()+" (usage: "+usage+")", nil)
	}
	if fs.NArg() < min || fs.NArg() > max {
		return nil, ociruntime.Fail(fs.Name(), "", "", "", "usage: "+usage, nil)
	}
	return fs.Args(), nil
}

// ociRunShape: runc's run form, `run [runc run flags] ID`, as opposed to
// sandboxrun's `run --bundle DIR [--] [COMMAND...]`.
func ociRunShape(args []string) bool {
	if slices.Contains(args, "--") {
		return false
	}
	fs := verbFlags("run")
	addCreateFlags(fs, &createFlags{})
	fs.BoolP("detach", "d", false, "")
	fs.Bool("keep", false, "")
	fs.Bool("no-subreaper", false, "")
	if fs.Parse(args) != nil || fs.NArg() != 1 {
		return false
	}
	return ociruntime.CheckID(fs.Arg(0)) == nil && !strings.Contains(fs.Arg(0), "/")
}
