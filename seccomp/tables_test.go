package seccomp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestTablesAgainstLibseccomp checks every generated name against Debian's
// scmp_sys_resolver (libseccomp). Names libseccomp does not know on that
// architecture (it prints a negative number) are counted, not compared.
func TestTablesAgainstLibseccomp(t *testing.T) {
	resolver := needTool(t, "scmp_sys_resolver", "seccomp")
	for _, tc := range []struct {
		arch specs.Arch
		name string
	}{{specs.ArchX86_64, "x86_64"}, {specs.ArchX86, "x86"}, {specs.ArchX32, "x32"}, {specs.ArchAARCH64, "aarch64"}, {specs.ArchARM, "arm"}} {
		table := map[string]int{}
		names := make([]string, 0, len(arches.Value(tc.arch).table.entries))
		for _, e := range arches.Value(tc.arch).table.entries {
			table[e.name] = e.nr
			names = append(names, e.name)
		}
		var mu sync.Mutex
		var differ, unknown []string
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out, err := exec.Command(resolver, "-a", tc.name, n).Output()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("scmp_sys_resolver -a %s %s: %v", tc.name, n, err)
					return
				}
				got, err := strconv.Atoi(strings.TrimSpace(string(out)))
				switch {
				case err != nil:
					t.Errorf("scmp_sys_resolver -a %s %s: %q", tc.name, n, out)
				case got < 0:
					unknown = append(unknown, n)
				case got != table[n]:
					differ = append(differ, n+"="+strconv.Itoa(table[n])+"/libseccomp "+strconv.Itoa(got))
				}
			}()
		}
		wg.Wait()
		sort.Strings(unknown)
		sort.Strings(differ)
		t.Logf("%s: %d names, %d agree, %d unknown to libseccomp %v, %d differ %v",
			tc.name, len(names), len(names)-len(unknown)-len(differ), len(unknown), unknown, len(differ), differ)
		if len(differ) > 3 {
			t.Errorf("%s: %d names differ from libseccomp: %v", tc.name, len(differ), differ)
		}
		if len(unknown) > len(names)/10 {
			t.Errorf("%s: libseccomp knows too few names (%d unknown): wrong table?", tc.name, len(unknown))
		}
	}
}

func TestSyscallName(t *testing.T) {
	for _, c := range []struct {
		arch string
		nr   int
		want string
	}{
		{"amd64", 0, "read"}, {"amd64", 59, "execve"}, {"amd64", x32SyscallBit | 1, "write"},
		{"386", 11, "execve"}, {"arm64", 221, "execve"}, {"arm", 0x0f0005, "set_tls"},
		{"amd64", 99999, "syscall_99999"}, {"mips", 1, "syscall_1"},
	} {
		if got := SyscallName(c.arch, c.nr); got != c.want {
			t.Errorf("SyscallName(%q, %d) = %q, want %q", c.arch, c.nr, got, c.want)
		}
	}
}

// TestTablesCurrent runs the generator (go generate) into a temporary file
// and compares it with zsyscalls.go from the package clause on (the header
// names the linux-libc-dev version of the machine that generated it): a
// change of go.mod's golang.org/x/sys or of the generator that was not
// followed by `go generate ./seccomp` fails here.
func TestTablesCurrent(t *testing.T) {
	goTool := needTool(t, "go", "golang-go")
	if _, err := os.Stat("/usr/include/x86_64-linux-gnu/asm/unistd_x32.h"); err != nil {
		need(t, "the x32 UAPI header (Debian package linux-libc-dev): %v", err)
	}
	out := filepath.Join(t.TempDir(), "zsyscalls.go")
	if b, err := exec.Command(goTool, "run", "./internal/gensyscalls", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gensyscalls: %v\n%s", err, b)
	}
	body := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("\npackage seccomp\n"))
		if i < 0 {
			t.Fatalf("%s: no package clause", path)
		}
		return b[i:]
	}
	if !bytes.Equal(body("zsyscalls.go"), body(out)) {
		t.Errorf("zsyscalls.go is not what the generator writes now: run go generate ./seccomp")
	}
}

// TestTablesSorted: lookup searches by binary search, so every table must
// be sorted by name with no name twice, and maxNr must be its highest
// number.
func TestTablesSorted(t *testing.T) {
	for _, p := range arches {
		name, a := p.Key, p.Val
		es := a.table.entries
		if !slices.IsSortedFunc(es, func(x, y sysEntry) int { return strings.Compare(x.name, y.name) }) {
			t.Errorf("%s: table not sorted by name", name)
		}
		top := 0
		for i, e := range es {
			if i > 0 && es[i-1].name == e.name {
				t.Errorf("%s: %q twice", name, e.name)
			}
			top = max(top, e.nr)
			if nr, ok := a.table.lookup(e.name); !ok || nr != e.nr {
				t.Errorf("%s: lookup(%q) = %d, %v; want %d", name, e.name, nr, ok, e.nr)
			}
			if !knownName(e.name) {
				t.Errorf("%s: %q missing from anyArchSyscalls", name, e.name)
			}
		}
		if uint32(top) != a.table.maxNr {
			t.Errorf("%s: maxNr %#x, highest number %#x", name, a.table.maxNr, top)
		}
		if _, ok := a.table.lookup("no_such_syscall"); ok {
			t.Errorf("%s: lookup found no_such_syscall", name)
		}
	}
	if !slices.IsSorted(anyArchSyscalls) {
		t.Error("anyArchSyscalls not sorted")
	}
}
