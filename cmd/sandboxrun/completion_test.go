package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCompletionReachable: the command lines that show or run the
// completion command keep it; on the others, cobra with the command in
// place resolves to a command that is not it (nor one of its shells), so
// leaving it out changes nothing they do.
func TestCompletionReachable(t *testing.T) {
	for _, args := range [][]string{
		{"completion", "bash"}, {"help"}, {"help", "completion"}, {"--help"}, {"-h"},
		{"run", "--help"}, {"__complete", ""}, {"__completeNoDesc", "comp"}, {"--unshare-net", "completion"},
	} {
		if !completionReachable(args) {
			t.Errorf("%q: completion command left out", args)
		}
	}
	for _, args := range [][]string{
		{"--", "completion"}, {"--unshare-net", "--read-only", "--", "/bin/true"}, {"--version"},
		{"doctor"}, {"true"}, {"--hostname", "box", "--", "help"}, {"--", "sh", "-h"}, {"cleanup"},
	} {
		if completionReachable(args) {
			t.Errorf("%q: completion command built though not reachable", args)
		}
		var out bytes.Buffer
		root := newRoot(stdio{strings.NewReader(""), &out, &out}, new(int))
		root.InitDefaultCompletionCmd(args...)
		cmd, _, err := root.Find(args)
		if err != nil {
			continue
		}
		for c := cmd; c != nil; c = c.Parent() {
			if c.Name() == "completion" {
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
	if code := run([]string{"completion", "bash"}, stdio{strings.NewReader(""), &out, &out}); code != 0 || !strings.Contains(out.String(), "bash completion") {
		t.Errorf("completion bash: exit %d, %.200q", code, out.String())
	}
}
