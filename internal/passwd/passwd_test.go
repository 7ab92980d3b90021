package passwd

import (
	"os/user"
	"strconv"
	"testing"
)

func TestFind(t *testing.T) {
	b := []byte("# comment\nroot:x:0:0:root:/root:/bin/sh\n\nbob:x:1000:1001::/home/bob:/bin/sh\nbad line\nshort:x:7\nalice:x:10000:10000::/home/a:/bin/sh\n")
	for uid, want := range map[int]User{0: {"root", "0"}, 1000: {"bob", "1001"}, 10000: {"alice", "10000"}, 100: {}, 1: {}, 7: {}} {
		got, ok := find(b, uid)
		if got != want || ok != (want.Name != "") {
			t.Errorf("find(%d) = %+v, %v; want %+v", uid, got, ok, want)
		}
	}
}

// TestLookupMatchesOSUser: the lookup finds what os/user finds for the
// ids this machine names, and fails where it fails (the test may link
// os/user; the package does not).
func TestLookupMatchesOSUser(t *testing.T) {
	for _, uid := range []int{0, 65534, 4242424} {
		want, werr := user.LookupId(strconv.Itoa(uid))
		got, err := Lookup(uid)
		if (werr == nil) != (err == nil) {
			t.Fatalf("Lookup(%d) error %v, os/user error %v", uid, err, werr)
		}
		if werr == nil && (got.Name != want.Username || got.GID != want.Gid) {
			t.Errorf("Lookup(%d) = %+v, os/user says %q gid %q", uid, got, want.Username, want.Gid)
		}
		if Name(uid) != got.Name {
			t.Errorf("Name(%d) = %q, Lookup says %q", uid, Name(uid), got.Name)
		}
	}
}
