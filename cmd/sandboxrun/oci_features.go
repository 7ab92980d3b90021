package main

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/nsfork/nsfork/internal/ociruntime"
)

func ociFeatures(g *ociGlobal, args []string) error {
	fs := verbFlags("features")
	if _, err := parseVerb(fs, args, 0, 0, "sandboxrun [global flags] features"); err != nil {
		return err
	}
	return printJSON(g, &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         ociruntime.SupportedHooks,
	})
}
