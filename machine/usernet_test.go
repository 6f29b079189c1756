package machine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func TestParseNICUser(t *testing.T) {
	n, err := ParseNIC("mode=user,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-:53,guest_mac=52:54:00:00:00:09")
	want := NIC{Mode: "user", GuestMAC: "52:54:00:00:00:09", HostFwd: []string{"tcp::2222-:22", "udp:127.0.0.1:5353-:53"}}
	if err != nil || !reflect.DeepEqual(n, want) {
		t.Errorf("ParseNIC: %+v %v, want %+v", n, err, want)
	}
	s := Spec{Kernel: "Image", NICs: []NIC{{Mode: "user"}, {Mode: "user"}}}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	d := s.WithDefaults()
	if d.NICs[0].GuestMAC != "52:54:00:12:34:56" || d.NICs[1].GuestMAC != "52:54:00:12:34:57" || d.NICs[0].TapIf != "" {
		t.Errorf("defaults %+v, want QEMU's MACs and no tap", d.NICs)
	}
}

// TestUserNICErrors: each bad value is a configuration error naming its
// field.
func TestUserNICErrors(t *testing.T) {
	for _, c := range []struct {
		nic  NIC
		want string
	}{
		{NIC{Mode: "user", HostFwd: []string{"tcp::22-:22", "tcp::0-:22"}}, "nics[0].hostfwd[1]: \"tcp::0-:22\": host port"},
		{NIC{Mode: "user", HostFwd: []string{"icmp::1-:1"}}, "nics[0].hostfwd[0]"},
		{NIC{Mode: "user", HostFwd: []string{"tcp::22-10.0.3.1:22"}}, "guest address"},
		{NIC{Mode: "user", TapIf: "tap0"}, "nics[0].tapif: \"tap0\": mode user has no tap"},
		{NIC{Mode: "tap", HostFwd: []string{"tcp::22-:22"}}, "nics[0].hostfwd: only mode user"},
		{NIC{Mode: "user", GuestMAC: "01:00:5e:00:00:01"}, "nics[0].guest_mac"},
	} {
		err := Spec{Kernel: "Image", NICs: []NIC{c.nic}}.Check()
		if _, ok := err.(*vmm.ConfigError); !ok || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a configuration error with %q", c.nic, err, c.want)
		}
	}
}
