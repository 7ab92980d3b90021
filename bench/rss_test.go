package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/sandbox"
)

// Peak RSS of the children. Each child reads its own VmHWM from
// /proc/self/status just before it exits and hands it back (a bare child on
// stdout, a fork child as a result). The table shows wait4's ru_maxrss
// beside it for reference only: Linux folds the address space a process had
// before execve into ru_maxrss, and a child of os/exec or fork starts out
// sharing (vfork) or copying the parent's, so ru_maxrss reports the
// benchmark parent's peak rather than the child's.

// The targets: a Go child within 1.2x of a bare Go re-exec child's
// peak RSS, and an argument's child under 1.2x the argument's size.
const maxRSSRatio = 1.2

// An rssProbe launches one child and returns its VmHWM and ru_maxrss in
// bytes.
type rssProbe struct {
	key, label string
	base       string // key of the probe it is compared with
	argBytes   int64  // compared with the argument's size instead
	rare       bool   // only in the first round of a pass
	skip       string
	run        func() (hwm, maxrss uint64, err error)
}

func rssProbes(byKey map[string]*row) []*rssProbe {
	var ps []*rssProbe
	add := func(p *rssProbe) { ps = append(ps, p) }
	add(&rssProbe{key: "rss-bare", label: "bare Go self re-exec (/proc/self/exe)", run: func() (uint64, uint64, error) {
		out, st, err := pipeChild("hwm", nil, 8)
		if err != nil {
			return 0, 0, err
		}
		return binary.LittleEndian.Uint64(out), maxrss(st), nil
	}})
	add(&rssProbe{key: "rss-fork", label: "fork: fork.Start(\"hwm\") + Wait", base: "rss-bare", run: forkHWM(nil)})
	if os.Geteuid() == 0 {
		add(&rssProbe{key: "rss-root", label: "fork: ForkIsolated(sandbox.Root()) + Wait", base: "rss-bare", run: forkHWM(sandbox.Root()), skip: skipOf(byKey, "forkisolated-root")})
	}
	add(&rssProbe{key: "rss-rootless", label: "fork: ForkIsolated(sandbox.Rootless()) + Wait", base: "rss-bare", run: forkHWM(sandbox.Rootless()), skip: skipOf(byKey, "forkisolated-rootless")})
	for _, size := range []int{64 * mib, 1 * gib} {
		data := lazyPayload(size)
		add(&rssProbe{key: "rss-pipe-" + sizeName(size), label: fmt.Sprintf("raw pipe, %s to a bare re-exec child (read in 1 MiB chunks)", sizeName(size)), rare: size >= rareBytes,
			run: func() (uint64, uint64, error) {
				b, want := data()
				out, st, err := pipeChild("sumhwm", b, 16)
				if err != nil {
					return 0, 0, err
				}
				if got := binary.LittleEndian.Uint64(out); got != want {
					return 0, 0, fmt.Errorf("child checksummed %#x, want %#x", got, want)
				}
				return binary.LittleEndian.Uint64(out[8:]), maxrss(st), nil
			}})
		add(&rssProbe{key: "rss-arg-" + sizeName(size), label: fmt.Sprintf("fork: %s []byte argument, checksum back", sizeName(size)), argBytes: int64(size), rare: size >= rareBytes,
			run: func() (uint64, uint64, error) {
				b, want := data()
				p, err := new(fork.Config).Start(context.Background(), "sumhwm", nil, b)
				if err != nil {
					return 0, 0, err
				}
				if err := p.Wait(); err != nil {
					return 0, 0, err
				}
				res := p.Results()
				if got := res[0].(uint64); got != want {
					return 0, 0, fmt.Errorf("child checksummed %#x, want %#x", got, want)
				}
				return res[1].(uint64), maxrss(p.ProcessState), nil
			}})
	}
	return ps
}

func skipOf(byKey map[string]*row, key string) string {
	if r := byKey[key]; r != nil {
		return r.skip
	}
	return "no row " + key
}

func forkHWM(opts *sandbox.Options) func() (uint64, uint64, error) {
	return func() (uint64, uint64, error) {
		p, err := (&fork.Config{}).Start(context.Background(), "hwm", opts)
		if err != nil {
			return 0, 0, err
		}
		if err := p.Wait(); err != nil {
			return 0, 0, err
		}
		return p.Results()[0].(uint64), maxrss(p.ProcessState), nil
	}
}

// maxrss is wait4's ru_maxrss in bytes (Linux reports KiB).
func maxrss(st *os.ProcessState) uint64 {
	if st == nil {
		return 0
	}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 0 {
		return uint64(ru.Maxrss) << 10
	}
	return 0
}

// rssSamples holds, per probe and pass, the VmHWM and ru_maxrss samples.
type rssSamples map[*rssProbe][]struct{ hwm, maxrss []uint64 }

// measureRSS runs rounds rounds of every active probe, rotated; rare probes
// only in the first round.
func measureRSS(ps []*rssProbe, samples rssSamples, pass, passes, rounds int) error {
	var active []*rssProbe
	for _, p := range ps {
		if p.skip == "" {
			active = append(active, p)
			if samples[p] == nil {
				samples[p] = make([]struct{ hwm, maxrss []uint64 }, passes)
			}
		}
	}
	for round := 0; round < rounds; round++ {
		for j := range active {
			p := active[(round+j)%len(active)]
			if p.rare && round != 0 {
				continue
			}
			h, m, err := p.run()
			if err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
			if h == 0 {
				return fmt.Errorf("%s: the child could not read its VmHWM", p.label)
			}
			s := &samples[p][pass]
			s.hwm = append(s.hwm, h)
			s.maxrss = append(s.maxrss, m)
		}
	}
	return nil
}

func medianU(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func mibs(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }

func printRSS(w io.Writer, ps []*rssProbe, samples rssSamples, passes, rounds int) {
	fmt.Fprintf(w, "#### Child peak RSS\n\n")
	fmt.Fprintf(w, "VmHWM, read by the child from /proc/self/status just before it exits (%d children per row and pass, 1 GiB rows one per pass); p50 over all, each pass's p50 in parentheses. wait4's ru_maxrss is shown for reference only: Linux counts in it the address space the child had before execve, which for a vfork-style start is the benchmark parent's own, so it mostly shows the parent's peak.\n\n", rounds)
	fmt.Fprintln(w, "| Child | n | VmHWM p50 | VmHWM max | ru_maxrss p50 (not used) | Ratio (VmHWM p50) | Compared with | Target |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---|")
	byKey := map[string]*rssProbe{}
	for _, p := range ps {
		byKey[p.key] = p
	}
	all := func(p *rssProbe) (h, m []uint64, per []string) {
		for _, s := range samples[p] {
			h = append(h, s.hwm...)
			m = append(m, s.maxrss...)
			per = append(per, mibs(medianU(s.hwm)))
		}
		return
	}
	for _, p := range ps {
		if p.skip != "" {
			fmt.Fprintf(w, "| %s | – | – | – | – | – | – | skipped: %s |\n", p.label, cell(p.skip))
			continue
		}
		h, m, per := all(p)
		hp := medianU(h)
		ratio, vs, target := "", "", ""
		var x float64
		switch {
		case p.argBytes > 0:
			x = float64(hp) / float64(p.argBytes)
			vs = "the argument's size, " + sizeName(int(p.argBytes))
			target = verdict(fmt.Sprintf("< %.1fx the argument", maxRSSRatio), x < maxRSSRatio)
		case p.base != "" && byKey[p.base] != nil && byKey[p.base].skip == "":
			bh, _, _ := all(byKey[p.base])
			x = float64(hp) / float64(medianU(bh))
			vs = byKey[p.base].label
			target = verdict(fmt.Sprintf("≤ %.1fx", maxRSSRatio), x <= maxRSSRatio)
		}
		if x > 0 {
			ratio = fmt.Sprintf("%.2fx", x)
		}
		pp := ""
		if passes > 1 {
			pp = " (" + strings.Join(per, " / ") + ")"
		}
		fmt.Fprintf(w, "| %s | %d | %s%s | %s | %s | %s | %s | %s |\n", p.label, len(h), mibs(hp), pp, mibs(slices.Max(h)), mibs(medianU(m)), ratio, vs, target)
	}
	fmt.Fprintln(w)
}
