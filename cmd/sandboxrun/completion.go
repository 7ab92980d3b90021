package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// reachable reports whether the command line args can show or run the
// subcommand called name, or its flags: it names it, help or the shell's
// __complete request, or asks for help, before the first "--". What only
// such a command line uses is built only then: cobra's default
// "completion" command (four shell subcommands with formatted help texts
// and flags), the run subcommand's copy of every run flag, and the flags'
// completion functions. A start that never reaches them (sandboxrun --
// CMD, and so each launch) need not pay for them. SilenceUsage keeps
// errors from listing commands or flags, and the root takes arbitrary
// arguments (no "unknown command" suggestions), so no other command line
// shows them.
func reachable(args []string, name string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == name || a == "help" || a == cobra.ShellCompRequestCmd || a == cobra.ShellCompNoDescRequestCmd:
			return true
		case strings.HasPrefix(a, "--help"):
			return true
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsRune(a, 'h'):
			// -h, or h among combined short flags (-vh), or a short
			// flag's value holding an h: taken as reachable, to be safe.
			return true
		}
	}
	return false
}
