package bench

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The floor of a big argument: fork hands the function its bytes in memory
// of their own, and a raw pipe child that reads into one 1 MiB buffer
// never touches fresh memory. This reference child reads its stdin into a
// fresh mapping of $NSFORK_BENCH_FRESH bytes, made as the fork child makes
// its own (transparent huge pages, populated at once), then checksums it:
// what any program that must hold the whole argument pays. Its mode is
// "fresh:SIZE".
func bareSumFresh(size string) int {
	n, err := strconv.Atoi(size)
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "bench: bad size", size)
		return 1
	}
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: mmap:", err)
		return 1
	}
	unix.Madvise(m, unix.MADV_HUGEPAGE)
	unix.Madvise(m, unix.MADV_POPULATE_WRITE)
	for got := 0; got < n; {
		k, err := unix.Read(0, m[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || k == 0 {
			fmt.Fprintln(os.Stderr, "bench: reading stdin:", err)
			return 1
		}
		got += k
	}
	return writeWords(sum64(m))
}

// freshRun is pipeRun with the fresh-memory child.
func freshRun(data func() ([]byte, uint64)) func() error {
	return pipeModeRun(data, func(n int) string { return "fresh:" + strconv.Itoa(n) })
}
