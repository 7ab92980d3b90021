package seccomp

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// The realistic syscall mix is testdata/syscall_mix_go_build.txt, the
// output of `strace -f -c -o FILE go build -o /dev/null ./seccomp/` (cold
// build cache, Debian 12, Go 1.26) on the machine this package was written
// on: 2 cores, futex, nanosleep, read, write, fcntl, openat, ... weighted
// by their call counts.
type mixEntry struct {
	nr    uint32
	calls int
}

func syscallMix(t testing.TB) []mixEntry {
	f, err := os.Open("testdata/syscall_mix_go_build.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mix []mixEntry
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) < 5 || fs[len(fs)-1] == "total" {
			continue
		}
		calls, err := strconv.Atoi(fs[3])
		if err != nil {
			continue
		}
		nr, ok := amd64Syscalls.lookup(fs[len(fs)-1])
		if !ok {
			t.Fatalf("mix: unknown syscall %q", fs[len(fs)-1])
		}
		mix = append(mix, mixEntry{uint32(nr), calls})
	}
	if len(mix) < 20 {
		t.Fatalf("mix: only %d syscalls", len(mix))
	}
	return mix
}

// meanExecuted runs every syscall of the mix (realistic arguments: small
// fds and flags, zero elsewhere) on prog and returns the call-weighted mean
// number of instructions executed.
func meanExecuted(t testing.TB, prog []bpf.RawInstruction, mix []mixEntry) float64 {
	var sum, n float64
	for _, m := range mix {
		d := seccompData{nr: m.nr, arch: auditArchX86_64, args: [6]uint64{3, 0x80000, 0, 0, 0, 0}}
		_, steps := run(t, prog, d.bytes(nil))
		sum += float64(steps * m.calls)
		n += float64(m.calls)
	}
	return sum / n
}

func BenchmarkCompileDefault(b *testing.B) {
	p, err := DefaultProfile(nil, "amd64")
	if err != nil {
		b.Fatal(err)
	}
	var prog []bpf.Instruction
	for b.Loop() {
		prog, err = Compile(p, "amd64")
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(prog)), "insns")
}

// BenchmarkDefaultProfileFilter reports, for Docker's default profile
// resolved without capabilities and with root's, the program length and
// the mean instructions executed per syscall of the mix, nsfork beside
// libseccomp 2.5.4 (needs python3-seccomp); the timed loop runs the nsfork
// filter over the mix on x/net/bpf's VM.
func BenchmarkDefaultProfileFilter(b *testing.B) {
	if runtime.GOARCH != "amd64" {
		need(b, "amd64 host")
	}
	mix := syscallMix(b)
	for _, c := range []struct {
		name string
		caps []string
	}{{"nocaps", nil}, {"root", allCaps()}} {
		b.Run(c.name, func(b *testing.B) {
			p, err := DefaultProfile(c.caps, "amd64")
			if err != nil {
				b.Fatal(err)
			}
			mine, err := Compile(p, "amd64")
			if err != nil {
				b.Fatal(err)
			}
			myRaw, _ := bpf.Assemble(mine)
			libRaw, _ := libseccompCompile(b, p)
			vm := mustVM(b, myRaw)
			inputs := make([][]byte, len(mix))
			for i, m := range mix {
				d := seccompData{nr: m.nr, arch: auditArchX86_64, args: [6]uint64{3, 0x80000}}
				inputs[i] = d.vmBytes(nil)
			}
			i := 0
			for b.Loop() {
				vm.Run(inputs[i%len(inputs)])
				i++
			}
			b.ReportMetric(float64(len(myRaw)), "nsfork-insns")
			b.ReportMetric(float64(len(libRaw)), "libseccomp-insns")
			b.ReportMetric(meanExecuted(b, myRaw, mix), "nsfork-exec/syscall")
			b.ReportMetric(meanExecuted(b, libRaw, mix), "libseccomp-exec/syscall")
		})
	}
}

// TestExecutedNotWorseThanLibseccomp holds the filter for Docker's default
// profile to the target: no more instructions executed per syscall of the
// mix than libseccomp's, and a shorter program.
func TestExecutedNotWorseThanLibseccomp(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		need(t, "amd64 host")
	}
	mix := syscallMix(t)
	for _, caps := range [][]string{nil, allCaps()} {
		p, err := DefaultProfile(caps, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		mine, err := Compile(p, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		myRaw, _ := bpf.Assemble(mine)
		libRaw, _ := libseccompCompile(t, p)
		me, lib := meanExecuted(t, myRaw, mix), meanExecuted(t, libRaw, mix)
		t.Logf("caps=%d: instructions nsfork %d, libseccomp %d; executed per syscall nsfork %.2f, libseccomp %.2f",
			len(caps), len(myRaw), len(libRaw), me, lib)
		if me > lib {
			t.Errorf("nsfork executes %.2f instructions per syscall, libseccomp %.2f", me, lib)
		}
	}
}

var _ = specs.ActAllow
