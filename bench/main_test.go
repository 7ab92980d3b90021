// Package bench measures what a fork costs next to its peers: an os/exec of
// a static tiny binary (the floor), a bare Go self re-exec, moby's reexec,
// fork.Fork and fork.Start round trips, argument hand-off of 1 KiB to 1 GiB
// against a raw pipe, ForkIsolated against a bare re-exec with the same
// clone flags and against unshare(1), sandboxrun against bwrap, unshare,
// crun and runc; launches per second with one and two workers; and the
// children's peak RSS (VmHWM).
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
	"strconv"
	"strings"
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

// noopWorkers are the same function under one name per throughput worker:
// a *fork.Function keeps the state of its latest child, so two workers
// calling fork.Fork at once need one each.
var noopWorkers = [2]*fork.Function{
	fork.NewFork("noop-w0", func() {}),
	fork.NewFork("noop-w1", func() {}),
}

func init() {
	fork.Register(noopFn)
	for _, f := range noopWorkers {
		fork.Register(f)
	}
	fork.RegisterFunc("sum", func(b []byte) uint64 { return sum64(b) })
	// The peak RSS rows: the child reports its own VmHWM.
	fork.RegisterFunc("hwm", func() uint64 { return vmHWM() })
	fork.RegisterFunc("sumhwm", func(b []byte) (uint64, uint64) {
		s := sum64(b)
		return s, vmHWM()
	})
	reexec.Register(reexecName, func() {})
}

func TestMain(m *testing.M) {
	if n, ok := strings.CutPrefix(os.Getenv(bareEnv), "fresh:"); ok {
		os.Exit(bareSumFresh(n))
	}
	switch os.Getenv(bareEnv) {
	case "":
	case "sum":
		os.Exit(bareSum(false))
	case "sumhwm":
		os.Exit(bareSum(true))
	case "hwm":
		os.Exit(writeWords(vmHWM()))
	case "pingpong":
		os.Exit(pingPongChild())
	case "rpc":
		os.Exit(rpcChild())
	default:
		os.Exit(0)
	}
	if reexec.Init() {
		os.Exit(0)
	}
	fork.Init()
	code := m.Run()
	removeTiny()
	removeStart()
	stopWarmPool()
	os.Exit(code)
}

// bareSum is the raw pipe reference child: it reads stdin to the end,
// checksums it as the fork child checksums its argument, and writes the sum
// to stdout, followed by its VmHWM if hwm.
func bareSum(hwm bool) int {
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
	if hwm {
		return writeWords(s, vmHWM())
	}
	return writeWords(s)
}

// writeWords writes ws to stdout as little-endian 64-bit words.
func writeWords(ws ...uint64) int {
	w := bufio.NewWriter(os.Stdout)
	binary.Write(w, binary.LittleEndian, ws)
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// vmHWM is this process's peak resident set size in bytes, from the VmHWM
// line of /proc/self/status, or 0 if it cannot be read. Unlike the
// ru_maxrss wait4 reports, it belongs to the address space the process runs
// in now, not to the one it had before execve.
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseHWM(string(b))
}

func parseHWM(status string) uint64 {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return n << 10
				}
			}
		}
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
