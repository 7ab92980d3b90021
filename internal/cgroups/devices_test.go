package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWithDefaultDevices(t *testing.T) {
	if r := withDefaultDevices(nil); r != nil {
		t.Errorf("nil resources became %+v", r)
	}
	empty := &specs.LinuxResources{}
	if r := withDefaultDevices(empty); r != empty || r.Devices != nil {
		t.Errorf("no device list: %+v", r)
	}
	one, three := int64(1), int64(3)
	// runc spec: deny everything; then a config rule that denies /dev/null.
	in := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: false, Type: "c", Major: &one, Minor: &three, Access: "rwm"},
	}}
	r := withDefaultDevices(in)
	if len(in.Devices) != 2 {
		t.Fatalf("the caller's list was changed: %+v", in.Devices)
	}
	n := len(defaultDevices())
	if len(r.Devices) != 2+n {
		t.Fatalf("got %d rules, want %d", len(r.Devices), 2+n)
	}
	if !denyAll(r.Devices[0]) {
		t.Errorf("first rule %+v: the leading deny-all must stay first", r.Devices[0])
	}
	for i, d := range r.Devices[1 : 1+n] {
		if !d.Allow || d.Type != "c" || d.Access != "rwm" || d.Major == nil {
			t.Errorf("default rule %d: %+v", i, d)
		}
	}
	if last := r.Devices[1+n]; last.Allow || *last.Major != 1 || *last.Minor != 3 {
		t.Errorf("the config's own rule must come after the defaults: %+v", last)
	}
	// Without a leading deny-all the defaults come first.
	r = withDefaultDevices(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: &one, Minor: &three, Access: "w"}}})
	if !r.Devices[0].Allow || r.Devices[n].Allow {
		t.Errorf("order: %+v", r.Devices)
	}
	// The list runc gives: null, zero, full, random, urandom, tty, ptmx, pts.
	want := map[[2]int64]bool{{1, 3}: true, {1, 5}: true, {1, 7}: true, {1, 8}: true, {1, 9}: true, {5, 0}: true, {5, 2}: true, {136, -1}: true}
	for _, d := range defaultDevices() {
		minor := int64(-1)
		if d.Minor != nil {
			minor = *d.Minor
		}
		if !want[[2]int64{*d.Major, minor}] {
			t.Errorf("unexpected default %d:%d", *d.Major, minor)
		}
		delete(want, [2]int64{*d.Major, minor})
	}
	if len(want) != 0 {
		t.Errorf("defaults missing: %v", want)
	}
}
