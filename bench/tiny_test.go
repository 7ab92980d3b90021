package bench

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// The floor of any launcher is an exec of a program that does nothing. A Go
// binary is no floor (its runtime starts in about a millisecond), /bin/true
// is dynamically linked, so the suite builds the smallest static program
// there is at run time: an ELF header, one program header and the exit(0)
// system call, about 130 bytes, written to a temporary directory. Nothing
// binary is kept in the repository.

var (
	tinyOnce sync.Once
	tinyPath string
	tinyWhy  string
	tinyDir  string
)

// exit(0) as machine code, per architecture.
var exitCode = map[string]struct {
	machine elf.Machine
	code    []byte
}{
	// mov eax, 60 (exit); xor edi, edi; syscall
	"amd64": {elf.EM_X86_64, []byte{0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}},
	// mov x0, #0; mov x8, #93 (exit); svc #0
	"arm64": {elf.EM_AARCH64, []byte{0x00, 0x00, 0x80, 0xd2, 0xa8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4}},
}

// tinyBinary returns the path of the tiny static program, or why there is
// none.
func tinyBinary() (path, why string) {
	tinyOnce.Do(func() {
		ex, ok := exitCode[runtime.GOARCH]
		if !ok {
			tinyWhy = "no tiny ELF for " + runtime.GOARCH
			return
		}
		const base = 0x400000
		const hdrs = 64 + 56 // ELF header + one program header
		size := uint64(hdrs + len(ex.code))
		var b bytes.Buffer
		h := elf.Header64{
			Type: uint16(elf.ET_EXEC), Machine: uint16(ex.machine), Version: uint32(elf.EV_CURRENT),
			Entry: base + hdrs, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1,
		}
		copy(h.Ident[:], elf.ELFMAG)
		h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
		h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
		h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
		p := elf.Prog64{
			Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
			Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
		}
		binary.Write(&b, binary.LittleEndian, &h)
		binary.Write(&b, binary.LittleEndian, &p)
		b.Write(ex.code)

		dir, err := os.MkdirTemp("", "nsfork-bench-")
		if err != nil {
			tinyWhy = err.Error()
			return
		}
		tinyDir = dir
		os.Chmod(dir, 0o755)
		path := filepath.Join(dir, "exit0")
		if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
			tinyWhy = err.Error()
			return
		}
		if err := execRun(path)(); err != nil {
			tinyWhy = "the tiny ELF does not run here (noexec " + os.TempDir() + "?): " + err.Error()
			return
		}
		tinyPath = path
	})
	return tinyPath, tinyWhy
}

func removeTiny() {
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
}

// isStatic reports whether path is an ELF file without an interpreter.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
