package jobns_test

import (
	"context"
	"fmt"
	"os"

	"github.com/nsfork/nsfork/jobns"
	"github.com/nsfork/nsfork/sandbox"
)

// Two ranks of job "demo" share one set of user, pid, mount and ipc
// namespaces. The program must call fork.Init first thing in main (or in
// TestMain), as every program using package fork does.
func Example() {
	job := &jobns.Job{Name: "demo", Options: sandbox.Rootless()}
	env := jobns.RankEnv(job.Options, os.Environ())
	var ranks []*jobns.Rank
	for range 2 {
		r, err := job.Start(context.Background(), jobns.Spec{Argv: []string{"readlink", "/proc/self/ns/pid"}, Env: env})
		if err != nil {
			fmt.Println(err) // e.g. options: compare: the sandbox options differ ...
			return
		}
		ranks = append(ranks, r)
	}
	for _, r := range ranks {
		st, err := r.Wait()
		fmt.Println(st.ExitCode(), err)
	}
}
