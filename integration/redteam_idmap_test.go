package integration

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
