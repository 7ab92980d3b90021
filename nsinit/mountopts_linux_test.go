package nsinit

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// TestRecursiveMountOptions: the r- options go to the recursive change, the
// plain ones to the top mount, a later option wins, and a new file system
// gets both with the plain ones on top.
func TestRecursiveMountOptions(t *testing.T) {
	mo, err := parseMountOptions([]string{"rbind", "rro", "rnosuid", "rrw", "rro", "rnodev", "rsuid", "ro", "rnoatime", "tmpcopyup"})
	if err != nil {
		t.Fatal(err)
	}
	if mo.rec.set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV || mo.rec.clr != unix.MOUNT_ATTR_NOSUID {
		t.Errorf("recursive set %#x clr %#x", mo.rec.set, mo.rec.clr)
	}
	if !mo.rec.atimeSet || mo.rec.atime != unix.MOUNT_ATTR_NOATIME || mo.atimeSet {
		t.Errorf("recursive atime %v %#x, plain %v", mo.rec.atimeSet, mo.rec.atime, mo.atimeSet)
	}
	if mo.set != unix.MOUNT_ATTR_RDONLY || mo.clr != 0 || len(mo.data) != 0 || !mo.copyUp {
		t.Errorf("plain set %#x clr %#x data %q copyUp %v", mo.set, mo.clr, mo.data, mo.copyUp)
	}
	// A new file system: the recursive ones, then the plain ones.
	mo, _ = parseMountOptions([]string{"rro", "rw", "rnosuid", "rrelatime", "noatime"})
	if a := mo.fsAttrs(); a != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOATIME {
		t.Errorf("fsAttrs %#x", a)
	}
	// Every option sandbox calls recursive is parsed as one here (the two
	// lists change together), and none is taken for file-system data.
	for _, o := range sandbox.RecursiveMountOptions {
		mo, err := parseMountOptions([]string{o})
		if err != nil || mo.rec.empty() || len(mo.data) != 0 {
			t.Errorf("%s: %+v %v", o, mo, err)
		}
	}
	// everywhere makes the plain options recursive too.
	e := (&mountOptions{set: unix.MOUNT_ATTR_RDONLY}).everywhere()
	if !e.recursive || e.rec.set != unix.MOUNT_ATTR_RDONLY {
		t.Errorf("everywhere: %+v", e)
	}
}

// TestOwnCgroupDirs: the own cgroup of each hierarchy under /sys/fs/cgroup,
// v1 with a combined and a named hierarchy, and a cgroup2 mount; a mount
// whose root does not hold the own cgroup is an error.
func TestOwnCgroupDirs(t *testing.T) {
	mi := `25 20 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
29 20 0:26 / /other rw - cgroup cgroup rw,pids
`
	self := `3:cpu,cpuacct:/job/nsfork-1
2:name=systemd:/user.slice
0::/job/nsfork-1
`
	dirs, err := ownCgroupDirs(mi, self)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupDir{
		{"unified", "/sys/fs/cgroup/unified/job/nsfork-1"},
		{"cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/job/nsfork-1"},
		{"systemd", "/sys/fs/cgroup/systemd/user.slice"},
	}
	if len(dirs) != len(want) {
		t.Fatalf("%+v", dirs)
	}
	for i := range want {
		if dirs[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, dirs[i], want[i])
		}
	}
	// cgroup2 on /sys/fs/cgroup itself, mounted from a sub-cgroup.
	dirs, err = ownCgroupDirs("30 20 0:27 /job /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", self)
	if err != nil || len(dirs) != 1 || dirs[0] != (cgroupDir{"", "/sys/fs/cgroup/nsfork-1"}) {
		t.Errorf("%+v %v", dirs, err)
	}
	if _, err := ownCgroupDirs("30 20 0:27 /elsewhere /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", self); err == nil {
		t.Error("an own cgroup outside the mount's root accepted")
	}
	if _, err := ownCgroupDirs("", self); err == nil {
		t.Error("no hierarchy: no error")
	}
}

// TestIDMapMountOptions: idmap and ridmap mark the bind as the launcher's
// id-mapped clone and are never taken for file-system data; sandbox reads
// the same options the same way (which mount, recursive mapping, rbind).
func TestIDMapMountOptions(t *testing.T) {
	for _, c := range []struct {
		opts                  []string
		mapped, recMap, rbind bool
	}{
		{[]string{"bind", "idmap"}, true, false, false},
		{[]string{"rbind", "idmap"}, true, false, true},
		{[]string{"rbind", "ridmap", "ro"}, true, true, true},
		{[]string{"bind", "ridmap"}, true, true, false},
		{[]string{"rbind", "rro"}, false, false, true},
	} {
		mo, err := parseMountOptions(c.opts)
		if err != nil || mo.idmap != c.mapped || len(mo.data) != 0 {
			t.Errorf("%q: idmap %v data %q err %v", c.opts, mo.idmap, mo.data, err)
		}
		mapped, recMap, rbind := sandbox.MountIDMap(specs.Mount{Options: c.opts})
		if mapped != c.mapped || recMap != c.recMap || rbind != c.rbind {
			t.Errorf("%q: MountIDMap %v %v %v, want %v %v %v", c.opts, mapped, recMap, rbind, c.mapped, c.recMap, c.rbind)
		}
	}
}
