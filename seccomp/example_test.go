package seccomp_test

import (
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/nsfork/nsfork/seccomp"
)

func ExampleCompile() {
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
	prog, err := seccomp.Compile(p, "amd64")
	if err != nil {
		fmt.Println(err)
		return
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		fmt.Println(err)
		return
	}
	// x/net/bpf's VM reads words big-endian; the kernel reads seccomp_data
	// in the native (here little-endian) order: store each word big-endian.
	data := func(nr uint32, arg1 uint64) []byte {
		b := make([]byte, 64)
		binary.BigEndian.PutUint32(b[0:], nr)
		binary.BigEndian.PutUint32(b[4:], 0xc000003e) // AUDIT_ARCH_X86_64
		binary.BigEndian.PutUint32(b[24:], uint32(arg1))
		binary.BigEndian.PutUint32(b[28:], uint32(arg1>>32))
		return b
	}
	for _, c := range []struct {
		what string
		nr   uint32
		arg1 uint64
	}{{"write", 1, 0}, {"openat", 257, 0}, {"kill(pid, 0)", 62, 0}, {"kill(pid, SIGKILL)", 62, 9}, {"a syscall newer than the tables", 999, 0}} {
		r, _ := vm.Run(data(c.nr, c.arg1))
		fmt.Printf("%s: %#x\n", c.what, uint32(r))
	}
	// Output:
	// write: 0x7fff0000
	// openat: 0x50001
	// kill(pid, 0): 0x7fff0000
	// kill(pid, SIGKILL): 0x50001
	// a syscall newer than the tables: 0x50026
}
