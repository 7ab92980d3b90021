// Command commoffleader calls gofork's Init from main on a thread that is
// not the thread group leader (the leader stays locked to the main
// goroutine), so that the child renames itself through /proc/self/comm,
// not prctl, for TestCommOffLeader. The child prints the process's name
// and whether Init ran on the leader.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	fork "github.com/nsfork/nsfork/gofork"
)

func init() {
	runtime.LockOSThread() // main keeps the leader
	fork.RegisterFunc("comm", func() {
		b, _ := os.ReadFile("/proc/self/comm")
		fmt.Printf("comm %s leader %v\n", strings.TrimSpace(string(b)), syscall.Gettid() == os.Getpid())
	})
}

func main() {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		fork.Init()
		close(done)
	}()
	<-done
	f := fork.NewFork("comm", func() {})
	f.Stdout = os.Stdout
	if err := f.Fork(); err != nil {
		panic(err)
	}
	if err := f.Wait(); err != nil {
		panic(err)
	}
}
