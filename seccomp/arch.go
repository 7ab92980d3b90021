package seccomp

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/internal/lookup"
)

// AUDIT_ARCH_* values of <linux/audit.h>, as seccomp_data.arch holds them.
const (
	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAARCH64 = 0xc00000b7
	auditArchARM     = 0x40000028

	// x32SyscallBit marks an x32 system call number (__X32_SYSCALL_BIT).
	x32SyscallBit = 0x40000000
)

// archInfo describes one seccomp architecture (an ABI).
type archInfo struct {
	name   specs.Arch
	audit  uint32
	table  *sysTable
	bits32 bool // only the low 32 bits of an argument exist
	// lo and hi bound the syscall numbers of the ABI inside its audit arch.
	lo, hi uint32
}

// sysEntry is one name of a syscall table and its number.
type sysEntry struct {
	name string
	nr   int
}

// sysTable is a generated syscall table (zsyscalls.go): its entries sorted
// by name, static data that costs nothing until it is searched.
type sysTable struct {
	maxNr   uint32 // highest number in entries
	entries []sysEntry
}

// lookup returns the number of the system call name.
func (t *sysTable) lookup(name string) (int, bool) {
	i, ok := slices.BinarySearchFunc(t.entries, name, func(e sysEntry, n string) int { return strings.Compare(e.name, n) })
	if !ok {
		return 0, false
	}
	return t.entries[i].nr, true
}

// knownName reports whether any architecture has a system call name.
func knownName(name string) bool {
	_, ok := slices.BinarySearch(anyArchSyscalls, name)
	return ok
}

var arches = lookup.Table[specs.Arch, *archInfo]{
	{Key: specs.ArchX86_64, Val: &archInfo{name: specs.ArchX86_64, audit: auditArchX86_64, table: &amd64Syscalls, lo: 0, hi: x32SyscallBit - 1}},
	{Key: specs.ArchX32, Val: &archInfo{name: specs.ArchX32, audit: auditArchX86_64, table: &x32Syscalls, bits32: true, lo: x32SyscallBit, hi: 0xfffffffe}},
	{Key: specs.ArchX86, Val: &archInfo{name: specs.ArchX86, audit: auditArchI386, table: &i386Syscalls, bits32: true, hi: 0xfffffffe}},
	{Key: specs.ArchAARCH64, Val: &archInfo{name: specs.ArchAARCH64, audit: auditArchAARCH64, table: &arm64Syscalls, hi: 0xfffffffe}},
	{Key: specs.ArchARM, Val: &archInfo{name: specs.ArchARM, audit: auditArchARM, table: &armSyscalls, bits32: true, hi: 0xfffffffe}},
}

// nativeArch maps a GOARCH to its seccomp architecture.
var nativeArch = lookup.Table[string, specs.Arch]{
	{Key: "amd64", Val: specs.ArchX86_64},
	{Key: "arm64", Val: specs.ArchAARCH64},
}

// goArchTables maps the names SyscallName accepts to tables.
var goArchTables = lookup.Table[string, specs.Arch]{
	{Key: "amd64", Val: specs.ArchX86_64},
	{Key: "386", Val: specs.ArchX86},
	{Key: "x32", Val: specs.ArchX32},
	{Key: "arm64", Val: specs.ArchAARCH64},
	{Key: "arm", Val: specs.ArchARM},
}

var (
	reverseOnce sync.Once
	reverse     map[specs.Arch]map[int]string
)

// SyscallName returns the name of system call nr on arch, for error
// reports such as a SIGSYS. arch is a GOARCH ("amd64", "386", "arm64",
// "arm") or "x32"; on "amd64" a number with the x32 bit (0x40000000) is
// looked up in the x32 table. An unknown number gives "syscall_NR".
func SyscallName(arch string, nr int) string {
	reverseOnce.Do(func() {
		reverse = map[specs.Arch]map[int]string{}
		for _, p := range arches {
			n, a := p.Key, p.Val
			m := make(map[int]string, len(a.table.entries))
			// Sorted by name: of aliases the smallest name wins.
			for _, e := range a.table.entries {
				if _, ok := m[e.nr]; !ok {
					m[e.nr] = e.name
				}
			}
			reverse[n] = m
		}
	})
	if a, ok := goArchTables.Get(arch); ok {
		if a == specs.ArchX86_64 && nr >= x32SyscallBit {
			a = specs.ArchX32
		}
		if name, ok := reverse[a][nr]; ok {
			return name
		}
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// i386 multiplexes socket and SysV IPC calls through socketcall(2) and
// ipc(2), with the call number in the first argument (SYS_* of
// <linux/net.h>, the IPC numbers of <linux/ipc.h>). Like libseccomp, a rule
// for one of these names on the x86 ABI also becomes a rule for the
// multiplexer: first argument equal to the call number, and the rule's other
// conditions (those on argument 0 dropped).
const (
	i386Socketcall = 102
	i386IPC        = 117
)

var i386Multiplexed = map[string][2]uint32{
	"socket": {i386Socketcall, 1}, "bind": {i386Socketcall, 2}, "connect": {i386Socketcall, 3},
	"listen": {i386Socketcall, 4}, "accept": {i386Socketcall, 5}, "getsockname": {i386Socketcall, 6},
	"getpeername": {i386Socketcall, 7}, "socketpair": {i386Socketcall, 8}, "send": {i386Socketcall, 9},
	"recv": {i386Socketcall, 10}, "sendto": {i386Socketcall, 11}, "recvfrom": {i386Socketcall, 12},
	"shutdown": {i386Socketcall, 13}, "setsockopt": {i386Socketcall, 14}, "getsockopt": {i386Socketcall, 15},
	"sendmsg": {i386Socketcall, 16}, "recvmsg": {i386Socketcall, 17}, "accept4": {i386Socketcall, 18},
	"recvmmsg": {i386Socketcall, 19}, "sendmmsg": {i386Socketcall, 20},
	"semop": {i386IPC, 1}, "semget": {i386IPC, 2}, "semctl": {i386IPC, 3}, "semtimedop": {i386IPC, 4},
	"msgsnd": {i386IPC, 11}, "msgrcv": {i386IPC, 12}, "msgget": {i386IPC, 13}, "msgctl": {i386IPC, 14},
	"shmat": {i386IPC, 21}, "shmdt": {i386IPC, 22}, "shmget": {i386IPC, 23}, "shmctl": {i386IPC, 24},
}
