package sandbox

import (
	"errors"
	"io/fs"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRootID: the owner of an nsfs file as the caller's namespace shows
// it, with the overflow id told apart from a real mapping.
func TestRootID(t *testing.T) {
	const of = 65534
	unreadable := &fs.PathError{Op: "open", Path: "/proc/self/uid_map", Err: fs.ErrPermission}
	for _, tc := range []struct {
		name  string
		seen  uint32
		own   int
		m     string
		err   error
		want  int64 // -1: unmapped
		story string
		owns  bool // the kernel's owner test (ownsUserNS) passes
		gid   bool // a gid: the owner test tells nothing of the caller's own
	}{
		{"host root under unshare -r", 0, 0, "0 0 1\n", nil, 0, "a mapped id is host root's", false, false},
		{"host root mapped to 1000", 1000, 0, "0 5000 1\n1000 0 1\n", nil, 1000, "any id other than the overflow one is exact", false, false},
		{"uid 65534 under unshare -r", of, 0, "0 65534 1\n", nil, -1, "the overflow id is no id of the namespace: root is unmapped", false, false},
		{"euid 65534 in a namespace of subordinate ids", of, of, "0 1000 1\n1 100000 65536\n", nil, -1, "65534 is 165533 outside, not 0", false, false},
		{"overflow id mapped onto host root", of, 0, "65534 0 1\n", nil, of, "host root is the overflow id itself", false, false},
		{"own id unmapped (credentials kept)", of, of, "0 1000 1\n", nil, of, "the caller's own id is unknown: it may be host root", false, false},
		{"unreadable map", of, 0, "", unreadable, of, "fail closed", false, false},
		{"garbled map", of, 0, "0 x 1\n", nil, of, "fail closed", false, false},
		{"0 needs no map", 0, 0, "", unreadable, 0, "0 is host root's (or an overflow id of 0: refuse more)", false, false},
		{"two deep: host root is the overflow id (host root, unshare --map-user=1000, then --map-user=65534)", of, of, "65534 1000 1\n", nil, of, "the parent's 1000 is host root: the owner test says so", true, false},
		{"two deep: the overflow id is another user's", of, of, "65534 1000 1\n", nil, -1, "the owner test fails: the caller's own uid is not host root's", false, false},
		{"two deep, gid: the caller's own gid may be host gid 0", of, of, "65534 1000 1\n", nil, of, "the owner test compares uids: fail closed", false, true},
		{"two deep, gid: the owner test passes", of, 5, "5 7 1\n65534 1000 1\n", nil, of, "host root's uid is mapped (or is the caller's): its gid is taken to be too (fail closed)", true, true},
		{"gid of subordinate ids, own gid not the overflow id", of, 0, "0 1000 1\n1 100000 65536\n", nil, -1, "rootless podman's root: no owner", false, true},
	} {
		got := rootID(tc.seen, func() uint32 { return of }, tc.own, func() ([]byte, error) { return []byte(tc.m), tc.err }, func() bool { return tc.owns }, !tc.gid)
		g := int64(-1)
		if got != nil {
			g = int64(*got)
		}
		if g != tc.want {
			t.Errorf("%s: rootID(%d, own %d, map %q, %v, owner test %v, gid %v) = %d, want %d (%s)", tc.name, tc.seen, tc.own, tc.m, tc.err, tc.owns, tc.gid, g, tc.want, tc.story)
		}
	}
}

// TestValidateHostRoot: root of a user namespace that maps host root
// (fake ids) gets ErrHostRoot for every sandbox whose ids reach host
// root's, and nothing else changes.
func TestValidateHostRoot(t *testing.T) {
	id := func(v uint32) *uint32 { return &v }
	nsRoot := func(uid, gid *uint32) *host {
		h := testHost(0, 0, map[string]string{"/proc/self/uid_map": "0 0 65536\n", "/proc/self/gid_map": "0 0 65536\n"})
		h.hostRoot = false
		h.rootIDs = RootIDs{UID: uid, GID: gid}
		return h
	}
	hostRootMapped := nsRoot(id(0), id(0))
	// capHolder is h as uid 7 of its namespace with /proc/self/status
	// (CAP_SYS_ADMIN effective, to create namespaces without a user one).
	capHolder := func(h *host, status string) *host {
		c := *h
		c.euid, c.egid = 7, 7
		c.readFile = func(name string) ([]byte, error) {
			if name == "/proc/self/status" {
				return []byte(status), nil
			}
			return h.readFile(name)
		}
		return &c
	}
	rootAt5 := nsRoot(id(5), nil)
	withGroups := func(h *host, groups ...int) *host {
		c := *h
		c.groups = groups
		return &c
	}
	user1000 := testHost(1000, 1000, nil) // initial namespace: host root is 0
	trusted := rootless(0, 0, false)
	trusted.TrustedHostRoot = true
	noUserNS := func(u specs.User, caps *specs.LinuxCapabilities) *Options {
		return &Options{Namespaces: ns(specs.PIDNamespace), User: u, Capabilities: caps}
	}
	for _, tc := range []struct {
		name  string
		o     *Options
		h     *host
		field string // "": valid
	}{
		{"Rootless (unshare -r by host root)", rootless(0, 0, false), hostRootMapped, "uidMappings[0], gidMappings[0]"},
		{"default maps", &Options{Namespaces: ns(specs.UserNamespace)}, hostRootMapped, "uidMappings, gidMappings"},
		{"more ids of its namespace", &Options{Namespaces: ns(specs.UserNamespace), UIDMappings: idmap(0, 1, 10), GIDMappings: idmap(0, 0, 1)}, hostRootMapped, "gidMappings[0]"},
		{"no user namespace", noUserNS(specs.User{}, &specs.LinuxCapabilities{}), hostRootMapped, "user.uid, user.gid"},
		{"TrustedHostRoot", trusted, hostRootMapped, ""},
		{"HostRoot", HostRoot(), hostRootMapped, ""},
		{"zero Options (no sandbox)", &Options{}, hostRootMapped, ""},
		{"ids other than root's", &Options{Namespaces: ns(specs.UserNamespace), UIDMappings: idmap(0, 1, 10), GIDMappings: idmap(0, 1, 10)}, hostRootMapped, ""},
		{"host root is 5: 0 maps 0", rootless(0, 0, false), rootAt5, ""},
		{"host root is 5: a map over 5", &Options{Namespaces: ns(specs.UserNamespace), UIDMappings: idmap(0, 0, 10), GIDMappings: idmap(0, 0, 1)}, rootAt5, "uidMappings[0]"},
		{"host root is 5: no user namespace, runs as 5", noUserNS(specs.User{UID: 5}, &specs.LinuxCapabilities{}), rootAt5, "user.uid"},
		{"host root is 5: no user namespace, keeps CAP_SETUID", noUserNS(specs.User{UID: 7}, &specs.LinuxCapabilities{Bounding: []string{"CAP_SETUID"}}), rootAt5, "capabilities.bounding"},
		{"host root is 5: no user namespace, no capabilities", noUserNS(specs.User{UID: 7}, &specs.LinuxCapabilities{}), rootAt5, ""},
		{"host root is 5: uid 7 holding CAP_SETUID (permitted), no user namespace, keeps it", noUserNS(specs.User{UID: 7, GID: 7}, &specs.LinuxCapabilities{Bounding: []string{"CAP_SETUID"}}), capHolder(rootAt5, "CapEff:\t0000000000200000\nCapPrm:\t0000000000200080\n"), "capabilities.bounding"},
		{"host root is 5: uid 7 without CAP_SETUID, no user namespace", noUserNS(specs.User{UID: 7, GID: 7}, &specs.LinuxCapabilities{Bounding: []string{"CAP_SETUID"}}), capHolder(rootAt5, "CapEff:\t0000000000200000\nCapPrm:\t0000000000200040\n"), ""},
		{"uid 65534 under unshare -r (root unmapped)", rootless(0, 0, false), nsRootHost, ""},
		{"uid 1000 in the initial namespace", rootless(1000, 1000, false), user1000, ""},
		{"uid 1000 in the initial namespace, supplementary group 0", rootless(1000, 1000, false), withGroups(user1000, 27, 0), "groups"},
		{"uid 1000 in the initial namespace, supplementary groups without 0", rootless(1000, 1000, false), withGroups(user1000, 27, 100), ""},
		{"uid 1000, supplementary group 0, TrustedHostRoot", trusted, withGroups(user1000, 0), ""},
		{"host root", Root(), rootHost, ""},
	} {
		err := tc.o.validate(tc.h)
		var e *Error
		switch {
		case tc.field == "" && errors.Is(err, ErrHostRoot):
			t.Errorf("%s: %v, want no ErrHostRoot", tc.name, err)
		case tc.field != "" && !errors.Is(err, ErrHostRoot):
			t.Errorf("%s: %v, want ErrHostRoot", tc.name, err)
		case tc.field != "" && (!errors.As(err, &e) || e.Field != tc.field || !errors.Is(err, ErrInvalid)):
			t.Errorf("%s: %v, want an *Error for %s matching ErrInvalid", tc.name, err, tc.field)
		case tc.field != "" && !contains(err.Error(), "host uid 0") && !contains(err.Error(), "host gid 0"):
			t.Errorf("%s: %q does not say why", tc.name, err)
		case tc.field != "" && !contains(err.Error(), "TrustedHostRoot") || tc.field != "" && !contains(err.Error(), "--host-root"):
			t.Errorf("%s: %q does not say how out", tc.name, err)
		}
	}
}
