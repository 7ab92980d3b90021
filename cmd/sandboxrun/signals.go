package main

import "github.com/nsfork/nsfork/internal/earlysig"

// forwarded are the signals sandboxrun passes on to the sandbox.
var forwarded = earlysig.Forwarded

// notifyLaunch starts registering the forwarded signals as a launch is
// planned (internal/earlysig). One that sandboxrun was started with
// ignored stays ignored and is not passed on, as with the command run
// directly. The channel (Channel) holds what arrives before the sandbox
// exists; none of them ends sandboxrun.
func notifyLaunch() *earlysig.Set {
	s := new(earlysig.Set)
	s.Start(earlysig.NotIgnored(forwarded)...)
	return s
}
