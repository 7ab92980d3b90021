// Package bench measures what a fork costs next to its peers: an os/exec of
// a static tiny binary (the floor), a bare Go self re-exec, moby's reexec,
// fork.Fork and fork.Start round trips, argument hand-off of 1 MiB and
// 64 MiB against a raw pipe, and ForkIsolated against a bare re-exec with
// the same clone flags and against unshare(1).
//
// # Running
//
//	go test -run '^$' -bench . ./bench/     # Go benchmarks, p50/p95 as metrics
//	make bench                               # the table, as root and as uid 65534
//
// Every benchmark times its row and, with the timer stopped, the row's
// baseline right before it, so the ratio it reports comes from samples taken
// side by side, under the same load. TestPrintTable (NSFORK_BENCH_TABLE=1)
// goes further: it runs every row in rounds, one launch per row per round in
// a rotating order, and prints a markdown table.
//
// Nothing here is a timed pass/fail test: the targets are reported as met or
// missed, never asserted.
package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/moby/sys/reexec"

	"github.com/nsfork/nsfork/fork"
)

// bareEnv marks a bare self re-exec child. TestMain looks at it before
// anything else, so such a child pays the Go runtime start-up and package
// initialisation of this binary, exactly what a fork child pays, and nothing
// more.
const bareEnv = "NSFORK_BENCH_BARE"

// reexecName is the argv[0] moby's reexec dispatches on.
const reexecName = "nsfork-bench-noop"

// noopFn is registered as "noop" through the go-fork compatible API, so
// (*Function).Fork and fork.Fork can both be timed.
var noopFn = fork.NewFork("noop", func() {})

func init() {
	fork.Register(noopFn)
	fork.RegisterFunc("sum", func(b []byte) uint64 { return sum64(b) })
	reexec.Register(reexecName, func() {})
}

func TestMain(m *testing.M) {
	switch os.Getenv(bareEnv) {
	case "":
	case "sum":
		os.Exit(bareSum())
	default:
		os.Exit(0)
	}
	if reexec.Init() {
		os.Exit(0)
	}
	fork.Init()
	code := m.Run()
	removeTiny()
	os.Exit(code)
}

// bareSum is the raw pipe reference child: it reads stdin to the end,
// checksums it as the fork child checksums its argument, and writes the sum
// to stdout.
func bareSum() int {
	buf := make([]byte, 1<<20)
	var s uint64
	for {
		n, err := io.ReadFull(os.Stdin, buf)
		s += sum64(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: reading stdin:", err)
			return 1
		}
	}
	w := bufio.NewWriter(os.Stdout)
	binary.Write(w, binary.LittleEndian, s)
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// sum64 adds b up as native-endian 64-bit words (a trailing partial word
// byte by byte). It reads every byte once, at memory speed, and gives the
// same result over any split of b at multiples of 8.
func sum64(b []byte) uint64 {
	var s uint64
	n := len(b) / 8
	if n > 0 {
		words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n)
		for _, w := range words {
			s += w
		}
	}
	for _, c := range b[n*8:] {
		s += uint64(c)
	}
	return s
}
