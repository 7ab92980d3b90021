package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ELF constants read by hasInterp (the ELF specification's values; see
// elf(5)). debug/elf would do, but it links compress/flate, zlib, zstd and
// DWARF, whose package inits every start of sandboxrun would pay.
const (
	elfClass32   = 1
	elfClass64   = 2
	elfDataLSB   = 1
	elfDataMSB   = 2
	elfPTInterp  = 3
	elfMaxPhdrs  = 0xffff
	elfIdentSize = 16
)

// hasInterp reports whether the ELF file r has a PT_INTERP program header,
// i.e. whether it is dynamically linked and needs a loader. Only the ELF
// header and the program header table are read.
func hasInterp(r io.ReaderAt) (bool, error) {
	var ident [elfIdentSize]byte
	if _, err := r.ReadAt(ident[:], 0); err != nil {
		return false, fmt.Errorf("read ELF identification: %w", err)
	}
	if string(ident[:4]) != "\x7fELF" {
		return false, errors.New("not an ELF file (bad magic number)")
	}
	var bo binary.ByteOrder
	switch ident[5] {
	case elfDataLSB:
		bo = binary.LittleEndian
	case elfDataMSB:
		bo = binary.BigEndian
	default:
		return false, fmt.Errorf("unknown ELF data encoding %d", ident[5])
	}
	// e_phoff, e_phentsize and e_phnum sit at class-dependent offsets
	// (ELF32 has 4-byte addresses, ELF64 8-byte ones); minEnt is the
	// smallest program header entry of the class.
	var phoff uint64
	var phentsize, phnum, minEnt uint16
	switch ident[4] {
	case elfClass32:
		var h [52]byte
		if _, err := r.ReadAt(h[:], 0); err != nil {
			return false, fmt.Errorf("read ELF header: %w", err)
		}
		phoff = uint64(bo.Uint32(h[28:]))
		phentsize, phnum = bo.Uint16(h[42:]), bo.Uint16(h[44:])
		minEnt = 32
	case elfClass64:
		var h [64]byte
		if _, err := r.ReadAt(h[:], 0); err != nil {
			return false, fmt.Errorf("read ELF header: %w", err)
		}
		phoff = bo.Uint64(h[32:])
		phentsize, phnum = bo.Uint16(h[54:]), bo.Uint16(h[56:])
		minEnt = 56
	default:
		return false, fmt.Errorf("unknown ELF class %d", ident[4])
	}
	if phnum == 0 {
		return false, nil
	}
	if phnum == elfMaxPhdrs {
		// PN_XNUM: the real count is in section 0's sh_info. No linker
		// writes that many program headers for an executable.
		return false, errors.New("ELF program header count in section 0 (PN_XNUM) is not supported")
	}
	if phentsize < minEnt {
		return false, fmt.Errorf("ELF program header entry size %d is smaller than %d", phentsize, minEnt)
	}
	if phoff > 1<<40 {
		return false, fmt.Errorf("ELF program header offset %#x is out of range", phoff)
	}
	tbl := make([]byte, int(phentsize)*int(phnum))
	if _, err := r.ReadAt(tbl, int64(phoff)); err != nil {
		return false, fmt.Errorf("read ELF program headers: %w", err)
	}
	for i := 0; i < int(phnum); i++ {
		// p_type is the first 4-byte word of an entry in both classes.
		if bo.Uint32(tbl[i*int(phentsize):]) == elfPTInterp {
			return true, nil
		}
	}
	return false, nil
}
