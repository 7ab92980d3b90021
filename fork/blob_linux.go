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

// bulkPipeSize is the pipe buffer asked for a big argument: 1 MiB, the
// most an unprivileged process may set (fs.pipe-max-size), so the writer
// and the child take turns 16 times less often than with the default.
const bulkPipeSize = 1 << 20

// bulkPipe makes the pipe a big argument travels in: the read end is passed
// to the child, the parent writes into the other once the child runs
// (outgoing.sendBulk, before Start returns). Both ends block; a write after
// the child died fails with EPIPE (Go ignores SIGPIPE for such descriptors).
func bulkPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe2: %w", err)
	}
	unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, bulkPipeSize) // best effort
	return os.NewFile(uintptr(p[0]), "nsfork-arg"), os.NewFile(uintptr(p[1]), "nsfork-arg-w"), nil
}

// readBulk reads a big argument of n bytes from its pipe into memory of its
// own: an anonymous mapping outside the Go heap, so that nothing but the
// bytes counts against the child's memory. From 2 MiB on it asks for
// transparent huge pages and populates the mapping in one call
// (MADV_POPULATE_WRITE, Linux 5.14; older kernels fault it in as the read
// goes). On this project's VM (a paravirtualised guest, Linux 6.18) a fresh
// 4 KiB page costs a trap on its first touch even when populated: 1 GiB in
// 4 KiB pages took 10-17 s to touch, in huge pages 0.1-0.2 s, or 4.6-6.8 s
// when THP defrag ("madvise", Debian's default) first had to compact memory
// another process had just freed in small pages: huge pages win either way.
const hugeMin = 2 << 20

func readBulk(fd int, n uint64) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat argument fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO || n > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("argument fd %d is not a pipe of %d bytes", fd, n)
	}
	if n == 0 {
		return []byte{}, nil
	}
	m, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes for an argument: %w", n, err)
	}
	if n >= hugeMin {
		unix.Madvise(m, unix.MADV_HUGEPAGE) // best effort: THP may be off
		if err := unix.Madvise(m, unix.MADV_POPULATE_WRITE); err != nil && err != unix.EINVAL {
			// ENOMEM and the like: the read would have died on it.
			unix.Munmap(m)
			return nil, fmt.Errorf("populate %d bytes for an argument: %w", n, err)
		}
	}
	for got := 0; got < len(m); {
		k, err := unix.Read(fd, m[got:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			unix.Munmap(m)
			return nil, fmt.Errorf("read argument fd %d: %w", fd, err)
		case k == 0:
			unix.Munmap(m)
			return nil, fmt.Errorf("argument fd %d: %d of %d bytes arrived", fd, got, n)
		}
		got += k
	}
	return m, nil
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
			if !wire.BytesLike(t) {
				return reflect.Value{}, fmt.Errorf("bytes for a parameter of type %s", t)
			}
			m, err := readBulk(fd, a.Len)
			if err != nil {
				unix.Close(fd)
				return reflect.Value{}, err
			}
			unix.Close(fd)
			if t.Kind() == reflect.String {
				// The buffer is never written again nor freed: a string
				// over it stays immutable.
				return reflect.ValueOf(unsafe.String(unsafe.SliceData(m), len(m))).Convert(t), nil
			}
			return reflect.ValueOf(m).Convert(t), nil
		}
		return reflect.Value{}, fmt.Errorf("not a descriptor argument")
	}
}
