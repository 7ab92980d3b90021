package integration

// sandboxrun --report and --strict.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

type cliReportDoc struct {
	Version   int              `json:"version"`
	Command   []string         `json:"command"`
	Requested *sandbox.Options `json:"requested"`
	Seccomp   *struct {
		Name  string `json:"name"`
		Rules int    `json:"rules"`
	} `json:"seccompProfile"`
	Applied *struct {
		Namespaces      map[string]string    `json:"namespaces"`
		UIDMap          string               `json:"uidMap"`
		UID             int                  `json:"uid"`
		Hostname        string               `json:"hostname"`
		Rlimits         map[string][2]uint64 `json:"rlimits"`
		Capabilities    map[string]string    `json:"capabilities"`
		NoNewPrivileges bool                 `json:"noNewPrivileges"`
		Seccomp         *struct {
			Instructions int    `json:"instructions"`
			Digest       string `json:"digest"`
		} `json:"seccomp"`
	} `json:"applied"`
	Parent struct {
		Pid           int      `json:"pid"`
		NewNamespaces []string `json:"newNamespaces"`
	} `json:"parent"`
	Strict *struct {
		OK      bool     `json:"ok"`
		Missing []string `json:"missing"`
	} `json:"strict"`
	Result *struct {
		ExitCode int `json:"exitCode"`
	} `json:"result"`
}

func readReport(t *testing.T, path string) *cliReportDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r cliReportDoc
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	return &r
}

// TestCLIReport: --report records what the sandbox applied, before the
// command runs (the command reads the file), and the result after.
func TestCLIReport(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "report.json")
	// The command waits for the report to appear: it is written as soon
	// as the sandbox's record arrives, while the command runs.
	res := sbx(t, "", "--report", path, "--hostname", "rep", "--rlimit", "nofile=64", "--", "/bin/sh", "-c", "exit 7")
	if res.code != 7 {
		t.Fatalf("exit %d, stderr %q", res.code, res.err)
	}
	r := readReport(t, path)
	if r.Version != 1 || len(r.Command) != 3 || r.Applied == nil {
		t.Fatalf("report: %+v", r)
	}
	a := r.Applied
	if !a.NoNewPrivileges || a.Seccomp == nil || a.Seccomp.Instructions == 0 || len(a.Seccomp.Digest) != 64 {
		t.Errorf("applied: nnp %v seccomp %+v", a.NoNewPrivileges, a.Seccomp)
	}
	if a.Hostname != "rep" || a.Rlimits["RLIMIT_NOFILE"] != [2]uint64{64, 64} || a.Capabilities["effective"] != "0x0" {
		t.Errorf("applied: hostname %q rlimits %v caps %v", a.Hostname, a.Rlimits, a.Capabilities)
	}
	for _, n := range []string{"pid", "mnt", "uts", "ipc"} {
		if a.Namespaces[n] == "" || a.Namespaces[n] == ownNS(t, n) {
			t.Errorf("applied: %s namespace %q not new", n, a.Namespaces[n])
		}
		found := false
		for _, x := range r.Parent.NewNamespaces {
			found = found || x == n
		}
		if !found {
			t.Errorf("parent view: %s not among the new namespaces %v", n, r.Parent.NewNamespaces)
		}
	}
	if r.Seccomp == nil || r.Seccomp.Name != "default" || r.Seccomp.Rules == 0 || r.Parent.Pid == 0 {
		t.Errorf("seccomp profile %+v parent %+v", r.Seccomp, r.Parent)
	}
	if r.Result == nil || r.Result.ExitCode != 7 {
		t.Errorf("result: %+v", r.Result)
	}
	if r.Requested == nil || !r.Requested.NoNewPrivileges || r.Requested.Hostname != "rep" {
		t.Errorf("requested: %+v", r.Requested)
	}
	// The report exists before the command ends: the command saw it.
	res = sbx(t, "", "--report", path+"2", "--", "/bin/sh", "-c",
		fmt.Sprintf(`i=0; while [ ! -s %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; [ -s %s ] && echo seen`, path+"2", path+"2"))
	if res.code != 0 || res.out != "seen\n" {
		t.Errorf("the report was not written while the command ran: %+v", res)
	}
	// - writes it to stdout.
	res = sbx(t, "", "--report", "-", "--", "true")
	var v map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.out), &v) != nil || v["applied"] == nil {
		t.Errorf("--report -: %+v", res)
	}
}

// TestCLIStrict: --strict runs when everything was applied and refuses
// what could only be met in part.
func TestCLIStrict(t *testing.T) {
	path := filepath.Join(tempDir(t), "r.json")
	mustRun(t, "--strict", "--report", path, "--hostname", "s", "--rlimit", "nofile=100", "--cap-add", "CHOWN", "--", "true")
	if r := readReport(t, path); r.Strict == nil || !r.Strict.OK {
		t.Errorf("strict: %+v", r.Strict)
	}
	r := sbx(t, "", "--strict", "--landlock-best-effort", "--landlock-ro", "/", "--", "true")
	if r.code != 125 || !regexp.MustCompile(`^sandboxrun: strict: .*Landlock best effort.*\n$`).MatchString(r.err) {
		t.Errorf("strict + best effort: exit %d stderr %q", r.code, r.err)
	}
	if !root() {
		r := sbx(t, "", "--strict", "--memory", "64m", "--cgroups-best-effort", "--", "true")
		if r.code != 125 || !strings.Contains(r.err, "strict: cgroup best effort") {
			t.Errorf("strict + cgroup best effort: exit %d stderr %q", r.code, r.err)
		}
	}
}

// TestCLIStrictNonRootUser: --strict runs a bundle whose process.user is
// not root. The process is no longer dumpable once its ids change, and its
// /proc/self/ns then reads EACCES for it: the namespaces are recorded
// before the ids step, so the report has them and --strict finds each.
func TestCLIStrictNonRootUser(t *testing.T) {
	// Rootless, runc spec --rootless maps one id: no other user to be.
	testreq.RootOnly(t, "a leased id range with a user 1000 in it")
	dir := makeBundle(t)
	editConfig(t, dir, func(spec map[string]any) {
		p := jsonObj(spec, "process")
		p["args"] = []any{"id", "-u"}
		p["terminal"] = false
		u := jsonObj(spec, "process", "user")
		u["uid"], u["gid"] = 1000, 1000
		delete(jsonObj(spec, "process", "capabilities"), "ambient")
	})
	path := filepath.Join(tempDir(t), "r.json")
	r := sbx(t, "", "run", "--bundle", dir, "--strict", "--report", path)
	if r.code != 0 || r.out != "1000\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.out, r.err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Applied struct {
			Namespaces map[string]string `json:"namespaces"`
		} `json:"applied"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"user", "pid", "mnt", "net", "uts", "ipc"} {
		if !strings.HasPrefix(doc.Applied.Namespaces[ns], ns+":[") {
			t.Errorf("the report's %s namespace: %q", ns, doc.Applied.Namespaces[ns])
		}
	}
}
