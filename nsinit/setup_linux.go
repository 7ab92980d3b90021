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
	file string // where it is, in this package
	// always: the step runs in every child, with a sandbox or without;
	// the others only with one.
	always bool
	// run is the step, or, for a step that needs only the options, the
	// configuration and the report, opt is (a plain function value is
	// static data; a closure made by a helper would be built at init).
	run func(*child) error
	opt func(*sandbox.Options, Config, *Applied) error
}

// steps is the child's whole life from the request to the function, in
// order. Each step is in a file named after it (docs/design.md, "Where
// each step lives", lists step -> file; TestStepTable holds both to it).
var steps = []step{
	{name: "fds", file: "fds_linux.go", always: true, run: stepStrayFDs},
	{name: "time", file: "timens_linux.go", run: stepTime},
	{name: "arguments", file: "fds_linux.go", always: true, run: stepArguments}, // calls Config.Arguments
	{name: "late namespaces", file: "latens_linux.go", opt: stepLateNamespaces},
	{name: "mount", file: "mounts_linux.go", run: stepMounts},
	{name: "sysctl", file: "sysctl_linux.go", run: stepSysctl},
	{name: "mount finish", file: "mounts_linux.go", run: stepMountsFinish},
	{name: "late namespaces all", file: "latens_linux.go", opt: stepLateNamespacesAll},
	{name: "hostname", file: "uts_linux.go", opt: stepUTS},
	{name: "network", file: "network_linux.go", opt: stepNetwork},
	{name: "oom", file: "oom_linux.go", opt: stepOOM},
	{name: "rlimit", file: "rlimit_linux.go", opt: stepRlimit},
	{name: "keyring", file: "keyring_linux.go", opt: stepKeyring},
	{name: "seccomp early", file: "seccomp_linux.go", opt: stepSeccompEarly},
	{name: "bounding", file: "bounding_linux.go", opt: stepBounding},
	{name: "report namespaces", file: "report_linux.go", opt: stepReportNamespaces},
	{name: "ids", file: "ids_linux.go", opt: stepIDs},
	{name: "pdeathsig", file: "pdeathsig_linux.go", opt: stepPdeathsig},
	{name: "cwd", file: "cwd_linux.go", opt: stepCwd},
	{name: "capabilities", file: "capabilities_linux.go", opt: stepCapabilities},
	{name: "no_new_privs", file: "nonewprivs_linux.go", opt: stepNoNewPrivs},
	{name: "threads", file: "threads_linux.go", opt: stepThreadsCheck},
	{name: "landlock", file: "landlock_linux.go", opt: stepLandlock},
	{name: "rlimit command", file: "rlimit_linux.go", opt: stepRlimitCommand},
	{name: "seccomp", file: "seccomp_linux.go", opt: stepSeccomp},
	{name: "report", file: "report_linux.go", opt: stepReport},
	{name: "setup fds", file: "fds_linux.go", run: stepSetupFDs},
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
	// mnt is the mount step's state, from the step "mount" to the step
	// "mount finish" (nil without a new mount namespace).
	mnt *mounter
}

// closeMounter releases the mount step's descriptors.
func (c *child) closeMounter() {
	if c.mnt != nil {
		c.mnt.close()
		c.mnt = nil
	}
}

// do runs the step.
func (s *step) do(c *child) error {
	if s.opt != nil {
		return s.opt(c.o, c.cfg, c.a)
	}
	return s.run(c)
}

// Setup runs the child's steps in the calling process: with o nil, the
// ones every child runs (closing stray descriptors, taking the
// arguments); with o, all of them, applying o. It must run on a goroutine
// locked to its thread, in a process that was created with o's
// namespaces. It returns the JSON of what was applied (nil without o).
func Setup(o *sandbox.Options, cfg Config) ([]byte, error) {
	c := &child{o: o, cfg: cfg}
	defer c.closeMounter()
	readOverflowIDs(o)
	if o != nil {
		c.a = &Applied{Applied: sandbox.Applied{Namespaces: map[string]string{}}}
	}
	for i := range steps {
		s := &steps[i]
		if o == nil && !s.always {
			continue
		}
		if err := s.do(c); err != nil {
			return nil, err
		}
	}
	if o == nil {
		return nil, nil
	}
	return json.Marshal(&c.a.Applied)
}

// unwrapPath turns an *os.PathError into its errno so that the step's own
// Error names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
