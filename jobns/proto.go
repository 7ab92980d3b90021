package jobns

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/sandbox"
)

// protoVersion is the version of the messages between callers and the
// holder; a holder refuses another one.
const protoVersion = 1

// The conversation, over a unix stream socket:
//
//	caller → holder: one byte carrying stdin, stdout, stderr (SCM_RIGHTS)
//	caller → holder: hello (JSON)
//	holder → caller: started {pid} or error {step, op, path, errno, msg, code}
//	caller → holder: signal {signal}, any number
//	holder → caller: exit {code, signal}
//
// Every JSON message is one value of a json stream.

type hello struct {
	Version int      `json:"version"`
	Digest  string   `json:"digest"`
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Cwd     string   `json:"cwd"`
	// CPUs is the caller's CPU affinity (MPI launchers bind each rank's
	// process to cores): the rank gets it.
	CPUs []int `json:"cpus,omitempty"`
}

type message struct {
	Type   string `json:"type"` // started, error, exit, signal
	Pid    int    `json:"pid,omitempty"`
	Code   int    `json:"code,omitempty"`
	Signal int    `json:"signal,omitempty"`
	// Err is the holder's refusal (type error), in SetupError's JSON.
	Err *sandbox.SetupError `json:"err,omitempty"`
}

// err is the refusal m carries; a refusal for options that differ matches
// ErrOptionsDiffer.
func (m *message) err() *sandbox.SetupError {
	e := m.Err
	if e == nil {
		e = &sandbox.SetupError{Op: "refuse", Err: errors.New("no reason given")}
	}
	if e.Step == "" {
		e.Step = "holder"
	}
	if e.Step == "options" {
		e.Err = fmt.Errorf("%w: %w", ErrOptionsDiffer, e.Err)
	}
	return e
}

// Relayed are the signals a caller passes on to its rank.
var Relayed = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGWINCH}

func relayed(s syscall.Signal) bool {
	for _, r := range Relayed {
		if r == s {
			return true
		}
	}
	return false
}

// Digest is the digest of the sandbox options that a job's ranks must
// share: o without what is the rank's own (Env, ClearEnv, Cwd,
// DieWithParent). The holder refuses a caller with another digest.
func Digest(o *sandbox.Options) (string, error) {
	if o == nil {
		return "", failf("options", "digest", "", "no sandbox options")
	}
	c := o.Clone()
	c.Env, c.ClearEnv, c.Cwd, c.DieWithParent = nil, false, "", false
	b, err := json.Marshal(c)
	if err != nil {
		return "", fail("options", "encode", "", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Required are the namespaces a job's options must create.
var Required = []specs.LinuxNamespaceType{specs.UserNamespace, specs.PIDNamespace, specs.MountNamespace, specs.IPCNamespace}

// CheckOptions reports why o cannot be a job's sandbox: a namespace of
// Required that o does not create, cgroup limits, a cgroup path, or ids
// that would be host root's (sandbox.ErrHostRoot: the caller is root of a
// user namespace that maps host root, and o does not opt in).
func CheckOptions(o *sandbox.Options) error {
	if o == nil {
		return failf("options", "check", "", "no sandbox options")
	}
	for _, t := range Required {
		if !o.NewNamespace(t) {
			return failf("options", "check", "", "the job's sandbox must create a new %s namespace (a job shares new user, pid, mount and ipc namespaces)", t)
		}
	}
	if o.Resources != nil || o.CgroupsPath != "" {
		return failf("options", "check", "", "cgroup limits are not supported for a shared job (the holder's cgroup would hold every rank and outlive its creator)")
	}
	// Before a running holder is reached: a job whose ids would be host
	// root's for a caller that is not host root (sandbox.ErrHostRoot).
	if err := o.Validate(); errors.Is(err, sandbox.ErrHostRoot) {
		return fail("options", "check", "", err)
	}
	return nil
}
