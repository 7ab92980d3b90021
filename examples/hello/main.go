// Command hello forks a Go function into a sandbox and prints what it
// returns: the main job of the README's quick start.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/nsfork/nsfork/fork"
	// A sandbox changes every thread of the child; a cgo build needs
	// libcap's psx for that (a CGO_ENABLED=0 build does not).
	_ "github.com/nsfork/nsfork/psx"
	"github.com/nsfork/nsfork/sandbox"
)

// whoami runs in the child: it reports how the sandbox looks from inside.
func whoami(greeting string) (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	var capEff, nnp string
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			capEff = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "NoNewPrivs:"); ok {
			nnp = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("%s from pid %d, uid %d, hostname %q, CapEff %s, NoNewPrivs %s",
		greeting, os.Getpid(), os.Getuid(), host, capEff, nnp), nil
}

func init() {
	fork.RegisterFunc("whoami", whoami)
	fork.Init()
}

func main() {
	opts := sandbox.Default()
	opts.Hostname = "sandbox"
	fmt.Printf("parent: pid %d, uid %d\n", os.Getpid(), os.Getuid())
	msg, err := fork.Call[string](context.Background(), "whoami", opts, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("child: ", msg)
}
