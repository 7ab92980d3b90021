package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// completionReachable reports whether the command line args can show or
// run cobra's default "completion" command: it names the command (or
// help, or the shell's __complete request), or asks for help, before the
// first "--". Building that command and its four shell subcommands
// formats their help texts and allocates their flags, which a start that
// never reaches it need not pay (sandboxrun -- CMD, and so each launch).
// SilenceUsage keeps errors from listing the commands, and the root
// takes arbitrary arguments, so no other command line shows it.
func completionReachable(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--":
			return false
		case a == "completion" || a == "help" || a == cobra.ShellCompRequestCmd || a == cobra.ShellCompNoDescRequestCmd:
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
