package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// interpByDebugElf is the reference answer: debug/elf's parse.
func interpByDebugElf(t *testing.T, f *os.File) bool {
	t.Helper()
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatalf("debug/elf %s: %v", f.Name(), err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// TestHasInterpMatchesDebugElf: on real executables (the host's /bin,
// the Go toolchain's static tools, this test binary) hasInterp gives
// debug/elf's answer, and both kinds, static and dynamic, are seen.
func TestHasInterpMatchesDebugElf(t *testing.T) {
	tooldir, err := exec.Command("go", "env", "GOTOOLDIR").Output()
	if err != nil {
		t.Fatalf("go env GOTOOLDIR: %v", err)
	}
	paths := []string{"/bin/true", "/bin/sh", "/bin/busybox", "/usr/bin/env", os.Args[0]}
	tools, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(tooldir)), "*"))
	paths = append(paths, tools...)
	seen := map[bool]int{}
	for _, p := range paths {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want := interpByDebugElf(t, f)
		got, err := hasInterp(f)
		f.Close()
		if err != nil || got != want {
			t.Errorf("hasInterp(%s) = %v, %v; debug/elf says %v", p, got, err, want)
		}
		seen[want]++
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("need both a dynamic and a static executable to compare; saw %v", seen)
	}
}

// synthELF builds an ELF header and program header table of the given
// class and byte order with the given p_type values.
func synthELF(class, data byte, types ...uint32) []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if data == elfDataMSB {
		bo = binary.BigEndian
	}
	ehsize, phent := 64, 56
	if class == elfClass32 {
		ehsize, phent = 52, 32
	}
	b := make([]byte, ehsize+phent*len(types))
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, data, 1
	bo.PutUint16(b[16:], uint16(elf.ET_EXEC))
	bo.PutUint16(b[18:], uint16(elf.EM_386))
	bo.PutUint32(b[20:], 1)
	if class == elfClass32 {
		bo.PutUint32(b[28:], uint32(ehsize))
		bo.PutUint16(b[40:], uint16(ehsize))
		bo.PutUint16(b[42:], uint16(phent))
		bo.PutUint16(b[44:], uint16(len(types)))
	} else {
		bo.PutUint64(b[32:], uint64(ehsize))
		bo.PutUint16(b[52:], uint16(ehsize))
		bo.PutUint16(b[54:], uint16(phent))
		bo.PutUint16(b[56:], uint16(len(types)))
	}
	for i, ty := range types {
		bo.PutUint32(b[ehsize+i*phent:], ty)
	}
	return b
}

// TestHasInterpClassesAndOrders: 32- and 64-bit, little- and big-endian
// headers, with and without PT_INTERP, agree with debug/elf; malformed
// input is an error, never "static".
func TestHasInterpClassesAndOrders(t *testing.T) {
	for _, class := range []byte{elfClass32, elfClass64} {
		for _, data := range []byte{elfDataLSB, elfDataMSB} {
			for _, types := range [][]uint32{nil, {uint32(elf.PT_LOAD)}, {uint32(elf.PT_PHDR), elfPTInterp, uint32(elf.PT_LOAD)}} {
				b := synthELF(class, data, types...)
				ef, err := elf.NewFile(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("debug/elf rejects class %d data %d: %v", class, data, err)
				}
				want := false
				for _, p := range ef.Progs {
					want = want || p.Type == elf.PT_INTERP
				}
				got, err := hasInterp(bytes.NewReader(b))
				if err != nil || got != want {
					t.Errorf("class %d data %d types %v: hasInterp = %v, %v; debug/elf %v", class, data, types, got, err, want)
				}
			}
		}
	}
	good := synthELF(elfClass64, elfDataLSB, elfPTInterp)
	bad := map[string][]byte{
		"empty":      nil,
		"not ELF":    []byte("#!/bin/sh\necho hello, this is not an ELF file at all\n......."),
		"bad class":  append(append([]byte{}, good[:4]...), append([]byte{9}, good[5:]...)...),
		"truncated":  good[:len(good)-4],
		"short phdr": func() []byte { b := append([]byte{}, good...); binary.LittleEndian.PutUint16(b[54:], 8); return b }(),
	}
	for name, b := range bad {
		if got, err := hasInterp(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: hasInterp = %v, nil; want an error", name, got)
		}
	}
}

// TestCheckStatic: sandboxrun exec refuses a dynamically linked binary
// (the host's /bin/true) and takes a static one (the Go toolchain's go).
func TestCheckStatic(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	for p, wantErr := range map[string]bool{"/bin/true": true, goBin: false} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		err = checkStatic(f)
		f.Close()
		if (err != nil) != wantErr || wantErr && !strings.Contains(err.Error(), "statically linked") {
			t.Errorf("checkStatic(%s) = %v, want an error: %v", p, err, wantErr)
		}
	}
}
