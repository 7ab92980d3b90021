package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReachable: the command lines that show or run the completion
// command, or the run subcommand, keep them; on the others, cobra with
// everything in place resolves to a command that is neither (nor one of
// completion's shells), so leaving them out changes nothing they do.
func TestReachable(t *testing.T) {
	for _, args := range [][]string{
		{"completion", "bash"}, {"help"}, {"help", "completion"}, {"--help"}, {"-h"},
		{"run", "--help"}, {"__complete", ""}, {"__completeNoDesc", "comp"}, {"--unshare-net", "completion"},
	} {
		if args[0] != "completion" && args[0] != "--unshare-net" && !reachable(args, "run") {
			t.Errorf("%q: run flags left out", args)
		}
		if !reachable(args, "completion") {
			t.Errorf("%q: completion command left out", args)
		}
	}
	for _, args := range [][]string{
		{"--", "completion"}, {"--unshare-net", "--read-only", "--", "/bin/true"}, {"--version"},
		{"doctor"}, {"true"}, {"--hostname", "box", "--", "help"}, {"--", "sh", "-h"}, {"cleanup"},
	} {
		if reachable(args, "completion") || reachable(args, "run") {
			t.Errorf("%q: completion command or run flags built though not reachable", args)
		}
		var out bytes.Buffer
		root := newRoot(stdio{strings.NewReader(""), &out, &out}, new(int), []string{"help"})
		root.InitDefaultCompletionCmd()
		cmd, _, err := root.Find(args)
		if err != nil {
			continue
		}
		for c := cmd; c != nil; c = c.Parent() {
			if c.Name() == "completion" || c.Name() == "run" {
				t.Errorf("%q: resolves to %q", args, cmd.CommandPath())
			}
		}
	}
	var out bytes.Buffer
	run([]string{"--help"}, stdio{strings.NewReader(""), &out, &out})
	if !strings.Contains(out.String(), "completion") {
		t.Errorf("--help lists no completion command:\n%s", out.String())
	}
	out.Reset()
	out.Reset()
	run([]string{"help", "run"}, stdio{strings.NewReader(""), &out, &out})
	if !strings.Contains(out.String(), "--unshare-net") {
		t.Errorf("help run lists no run flags:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"completion", "bash"}, stdio{strings.NewReader(""), &out, &out}); code != 0 || !strings.Contains(out.String(), "bash completion") {
		t.Errorf("completion bash: exit %d, %.200q", code, out.String())
	}
}
