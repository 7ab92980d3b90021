package nsinit

import (
	"encoding/json"
	"os"

	"github.com/nsfork/nsfork/sandbox"
)

// A step is one part of the child's setup: its name (what an error's Step
// says, and what docs/design.md lists with the step's file) and what it
// does.
type step struct {
	name string
	// always: the step runs in every child, with a sandbox or without;
	// the others only with one.
	always bool
	run    func(*child) error
}

// steps is the child's whole life from the request to the function, in
// order. Each step is in a file named after it (docs/design.md, "A
// child's life", lists step -> file).
var steps = []step{
	{name: "fds", always: true, run: stepStrayFDs},                         // fds_linux.go
	{name: "time", run: stepTime},                                          // timens_linux.go
	{name: "arguments", always: true, run: stepArguments},                  // fds_linux.go (the caller's Config.Arguments)
	{name: "late namespaces", run: withOptions(stepLateNamespaces)},        // latens_linux.go
	{name: "mount", run: withOptions(stepMounts)},                          // mounts_linux.go
	{name: "late namespaces all", run: withOptions(stepLateNamespacesAll)}, // latens_linux.go
	{name: "hostname", run: withOptions(stepUTS)},                          // uts_linux.go
	{name: "network", run: withOptions(stepNetwork)},                       // network_linux.go
	{name: "oom", run: withOptions(stepOOM)},                               // oom_linux.go
	{name: "rlimit", run: withOptions(stepRlimit)},                         // rlimit_linux.go
	{name: "keyring", run: withOptions(stepKeyring)},                       // keyring_linux.go
	{name: "seccomp early", run: withOptions(stepSeccompEarly)},            // seccomp_linux.go
	{name: "bounding", run: withOptions(stepBounding)},                     // bounding_linux.go
	{name: "ids", run: withOptions(stepIDs)},                               // ids_linux.go
	{name: "pdeathsig", run: withOptions(stepPdeathsig)},                   // pdeathsig_linux.go
	{name: "cwd", run: withOptions(stepCwd)},                               // cwd_linux.go
	{name: "capabilities", run: withOptions(stepCapabilities)},             // capabilities_linux.go
	{name: "no_new_privs", run: withOptions(stepNoNewPrivs)},               // nonewprivs_linux.go
	{name: "threads", run: withOptions(stepThreadsCheck)},                  // threads_linux.go
	{name: "landlock", run: withOptions(stepLandlock)},                     // landlock_linux.go
	{name: "seccomp", run: withOptions(stepSeccomp)},                       // seccomp_linux.go
	{name: "report", run: withOptions(stepReport)},                         // report_linux.go
	{name: "setup fds", run: stepSetupFDs},                                 // fds_linux.go
}

// child is what the steps share.
type child struct {
	o   *sandbox.Options // nil: no sandbox
	cfg Config
	a   *Applied
	// fds are the descriptors open once the arguments were taken
	// (stepArguments): whatever the setup opens beyond them is closed
	// before the function runs.
	fds map[int]bool
}

// withOptions adapts a step that needs only the options, the Config and
// the report.
func withOptions(f func(*sandbox.Options, Config, *Applied) error) func(*child) error {
	return func(c *child) error { return f(c.o, c.cfg, c.a) }
}

// Setup runs the child's steps in the calling process: with o nil, the
// ones every child runs (closing stray descriptors, taking the
// arguments); with o, all of them, applying o. It must run on a goroutine
// locked to its thread, in a process that was created with o's
// namespaces. It returns the JSON of what was applied (nil without o).
func Setup(o *sandbox.Options, cfg Config) ([]byte, error) {
	c := &child{o: o, cfg: cfg}
	if o != nil {
		c.a = &Applied{Namespaces: map[string]string{}}
	}
	for _, s := range steps {
		if o == nil && !s.always {
			continue
		}
		if err := s.run(c); err != nil {
			return nil, err
		}
	}
	if o == nil {
		return nil, nil
	}
	return json.Marshal(c.a)
}

// unwrapPath turns an *os.PathError into its errno so that the step's own
// Error names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
