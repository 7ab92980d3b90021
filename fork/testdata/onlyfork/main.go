// Command onlyfork imports the fork package and nothing else of nsfork,
// as a go-fork user does after the import swap: TestForkOnlyDeps lists the
// modules it links.
package main

import "github.com/nsfork/nsfork/fork"

func init() {
	fork.RegisterFunc("f", func() {})
	fork.Init()
}

func main() {
	if err := fork.Fork("f"); err != nil {
		panic(err)
	}
}
