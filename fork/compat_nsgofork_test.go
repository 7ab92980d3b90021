package fork_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nsfork/nsfork/internal/testreq"
)

// goforkExtraPackages are the only packages a program that imports only
// nsfork's gofork links beyond what the same program built against go-fork
// v0.1.1 links (go list -deps, with cgo and without). Every child of such a
// program runs their package initialisers; go-fork's own io/ioutil is the
// one package the other way round.
var goforkExtraPackages = map[string]string{
	"github.com/nsfork/nsfork/gofork":             "the package",
	"github.com/nsfork/nsfork/internal/forkchild": "the child side shared with fork",
	"github.com/nsfork/nsfork/internal/wire":      "the frames on the channel",
	"golang.org/x/sys/unix":                       "socketpair, getrandom, SO_PEERCRED",
	"encoding/hex":                                "the marker's token",
	"sort":                                        "x/sys/unix",
}

// goforkHeavyPackages must never reach a program that imports only gofork:
// the sandbox and what it links.
var goforkHeavyPackages = []string{
	"github.com/nsfork/nsfork/fork", "github.com/nsfork/nsfork/sandbox", "github.com/nsfork/nsfork/nsinit",
	"github.com/nsfork/nsfork/seccomp", "github.com/nsfork/nsfork/psx", "github.com/nsfork/nsfork/internal/cgroups",
	"github.com/moby/", "github.com/opencontainers/", "github.com/cyphar/", "github.com/landlock-lsm/",
	"golang.org/x/net/", "kernel.org/", "encoding/json", "crypto/", "os/user", "net",
}

// goListDeps lists the packages ./testdata/onlyfork built with tags links.
func goListDeps(t *testing.T, cgo, tags string) []string {
	t.Helper()
	list := exec.Command("go", "list", "-deps", "-tags", tags, "./testdata/onlyfork")
	list.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	out, err := list.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=%s go list -deps -tags %s: %v", cgo, tags, err)
	}
	return strings.Fields(string(out))
}

// TestGoForkOnlyDeps: a program that imports only gofork (fork/testdata/
// onlyfork, -tags nsgofork) links what the same program built against
// go-fork links plus goforkExtraPackages, none of goforkHeavyPackages, no
// module but golang.org/x/sys (go version -m), and, built with cgo, no C
// code: it stays statically linked, as a go-fork program does.
func TestGoForkOnlyDeps(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build fork/testdata/onlyfork")
	_, err = exec.LookPath("gcc")
	testreq.Need(t, err == nil, "gcc, for the cgo build of fork/testdata/onlyfork")
	for _, cgo := range []string{"0", "1"} {
		gof := goListDeps(t, cgo, "gofork")
		nsg := goListDeps(t, cgo, "nsgofork")
		if !slices.Contains(nsg, "github.com/nsfork/nsfork/gofork") || !slices.Contains(gof, "github.com/kraken-hpc/go-fork") {
			t.Fatalf("CGO_ENABLED=%s: onlyfork built wrong: %v / %v", cgo, nsg, gof)
		}
		for _, p := range nsg {
			for _, h := range goforkHeavyPackages {
				if p == h || strings.HasSuffix(h, "/") && strings.HasPrefix(p, h) {
					t.Errorf("CGO_ENABLED=%s: a program that imports only gofork links %s", cgo, p)
				}
			}
			if !slices.Contains(gof, p) && goforkExtraPackages[p] == "" {
				t.Errorf("CGO_ENABLED=%s: a program that imports only gofork links %s, which go-fork's does not: not in goforkExtraPackages", cgo, p)
			}
		}

		bin := buildOnlyfork(t, t.TempDir(), cgo, "nsgofork")
		out, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatalf("go version -m: %v", err)
		}
		var mods []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "dep" {
				mods = append(mods, f[1])
			}
		}
		if !slices.Equal(mods, []string{"golang.org/x/sys"}) {
			t.Errorf("CGO_ENABLED=%s: a program that imports only gofork links the modules %q, want only golang.org/x/sys", cgo, mods)
		}
		if cgo == "0" {
			continue
		}
		list := exec.Command("go", "list", "-deps", "-tags", "nsgofork", "-f", "{{if .CgoFiles}}{{.ImportPath}}{{end}}", "./testdata/onlyfork")
		list.Env = append(os.Environ(), "CGO_ENABLED=1")
		if pkgs, err := list.Output(); err != nil || len(strings.TrimSpace(string(pkgs))) > 0 {
			t.Errorf("a cgo build of a program that imports only gofork links C code: %q (%v)", pkgs, err)
		}
		checkStatic(t, bin, "gofork")
	}
}

// goforkInitBudget bounds what the package initialisers of a program that
// imports only gofork may allocate beyond those of the same program built
// against go-fork (today about 1 KB less: both are mostly encoding/gob's
// 28 KB), and goforkInitPackages how many more packages may have one.
const (
	goforkInitBudget   = 4 << 10
	goforkInitPackages = 2
)

// TestGoForkOnlyInit compares the package initialisation
// (GODEBUG=inittrace=1) of fork/testdata/onlyfork built against gofork
// and against go-fork: the bytes allocated and the number of packages,
// which do not depend on the machine's load, against the budgets above;
// the clock time, which does, is logged (medians of interleaved starts).
func TestGoForkOnlyInit(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build fork/testdata/onlyfork")
	g, s, gc, sc := compareInit(t, "nsgofork")
	t.Logf("package inits: go-fork %d packages, %d bytes, %.2f ms; gofork %d packages, %d bytes, %.2f ms (medians of %d): clock ratio %.2f",
		g.inits, g.bytes, median(gc), s.inits, s.bytes, median(sc), len(sc), median(sc)/median(gc))
	if s.bytes-g.bytes > goforkInitBudget || s.inits-g.inits > goforkInitPackages {
		var pkgs []string
		for p, b := range s.perPkg {
			if b > g.perPkg[p] {
				pkgs = append(pkgs, fmt.Sprintf("%s %d", p, b-g.perPkg[p]))
			}
		}
		slices.Sort(pkgs)
		t.Errorf("the package inits of a program that imports only gofork: %d packages allocating %d bytes, go-fork's %d and %d; over the budget of %d more packages and %d bytes: %s",
			s.inits, s.bytes, g.inits, g.bytes, goforkInitPackages, goforkInitBudget, strings.Join(pkgs, ", "))
	}
}

// TestForkAndGoFork: a program that imports fork and gofork, with a
// function of the same name registered in each (fork/testdata/both), forks
// through both; each child runs the function of the package that started
// it, whichever Init the program calls first.
func TestForkAndGoFork(t *testing.T) {
	_, err := exec.LookPath("go")
	testreq.Need(t, err == nil, "the go command, to build fork/testdata/both")
	bin := filepath.Join(t.TempDir(), "both")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/both").CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/both: %v\n%s", err, out)
	}
	for _, order := range []string{"fork-first", "gofork-first"} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "BOTH_ORDER="+order)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", order, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		slices.Sort(lines)
		if want := []string{"done", "fork ran via fork", "gofork ran via gofork"}; !slices.Equal(lines, want) {
			t.Errorf("%s: the program printed %q, want %q", order, lines, want)
		}
	}
}
