//go:build psx

package main

import _ "github.com/nsfork/nsfork/psx"
