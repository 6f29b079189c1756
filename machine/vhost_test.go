package machine

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// TestParseNICVhost: kvmtool's vhost=1 spelling, on and off as well; a
// bad value is refused naming it.
func TestParseNICVhost(t *testing.T) {
	for in, want := range map[string]bool{
		"mode=tap,vhost=1": true, "mode=tap,vhost=on": true,
		"mode=tap,vhost=0": false, "mode=tap,vhost=off": false, "mode=tap": false,
	} {
		n, err := ParseNIC(in)
		if err != nil || n.Vhost != want {
			t.Errorf("ParseNIC(%q): vhost %v, %v; want %v", in, n.Vhost, err, want)
		}
	}
	for _, bad := range []string{"mode=tap,vhost=yes", "mode=tap,vhost=", "mode=tap,vhost=2"} {
		_, err := ParseNIC(bad)
		if err == nil || !strings.Contains(err.Error(), "vhost=") {
			t.Errorf("ParseNIC(%q): %v, want an error naming vhost=", bad, err)
		}
	}
}

// TestVhostSpec: vhost round-trips through JSON, and only a machine with
// a vhost device allows the vhost requests in its filter.
func TestVhostSpec(t *testing.T) {
	s := Spec{Kernel: "k", NICs: []NIC{{Mode: NICModeTap, Vhost: true}}}.WithDefaults()
	if !strings.Contains(string(s.JSON()), `"vhost": true`) {
		t.Errorf("JSON lacks vhost:\n%s", s.JSON())
	}
	back, err := ParseJSON("test", strings.NewReader(string(s.JSON())))
	if err != nil || !back.NICs[0].Vhost {
		t.Errorf("round trip: %+v, %v", back.NICs, err)
	}
	for _, c := range []struct {
		spec Spec
		want bool
	}{
		{Spec{}, false},
		{Spec{NICs: []NIC{{Mode: NICModeTap}}}, false},
		{Spec{NICs: []NIC{{Mode: NICModeTap, Vhost: true}}}, true},
		{Spec{NICs: []NIC{{Mode: NICModeNone, Vhost: true}}}, false},
		{Spec{VsockCID: 3}, true},
	} {
		m := &Machine{spec: c.spec}
		if got := len(m.extraSystemCalls()) > 0; got != c.want {
			t.Errorf("%+v: extra calls %v, want %v", c.spec, m.extraSystemCalls(), c.want)
		}
	}
}

// TestVsockCID: a CID outside 3..0xFFFFFFFE is a configuration error
// naming vsock_cid; 0 means no device.
func TestVsockCID(t *testing.T) {
	for cid, ok := range map[uint64]bool{0: true, 1: false, 2: false, 3: true, 0xFFFFFFFE: true, 0xFFFFFFFF: false, 1 << 40: false} {
		err := Spec{Kernel: "k", VsockCID: cid}.Check()
		if ok != (err == nil) {
			t.Errorf("CID %d: %v", cid, err)
		}
		if err != nil && (!vmm.IsConfigError(err) || !strings.Contains(err.Error(), "vsock_cid")) {
			t.Errorf("CID %d: %v, want a configuration error naming vsock_cid", cid, err)
		}
	}
}
