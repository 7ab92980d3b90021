package nsinit

import (
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/sandbox"
)

// stepUTS sets the host name and the domain name (a new uts namespace).
func stepUTS(o *sandbox.Options, _ Config, a *Applied) error {
	if o.Hostname != "" {
		if err := unix.Sethostname([]byte(o.Hostname)); err != nil {
			return fail("hostname", "sethostname", o.Hostname, err)
		}
		a.Hostname = o.Hostname
	}
	if o.Domainname != "" {
		if err := unix.Setdomainname([]byte(o.Domainname)); err != nil {
			return fail("hostname", "setdomainname", o.Domainname, err)
		}
	}
	return nil
}
