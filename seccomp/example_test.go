package seccomp_test

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/seccomp"
)

func ExampleCompileProgram() {
	eperm := uint(1)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow},
			{Names: []string{"kill"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: 0}}},
		},
	}
	prog, err := seccomp.CompileProgram(p, "amd64")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range []struct {
		what string
		nr   uint32
		arg1 uint64
	}{{"write", 1, 0}, {"openat", 257, 0}, {"kill(pid, 0)", 62, 0}, {"kill(pid, SIGKILL)", 62, 9}, {"a syscall newer than the tables", 999, 0}} {
		r, _ := prog.Action("amd64", c.nr, 0, c.arg1)
		fmt.Printf("%s: %#x\n", c.what, r)
	}
	// Output:
	// write: 0x7fff0000
	// openat: 0x50001
	// kill(pid, 0): 0x7fff0000
	// kill(pid, SIGKILL): 0x50001
	// a syscall newer than the tables: 0x50026
}
