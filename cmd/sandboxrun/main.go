// Command sandboxrun runs a command in a sandbox: new namespaces, id maps,
// rlimits, capabilities, no_new_privs, seccomp, Landlock, a root file
// system, mounts and cgroup limits, as flags or as an OCI config.json.
//
// A bare `sandboxrun -- CMD` runs CMD in new user, pid,
// mount, uts and ipc namespaces (and, as root, network), with every
// capability dropped, no_new_privs and Docker's default seccomp profile.
// The reference is in cmd/sandboxrun/README.md.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/cgroups"
	"github.com/nsfork/nsfork/internal/warm"
	"github.com/nsfork/nsfork/sandbox"
)

const version = "0.1.0"

func main() {
	// sandboxrun re-executes itself for every sandbox: the child must be
	// taken over before anything else runs.
	fork.Init()
	if warm.ServeRequested() {
		os.Exit(serveWarm())
	}
	os.Exit(run(os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
}

const examples = `  # A shell with the secure defaults: new namespaces, no capabilities,
  # no_new_privs, Docker's seccomp profile.
  sandboxrun -- /bin/sh

  # No network, a host name, a read-only host root with a private /tmp.
  sandboxrun --unshare-net --hostname box --read-only --tmpfs /tmp -- make test

  # A busybox root file system with its own /proc and a minimal /dev.
  sandboxrun --rootfs ./rootfs --proc --dev -- /bin/sh

  # Limits: 512 MiB, 100 processes, 1.5 CPUs, 1024 open files, 60 seconds.
  sandboxrun --memory 512m --pids 100 --cpus 1.5 --rlimit nofile=1024 --timeout 60s -- ./job

  # Only what is needed to bind a low port, nothing else.
  sandboxrun --cap-add NET_BIND_SERVICE -- ./server

  # Record what was applied, and refuse to run if anything was not.
  sandboxrun --report applied.json --strict -- true

  # An OCI bundle, as made by 'runc spec --rootless'.
  sandboxrun run --bundle ./bundle

  # Check this host.
  sandboxrun doctor`

// run is main without the exit, for tests.
func run(args []string, io stdio) int {
	if g, verb, rest, ok := ociCommand(args); ok {
		return runOCI(g, verb, rest, io)
	}
	code := 0
	root := newRoot(io, &code, args)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		printErr(io.err, oneLine(err.Error()))
		if code == 0 {
			code = exitLauncher
		}
	}
	return code
}

// newRoot builds the command line for args: what args cannot reach is
// left out (see reachable).
func newRoot(io stdio, code *int, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "sandboxrun [flags] [--] COMMAND [ARG...]",
		Short: "Run a command in a sandbox",
		Long: `sandboxrun runs COMMAND isolated: in new namespaces, with id maps, rlimits,
capabilities, no_new_privs, seccomp, Landlock, a root file system, mounts and
cgroup limits, given as flags or as an OCI config.json.

With no flags, COMMAND runs in new user, pid, mount, uts and
ipc namespaces (and, as root, a new network namespace), as root inside, with
every capability dropped, no_new_privs, Docker's default seccomp profile and
RLIMIT_CORE 0, and dies with sandboxrun. Flags add to that or take from it.

Exit status: COMMAND's own; 128+N when signal N killed it; 124 when --timeout
expired; 126 when COMMAND cannot be executed; 127 when it is not found; 125
when sandboxrun or the sandbox setup failed (one line on stderr says which
step, path and errno).`,
		Example:           examples,
		Version:           version,
		Args:              cobra.ArbitraryArgs,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
	}
	root.CompletionOptions.DisableDefaultCmd = !reachable(args, "completion")
	shell := reachable(args, cobra.ShellCompRequestCmd) || reachable(args, "completion")
	root.SetIn(io.in)
	root.SetOut(io.out)
	root.SetErr(io.err)
	root.Flags().SetInterspersed(false)
	rf := addRunFlags(root.Flags())
	root.RunE = func(cmd *cobra.Command, args []string) error {
		*code = runCommand(rf, args, io)
		return nil
	}
	if shell {
		complete(root)
	}

	runCmd := &cobra.Command{
		Use:   "run [flags] [--bundle DIR | --config FILE] [--] [COMMAND [ARG...]]",
		Short: "Run a command or an OCI bundle in a sandbox (the same as sandboxrun without a subcommand)",
		Long: `run is sandboxrun's main job under a name: with --bundle DIR it runs the OCI
bundle DIR (DIR/config.json, as 'runc spec' writes it, with its rootfs), and
COMMAND, when given, replaces the config's process.args. Every flag of
sandboxrun applies on top of the config. Fields of the config that nsfork
cannot honour (hooks, apparmorProfile, linux.devices, ...) are an error.`,
		Example: `  mkdir -p bundle/rootfs/bin && cp /bin/busybox bundle/rootfs/bin/ && ln -s busybox bundle/rootfs/bin/sh
  (cd bundle && runc spec --rootless)
  sandboxrun run --bundle bundle -- /bin/sh -c 'id; hostname'`,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	if reachable(args, "run") {
		runCmd.Flags().SetInterspersed(false)
		rrf := addRunFlags(runCmd.Flags())
		runCmd.RunE = func(cmd *cobra.Command, args []string) error {
			*code = runCommand(rrf, args, io)
			return nil
		}
		if shell {
			complete(runCmd)
		}
	}
	root.AddCommand(runCmd)

	var doctorJSON bool
	doctor := &cobra.Command{
		Use:   "doctor",
		Short: "Check what this host lets sandboxrun do",
		Long: `doctor checks unprivileged user namespaces (sysctls and Ubuntu's AppArmor
restriction), /etc/subuid and newuidmap, seccomp, Landlock, cgroups (version
and delegation), the root file system (pivot_root, or MS_MOVE+chroot on an
initramfs), and starts a sandbox with the defaults. It exits 0 when the
defaults work, 1 when they do not.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			*code = runDoctor(io.out, doctorJSON)
			return nil
		},
	}
	doctor.Flags().BoolVar(&doctorJSON, "json", false, "print the checks as JSON")
	root.AddCommand(doctor)

	var olderThan time.Duration
	cleanup := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove stale sandbox cgroups left by killed launchers",
		Long: `cleanup removes the nsfork-* cgroups under your own cgroup whose launcher is
gone or that hold no process, if older than --older-than. sandboxrun removes
its cgroup itself when it exits; this is for launchers that were killed.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := cgroups.Cleanup(olderThan)
			for _, r := range removed {
				fmt.Fprintln(io.out, "removed", r)
			}
			if err != nil {
				*code = exitLauncher
				return fmt.Errorf("cleanup: %s", message(err))
			}
			if len(removed) == 0 {
				fmt.Fprintln(io.out, "no stale cgroups")
			}
			return nil
		},
	}
	cleanup.Flags().DurationVar(&olderThan, "older-than", time.Minute, "only cgroups at least this old")
	root.AddCommand(cleanup)
	return root
}

// runCommand builds the sandbox from the flags and runs it.
func runCommand(rf *runFlags, args []string, io stdio) int {
	sigs := notifyLaunch()
	defer sigs.StopAsync()
	pl, err := rf.build(args)
	if err != nil {
		printErr(io.err, oneLine(err.Error()))
		return exitLauncher
	}
	if err := pl.opts.Validate(); err != nil {
		printErr(io.err, validationMessage(err))
		return exitLauncher
	}
	pl.signals = sigs
	return execute(pl, rf, io)
}

// validationMessage puts every problem Validate found on one line.
func validationMessage(err error) string {
	var parts []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok && !isSandboxError(e) {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		parts = append(parts, strings.TrimPrefix(e.Error(), "sandbox: "))
	}
	walk(err)
	return "invalid sandbox: " + oneLine(strings.Join(parts, "; "))
}

func isSandboxError(e error) bool {
	var se *sandbox.Error
	return errors.As(e, &se) && e == error(se)
}

// complete registers shell completion for flag values.
func complete(cmd *cobra.Command) {
	fixed := func(vals ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp)
	}
	caps := func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		out := []string{"ALL"}
		for _, n := range sandbox.CapabilityNames() {
			out = append(out, strings.TrimPrefix(n, "CAP_"))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	cmd.RegisterFlagCompletionFunc("cap-add", caps)
	cmd.RegisterFlagCompletionFunc("cap-drop", caps)
	cmd.RegisterFlagCompletionFunc("share", fixed("user", "pid", "net", "ipc", "uts", "cgroup", "time", "mount"))
	cmd.RegisterFlagCompletionFunc("seccomp", func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		return []string{"default", "unconfined"}, cobra.ShellCompDirectiveDefault
	})
	cmd.RegisterFlagCompletionFunc("rlimit", func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, n := range rlimitShortNames() {
			out = append(out, n+"=")
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	for _, d := range []string{"rootfs", "bundle", "chdir"} {
		cmd.MarkFlagDirname(d)
	}
	cmd.MarkFlagFilename("config", "json")
}
