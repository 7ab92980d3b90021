// Package passwd finds a user by uid without linking os/user.
//
// It reads /etc/passwd first, then asks the C library's name service
// through getent(1), so that a directory's users (LDAP, SSSD: most HPC
// sites) are found as os/user's cgo lookup would find them. With cgo,
// os/user makes every program that links it (and so each of its
// children) dynamically linked, and in any build its package init is
// paid at every start of the binary (docs/speed.md).
package passwd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// User is a passwd(5) entry's name and primary group.
type User struct {
	Name string
	GID  string
}

// Lookup returns uid's entry, or an error when neither /etc/passwd nor
// getent(1) knows it.
func Lookup(uid int) (User, error) {
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		if u, ok := find(b, uid); ok {
			return u, nil
		}
	}
	getent, err := exec.LookPath("getent")
	if err != nil {
		return User{}, fmt.Errorf("uid %d is not in /etc/passwd, and getent(1) is missing: %w", uid, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, getent, "passwd", strconv.Itoa(uid)).Output()
	if err != nil {
		return User{}, fmt.Errorf("uid %d is in neither /etc/passwd nor getent passwd: %w", uid, err)
	}
	if u, ok := find(out, uid); ok {
		return u, nil
	}
	return User{}, fmt.Errorf("uid %d: getent passwd answered no entry for it", uid)
}

// Name returns the name of uid, or "" when it has none.
func Name(uid int) string {
	u, err := Lookup(uid)
	if err != nil {
		return ""
	}
	return u.Name
}

// find looks uid up in passwd(5) lines.
func find(b []byte, uid int) (User, bool) {
	want := strconv.Itoa(uid)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 4 && f[0] != "" && !strings.HasPrefix(f[0], "#") && f[2] == want {
			return User{Name: f[0], GID: f[3]}, true
		}
	}
	return User{}, false
}
