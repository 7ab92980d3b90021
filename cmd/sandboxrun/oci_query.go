package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nsfork/nsfork/internal/ociruntime"
	"github.com/nsfork/nsfork/internal/passwd"
)

func ociState(g *ociGlobal, args []string) error {
	fs := verbFlags("state")
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] state ID")
	if err != nil {
		return err
	}
	rec, st, err := lockedRecord(g, pos[0])
	if err != nil {
		return err
	}
	return printJSON(g, rec.SpecState(st))
}

// lockedRecord reads a container's record and status under its lock.
func lockedRecord(g *ociGlobal, id string) (*ociruntime.Record, string, error) {
	root, err := g.queryRoot()
	if err != nil {
		return nil, "", err
	}
	lk, rec, err := lockRecord(root, id)
	if err != nil {
		return nil, "", err
	}
	lk.Unlock()
	return rec, rec.Status(), nil
}

// lockRecord takes the lock of container id and reads its record; the
// caller unlocks.
func lockRecord(root *ociruntime.Root, id string) (*ociruntime.Locked, *ociruntime.Record, error) {
	lk, err := root.Lock(id)
	if err != nil {
		return nil, nil, err
	}
	rec, err := lk.Load()
	if err != nil {
		lk.Unlock()
		return nil, nil, err
	}
	return lk, rec, nil
}

func printJSON(g *ociGlobal, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdio.out, "%s\n", b)
	return nil
}

// listEntry is one container in `list --format json`, with runc's field
// names.
type listEntry struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func ociList(g *ociGlobal, args []string) error {
	fs := verbFlags("list")
	format := fs.StringP("format", "f", "table", "table or json")
	quiet := fs.BoolP("quiet", "q", false, "ids only")
	if _, err := parseVerb(fs, args, 0, 0, "sandboxrun [global flags] list [--format table|json] [--quiet]"); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return ociruntime.Fail("list", "", "", "", fmt.Sprintf("--format %q: table or json", *format), nil)
	}
	root, err := g.queryRoot()
	if err != nil {
		return err
	}
	ids, err := root.IDs()
	if err != nil {
		return err
	}
	entries := []listEntry{}
	for _, id := range ids {
		// Records are replaced atomically: no lock needed to read one,
		// and a list does not wait for a long command on one id.
		rec, err := root.Load(id)
		if err != nil {
			continue
		}
		st := rec.Status()
		owner := strconv.Itoa(rec.Owner)
		if name := passwd.Name(rec.Owner); name != "" {
			owner = name
		}
		entries = append(entries, listEntry{Version: rec.SpecState(st).Version, ID: id, Pid: rec.SpecState(st).Pid, Status: st,
			Bundle: rec.Bundle, Created: rec.Created, Owner: owner, Annotations: rec.Annotations})
	}
	switch {
	case *quiet:
		for _, e := range entries {
			fmt.Fprintln(g.stdio.out, e.ID)
		}
	case *format == "json":
		return printJSON(g, entries)
	default:
		w := tabwriter.NewWriter(g.stdio.out, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, e := range entries {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Pid, e.Status, e.Bundle, e.Created.Format(time.RFC3339Nano), e.Owner)
		}
		return w.Flush()
	}
	return nil
}

func ociPs(g *ociGlobal, args []string) error {
	fs := verbFlags("ps")
	format := fs.StringP("format", "f", "table", "table or json")
	pos, err := parseVerb(fs, args, 1, 1, "sandboxrun [global flags] ps [--format table|json] ID")
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return ociruntime.Fail("ps", "", "", "", fmt.Sprintf("--format %q: table or json", *format), nil)
	}
	rec, st, err := lockedRecord(g, pos[0])
	if err != nil {
		return err
	}
	pids := []int{}
	if st != ociruntime.StatusStopped {
		pids = append(pids, containerPids(rec)...)
		if len(pids) == 0 {
			pids = append(pids, rec.Init.Pid)
		}
	}
	if *format == "json" {
		return printJSON(g, pids)
	}
	fmt.Fprintln(g.stdio.out, "PID")
	for _, p := range pids {
		fmt.Fprintln(g.stdio.out, p)
	}
	return nil
}
