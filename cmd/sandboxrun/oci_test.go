package main

import (
	"slices"
	"testing"
)

// TestOCIDispatch: which argument lists are runc's command line and which
// stay sandboxrun's own.
func TestOCIDispatch(t *testing.T) {
	for _, c := range []struct {
		args []string
		oci  bool
		verb string
		rest []string
	}{
		{[]string{"--root", "/r", "state", "x"}, true, "state", []string{"x"}},
		{[]string{"--root=/r", "--log", "l", "--log-format", "json", "create", "--bundle", "b", "x"}, true, "create", []string{"--bundle", "b", "x"}},
		{[]string{"state", "x"}, true, "state", []string{"x"}},
		{[]string{"create", "x", "-b", "b"}, true, "create", []string{"x", "-b", "b"}},
		{[]string{"features"}, true, "features", []string{}},
		{[]string{"exec", "x", "ls"}, true, "exec", []string{"x", "ls"}},
		{[]string{"run", "--bundle", "b", "x"}, true, "run", []string{"--bundle", "b", "x"}},
		{[]string{"run", "-d", "-b", "b", "--pid-file", "p", "x"}, true, "run", []string{"-d", "-b", "b", "--pid-file", "p", "x"}},
		{[]string{"--root", "/r", "run", "x"}, true, "run", []string{"x"}},
		{[]string{"--debug", "--rootless", "run", "x"}, true, "run", nil},
		// sandboxrun's own.
		{[]string{"run", "--bundle", "b"}, false, "", nil},
		{[]string{"run", "--bundle", "b", "--", "sh"}, false, "", nil},
		{[]string{"run", "--bundle", "b", "sh", "-c", "x"}, false, "", nil},
		{[]string{"run", "--memory", "1g", "x"}, false, "", nil},
		{[]string{"--rootless", "run", "x"}, false, "", nil},
		{[]string{"--", "state"}, false, "", nil},
		{[]string{"--unshare-net", "--", "ls"}, false, "", nil},
		{[]string{"doctor"}, false, "", nil},
		{[]string{"true"}, false, "", nil},
		{nil, false, "", nil},
	} {
		_, verb, rest, ok := ociCommand(c.args)
		if ok != c.oci || verb != c.verb || (c.rest != nil && !slices.Equal(rest, c.rest)) {
			t.Errorf("%q: runc form %v verb %q rest %q; want %v %q %q", c.args, ok, verb, rest, c.oci, c.verb, c.rest)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"TERM": 15, "SIGKILL": 9, "kill": 9, "9": 9, "usr1": 10} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65", "NOPE", "-1"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q): no error", bad)
		}
	}
}
