package sandbox

import (
	"os/user"
	"strconv"
	"testing"
)

func TestPasswdName(t *testing.T) {
	b := []byte("# comment\nroot:x:0:0:root:/root:/bin/sh\n\nbob:x:1000:1000::/home/bob:/bin/sh\nbad line\nalice:x:10000:10000::/home/a:/bin/sh\n")
	for uid, want := range map[int]string{0: "root", 1000: "bob", 10000: "alice", 100: "", 1: ""} {
		if got := passwdName(b, uid); got != want {
			t.Errorf("passwdName(%d) = %q, want %q", uid, got, want)
		}
	}
}

// TestUserNameMatchesOSUser: the lookup finds what os/user finds for the
// ids this machine names (the test may link os/user; the package does not).
func TestUserNameMatchesOSUser(t *testing.T) {
	for _, uid := range []int{0, 65534, 4242424} {
		want := ""
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			want = u.Username
		}
		if got := userName(uid); got != want {
			t.Errorf("userName(%d) = %q, os/user says %q", uid, got, want)
		}
	}
}
