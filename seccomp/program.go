package seccomp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Program is a seccomp filter ready to load: assembled classic BPF and the
// seccomp(2) flag bits of its profile, both checked when it was made. It
// crosses from a parent to its child in its binary encoding (MarshalBinary)
// and is loaded as it is, without being disassembled or assembled again.
type Program struct {
	raw   []bpf.RawInstruction
	flags uint // seccomp(2) flag bits, without TSYNC
}

// NewProgram assembles prog with the OCI flags of its profile. The flags
// are checked here, once (see FlagBits); a program of no instruction or of
// more than MaxInstructions is an error.
func NewProgram(prog []bpf.Instruction, flags ...specs.LinuxSeccompFlag) (*Program, error) {
	bits, err := FlagBits(flags)
	if err != nil {
		return nil, err
	}
	return assemble(prog, bits)
}

func assemble(prog []bpf.Instruction, bits uint) (*Program, error) {
	if len(prog) == 0 || len(prog) > MaxInstructions {
		return nil, fmt.Errorf("seccomp: program of %d instructions, want 1..%d", len(prog), MaxInstructions)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return &Program{raw: raw, flags: bits}, nil
}

// CompileProgram compiles p for arch (see Compile) into a Program with
// p's flags.
func CompileProgram(p *specs.LinuxSeccomp, arch string) (*Program, error) {
	if p == nil {
		return nil, errorf("", "nil profile (unconfined needs no filter)")
	}
	bits, err := FlagBits(p.Flags)
	if err != nil {
		return nil, err
	}
	q := *p
	q.Flags = nil                  // checked above, once
	raw, err := Assemble(&q, arch) // a prebuilt program where there is one
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || len(raw) > MaxInstructions {
		return nil, fmt.Errorf("seccomp: program of %d instructions, want 1..%d", len(raw), MaxInstructions)
	}
	return &Program{raw: raw, flags: bits}, nil
}

// Len is the number of instructions.
func (p *Program) Len() int { return len(p.raw) }

// Instructions returns the program disassembled.
func (p *Program) Instructions() []bpf.Instruction {
	prog, _ := bpf.Disassemble(p.raw) // assembled by this package: never fails
	return prog
}

// Guarded returns guard (a GuardProgram) followed by p, with p's flags (see
// Prepend).
func (p *Program) Guarded(guard []bpf.Instruction) (*Program, error) {
	prog, err := Prepend(guard, p.Instructions())
	if err != nil {
		return nil, err
	}
	return assemble(prog, p.flags)
}

// The binary encoding: the flag bits as a little-endian uint32, then each
// instruction as struct sock_filter in little-endian order (code u16, jt
// u8, jf u8, k u32).
const (
	headerSize = 4
	insnSize   = 8
	knownFlags = flagLog | flagSpecAllow
)

// MarshalBinary encodes p.
func (p *Program) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, headerSize+len(p.raw)*insnSize)
	b = binary.LittleEndian.AppendUint32(b, uint32(p.flags))
	for _, r := range p.raw {
		b = binary.LittleEndian.AppendUint16(b, r.Op)
		b = append(b, r.Jt, r.Jf)
		b = binary.LittleEndian.AppendUint32(b, r.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary made; it refuses a length
// that is no program and flag bits that no profile gives.
func (p *Program) UnmarshalBinary(b []byte) error {
	n := (len(b) - headerSize) / insnSize
	if len(b) < headerSize+insnSize || (len(b)-headerSize)%insnSize != 0 || n > MaxInstructions {
		return fmt.Errorf("seccomp: a program of %d bytes is no program", len(b))
	}
	flags := uint(binary.LittleEndian.Uint32(b))
	if flags&^knownFlags != 0 {
		return fmt.Errorf("seccomp: unknown filter flags %#x", flags)
	}
	raw := make([]bpf.RawInstruction, n)
	for i := range raw {
		w := b[headerSize+i*insnSize:]
		raw[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(w), Jt: w[2], Jf: w[3], K: binary.LittleEndian.Uint32(w[4:])}
	}
	p.raw, p.flags = raw, flags
	return nil
}

// Digest is the sha256 of the encoded program, in hex.
func (p *Program) Digest() string {
	b, _ := p.MarshalBinary()
	sum := sha256.Sum256(b[headerSize:])
	return hex.EncodeToString(sum[:])
}

// Action runs p on the seccomp_data of system call nr with args on arch (a
// GOARCH, "386", or "x32" as for SyscallName) and returns the filter's
// SECCOMP_RET_* value, as the kernel would.
func (p *Program) Action(arch string, nr uint32, args ...uint64) (uint32, error) {
	a, ok := goArchTables.Get(arch)
	if !ok {
		return 0, fmt.Errorf("seccomp: unknown architecture %q", arch)
	}
	if len(args) > 6 {
		return 0, errors.New("seccomp: a system call has at most 6 arguments")
	}
	vm, err := bpf.NewVM(p.Instructions())
	if err != nil {
		return 0, fmt.Errorf("seccomp: %w", err)
	}
	// struct seccomp_data: nr, arch, instruction_pointer, args[6]. x/net/
	// bpf's VM loads words big-endian, the kernel in the native order:
	// each 32-bit word is stored big-endian so that the VM reads the value
	// the kernel would.
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], arches.Value(a).audit)
	for i, v := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(v))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(v>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		return 0, fmt.Errorf("seccomp: %w", err)
	}
	return uint32(ret), nil
}

// Allows reports whether p lets system call nr through on arch (with
// arguments args): its action is SECCOMP_RET_ALLOW or SECCOMP_RET_LOG.
func (p *Program) Allows(arch string, nr uint32, args ...uint64) (bool, error) {
	act, err := p.Action(arch, nr, args...)
	if err != nil {
		return false, err
	}
	act &= 0xffff0000
	return act == retAllow || act == retLog, nil
}

// Load installs p on every thread of the calling process (see Load for
// the conditions).
func (p *Program) Load() error {
	return load(p.raw, p.flags)
}
