package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// userName returns the name of uid, or "" when it has none. Only a
// rootless caller whose id map goes beyond its own id asks (the
// subordinate id files are keyed by user name or uid).
//
// It reads /etc/passwd first, then asks the C library's name service
// through getent(1), so that a directory's users (LDAP, SSSD: most HPC
// sites) are found as os/user's cgo lookup would find them, without
// linking os/user: with cgo, that package makes every program that links
// this one (and so each of its children) dynamically linked, which costs
// the start of every child (docs/speed.md).
func userName(uid int) string {
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		if name := passwdName(b, uid); name != "" {
			return name
		}
	}
	getent, err := exec.LookPath("getent")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, getent, "passwd", strconv.Itoa(uid)).Output()
	if err != nil {
		return ""
	}
	return passwdName(out, uid)
}

// passwdName finds uid in passwd(5) lines and returns its name.
func passwdName(b []byte, uid int) string {
	want := strconv.Itoa(uid)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[0] != "" && !strings.HasPrefix(f[0], "#") && f[2] == want {
			return f[0]
		}
	}
	return ""
}
