package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsfork/nsfork/fork"
	"github.com/nsfork/nsfork/internal/testreq"
	"github.com/nsfork/nsfork/sandbox"
)

// TestRedteamIDMapSourceForeignSymlink: the source of an id-mapped bind
// is resolved by the launcher, root, not by the sandbox (which could not
// make the mapping); what the sandbox's root then writes there is host
// uid 0's. A user who owns a directory on the source's path (the usual
// case: root runs a user's job with the user's project directory
// id-mapped) put a symbolic link there to a directory only root may
// enter: the sandbox read the root-only file in it and wrote files owned
// by host root (a plain bind of the same path gives the sandbox's
// unprivileged ids nothing there). A symbolic link on the way that
// neither root nor the caller owns is now refused, naming the link;
// root's own links are followed.
func TestRedteamIDMapSourceForeignSymlink(t *testing.T) {
	testreq.RootOnly(t, "id-mapped binds need a root launcher")
	base := tempDir(t)
	rootOnly := filepath.Join(base, "rootonly")
	userDir := filepath.Join(base, "user")
	for _, d := range []string{rootOnly, userDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootOnly, "secret"), []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The user's directory, and in it the user's link to the root-only one.
	if err := os.Symlink(rootOnly, filepath.Join(userDir, "proj")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(userDir, "proj"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(userDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// A link of root's to the same directory: followed as before.
	rootLink := filepath.Join(base, "rootlink")
	if err := os.Symlink(rootOnly, rootLink); err != nil {
		t.Fatal(err)
	}
	run := func(src, made string) error {
		opts := sandbox.Default()
		opts.Mounts = append(opts.Mounts, specs.Mount{Destination: "/mnt", Source: src, Type: "bind", Options: []string{"bind", "rw", "idmap"}})
		p, err := new(fork.Config).Start(context.Background(), "rt.touch", opts, filepath.Join("/mnt", made))
		if err == nil {
			err = p.Wait()
		}
		return err
	}
	err := run(filepath.Join(userDir, "proj"), "through-user-link")
	if _, serr := os.Lstat(filepath.Join(rootOnly, "through-user-link")); serr == nil {
		t.Errorf("through the user's link the sandbox made a file in the root-only directory (launch: %v)", err)
	}
	var se *fork.SetupError
	if !errors.As(err, &se) || se.Step != "mount" || se.Path != filepath.Join(userDir, "proj") {
		t.Errorf("the user's link in the source: %v; want a *SetupError of step mount naming %s", err, filepath.Join(userDir, "proj"))
	}
	if err := run(rootLink, "through-root-link"); err != nil {
		t.Fatalf("root's own link in the source: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(rootOnly, "through-root-link")); err != nil {
		t.Errorf("through root's own link: %v", err)
	}
}

func init() {
	fork.RegisterFunc("rt.setuid", func(path string) error {
		if err := os.WriteFile(path, []byte("#!/bin/sh\nid\n"), 0o755); err != nil {
			return err
		}
		return syscall.Chmod(path, 0o4755)
	})
}

// TestRedteamIDMapSetuidRoot (open, NSFORK_REDTEAM_KNOWN=1): through an
// id-mapped bind the sandbox's root is the source's owner uid 0 on disk
// (docs/oci.md: "what the sandbox creates there is the host's id of its
// inside id"), so it makes files owned by host root, setuid root
// included, in the source: whoever can run a file there on the host (the
// user whose project directory root's launcher mapped into the user's
// job) runs it as host root. The sandbox must not be able to leave a
// file there that is setuid and owned by host uid 0.
func TestRedteamIDMapSetuidRoot(t *testing.T) {
	testreq.RootOnly(t, "id-mapped binds need a root launcher")
	testreq.OptIn(t, "NSFORK_REDTEAM_KNOWN", "open finding (SECURITY.md, id-mapped binds): the sandbox's root writes as host root through an id-mapped bind")
	src := tempDir(t)
	opts := sandbox.Default()
	opts.Mounts = append(opts.Mounts, specs.Mount{Destination: "/mnt", Source: src, Type: "bind", Options: []string{"bind", "rw", "idmap"}})
	p, err := new(fork.Config).Start(context.Background(), "rt.setuid", opts, "/mnt/sh")
	if err == nil {
		err = p.Wait()
	}
	var st syscall.Stat_t
	if serr := syscall.Stat(filepath.Join(src, "sh"), &st); serr == nil && st.Uid == 0 && st.Mode&syscall.S_ISUID != 0 {
		t.Errorf("the sandbox left a setuid file owned by host root in the id-mapped source: mode %#o uid %d (launch: %v)", st.Mode&0o7777, st.Uid, err)
	}
}
