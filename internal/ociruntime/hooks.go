package ociruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hook kinds, as config.json names them.
const (
	HookPrestart        = "prestart"
	HookCreateRuntime   = "createRuntime"
	HookCreateContainer = "createContainer"
	HookStartContainer  = "startContainer"
	HookPoststart       = "poststart"
	HookPoststop        = "poststop"
)

// SupportedHooks are the kinds this runtime runs; the rest are refused.
// prestart and createRuntime run in the runtime's namespaces once the
// container's namespaces exist and its setup is complete, before create
// returns; poststart after start released the command; poststop in delete.
// createContainer and startContainer would have to run inside the
// container's mount namespace, which nsfork does not do: refused.
var SupportedHooks = []string{HookPrestart, HookCreateRuntime, HookPoststart, HookPoststop}

// Hooks are config.json's hooks, decoded by their JSON names: prestart is
// deprecated in the runtime-spec, but callers still send it, and it runs
// where createRuntime does.
type Hooks struct {
	Prestart        []specs.Hook `json:"prestart,omitempty"`
	CreateRuntime   []specs.Hook `json:"createRuntime,omitempty"`
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	StartContainer  []specs.Hook `json:"startContainer,omitempty"`
	Poststart       []specs.Hook `json:"poststart,omitempty"`
	Poststop        []specs.Hook `json:"poststop,omitempty"`
}

// DecodeHooks reads the hooks of a config.json's text (nil for none).
func DecodeHooks(config []byte) (*Hooks, error) {
	var c struct {
		Hooks *Hooks `json:"hooks"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, Fail("hooks", "", "decode", "", "", err)
	}
	return c.Hooks, nil
}

// CheckHooks refuses hooks of a kind this runtime cannot run.
func CheckHooks(h *Hooks) error {
	if h == nil {
		return nil
	}
	for kind, list := range map[string][]specs.Hook{HookCreateContainer: h.CreateContainer, HookStartContainer: h.StartContainer} {
		if len(list) > 0 {
			return Fail("hooks."+kind, "", "", "", "not supported: nsfork runs no hook inside the container's namespaces (supported: "+strings.Join(SupportedHooks, ", ")+")", nil)
		}
	}
	for kind, list := range map[string][]specs.Hook{HookPrestart: h.Prestart, HookCreateRuntime: h.CreateRuntime, HookPoststart: h.Poststart, HookPoststop: h.Poststop} {
		for i, hk := range list {
			if hk.Path == "" || hk.Path[0] != '/' {
				return Fail(fmt.Sprintf("hooks.%s[%d]", kind, i), "", "", "", fmt.Sprintf("path %q is not absolute", hk.Path), nil)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return Fail(fmt.Sprintf("hooks.%s[%d]", kind, i), "", "", "", "timeout must be greater than zero", nil)
			}
		}
	}
	return nil
}

// RunHooks runs the hooks of one kind in order, each with the state on its
// stdin, its own args and env (nothing of ours), and its timeout. The first
// failure stops the others and is returned, naming hooks.KIND[i].
func RunHooks(kind string, hooks []specs.Hook, st *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return Fail("hooks."+kind, "", "encode state", "", "", err)
	}
	for i, h := range hooks {
		if err := runHook(h, in); err != nil {
			return Fail(fmt.Sprintf("hooks.%s[%d]", kind, i), "", "", h.Path, "", err)
		}
	}
	return nil
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if s := strings.TrimSpace(out.String()); s != "" {
			if len(s) > 512 {
				s = s[len(s)-512:]
			}
			return fmt.Errorf("%w: %s", err, strings.Join(strings.Fields(s), " "))
		}
		return err
	}
	return nil
}
