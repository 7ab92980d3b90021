package main

import (
	"strings"

	"github.com/spf13/pflag"
)

// stringsValue is a repeatable string flag, each use appending one value
// as pflag's StringArray does. pflag renders every flag's default when the
// flag is added, and a StringArray does that through an encoding/csv
// writer with a 4 KiB buffer: with 10 such flags on two commands that was
// about a tenth of sandboxrun's start. This one's default renders as "".
type stringsValue struct{ p *[]string }

func (v stringsValue) Set(s string) error {
	*v.p = append(*v.p, s)
	return nil
}

func (v stringsValue) String() string { return strings.Join(*v.p, ",") }

// Type is pflag's name for the kind, which cobra's completion reads to
// offer the flag again.
func (v stringsValue) Type() string { return "stringArray" }

// stringsVar adds a repeatable string flag (see stringsValue); p starts
// empty.
func stringsVar(fs *pflag.FlagSet, p *[]string, name, usage string) {
	*p = nil
	fs.Var(stringsValue{p}, name, usage)
}
