package seccomp

import (
	"os/exec"
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
		table := arches[tc.arch].table
		names := make([]string, 0, len(table))
		for n := range table {
			names = append(names, n)
		}
		sort.Strings(names)
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
