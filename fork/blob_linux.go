package fork

import (
	"fmt"
	"os"
	"reflect"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/wire"
)

// sealedBlob copies data into an anonymous memory file (nothing on disk) and
// seals it, so the child reads exactly these bytes and nobody can change them.
func sealedBlob(data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("nsfork-arg", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "nsfork-arg")
	// write(2) fills the memfd in large chunks; a shared mapping would
	// fault page by page (about twice as slow for 64 MiB).
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("write memfd: %w", err)
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return f, nil
}

// fdValue turns an ArgBytes or ArgFile argument received by the child into a
// value of type t. The descriptor must be one the parent passed on purpose.
func fdValue(passed map[int]bool) func(a *wire.Arg, t reflect.Type) (reflect.Value, error) {
	return func(a *wire.Arg, t reflect.Type) (reflect.Value, error) {
		fd := int(a.FD)
		if !passed[fd] {
			return reflect.Value{}, fmt.Errorf("descriptor %d was not passed", fd)
		}
		delete(passed, fd) // each descriptor serves one argument
		switch a.Kind {
		case wire.ArgFile:
			if t != fileType {
				return reflect.Value{}, fmt.Errorf("a file for a parameter of type %s", t)
			}
			unix.CloseOnExec(fd)
			return reflect.ValueOf(os.NewFile(uintptr(fd), fmt.Sprintf("fork-arg-fd-%d", fd))), nil
		case wire.ArgBytes:
			if !isBytesLike(t) {
				return reflect.Value{}, fmt.Errorf("bytes for a parameter of type %s", t)
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return reflect.Value{}, fmt.Errorf("fstat blob fd %d: %w", fd, err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG || uint64(st.Size) != a.Len || a.Len > uint64(^uint(0)>>1) {
				return reflect.Value{}, fmt.Errorf("blob fd %d holds %d bytes, %d announced", fd, st.Size, a.Len)
			}
			var m []byte
			if a.Len > 0 {
				var err error
				// A private mapping: the function gets the bytes without a
				// copy and may write to them (copy-on-write).
				m, err = unix.Mmap(fd, 0, int(a.Len), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
				if err != nil {
					return reflect.Value{}, fmt.Errorf("mmap blob fd %d: %w", fd, err)
				}
			}
			unix.Close(fd)
			if t.Kind() == reflect.String {
				// The mapping is never written nor unmapped: a string over
				// it stays immutable.
				return reflect.ValueOf(unsafe.String(unsafe.SliceData(m), len(m))).Convert(t), nil
			}
			return reflect.ValueOf(m).Convert(t), nil
		}
		return reflect.Value{}, fmt.Errorf("not a descriptor argument")
	}
}
