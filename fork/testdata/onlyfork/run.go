package main

import "os"

// run forks "f" when asked to; otherwise the program only initialises.
func run(forkFn func(string, ...any) error) {
	if len(os.Args) > 1 && os.Args[1] == "fork" {
		if err := forkFn("f"); err != nil {
			panic(err)
		}
	}
}
