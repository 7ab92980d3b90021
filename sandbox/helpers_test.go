package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// testHost is the live file system with made-up caller ids and made-up
// /etc/subuid, /etc/subgid and /proc/self/status.
func testHost(euid, egid int, files map[string]string) *host {
	h := liveHost()
	h.euid, h.egid, h.hostRoot = euid, egid, euid == 0
	h.groups = nil
	zero := uint32(0)
	h.rootIDs = RootIDs{UID: &zero, GID: &zero} // in the initial user namespace
	h.userName = func(uid int) string {
		if uid == 1000 {
			return "alice"
		}
		return ""
	}
	h.readFile = func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		if name == "/proc/self/status" {
			return []byte("Name:\ttest\nCapEff:\t0000000000000000\n"), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return h
}

var (
	rootHost     = testHost(0, 0, nil)
	rootlessHost = testHost(1000, 1000, map[string]string{
		SubUIDFile: "# comment\nbob:200000:65536\nalice:100000:65536\n",
		SubGIDFile: "1000:100000:65536\n",
	})
)

// testTree makes a directory with a rootfs, a file, a symlink to each and
// returns its path.
func testTree(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	must(t, os.Mkdir(filepath.Join(d, "rootfs"), 0o755))
	must(t, os.WriteFile(filepath.Join(d, "file"), nil, 0o644))
	must(t, os.Symlink("file", filepath.Join(d, "link-to-file")))
	must(t, os.Symlink("rootfs", filepath.Join(d, "link-to-rootfs")))
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ns(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace { return namespaces(types...) }

func idmap(triples ...uint32) []specs.LinuxIDMapping {
	var m []specs.LinuxIDMapping
	for i := 0; i+2 < len(triples); i += 3 {
		m = append(m, specs.LinuxIDMapping{ContainerID: triples[i], HostID: triples[i+1], Size: triples[i+2]})
	}
	return m
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
