package machine

import (
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func TestConsoleDevices(t *testing.T) {
	for _, tc := range []struct {
		console     string
		rng         bool
		first, last []string
		area        vmm.Area
	}{
		{ConsoleSerial, false, []string{"uart0"}, nil, vmm.AreaPlatform},
		{ConsolePL011, true, []string{"pl011"}, []string{"virtio-rng"}, vmm.AreaFixedUART},
		{ConsoleVirtio, true, []string{"uart0"}, []string{"virtio-console", "virtio-rng"}, vmm.AreaPlatform},
	} {
		r, err := Spec{Kernel: "Image", Console: tc.console, RNG: tc.rng}.resolve()
		if err != nil {
			t.Fatal(err)
		}
		first, virtioDevs := consoleDevices(r, Options{})
		last := append(virtioDevs, rngDevices(r, Options{})...)
		if len(first) != len(tc.first) || first[0].Name != tc.first[0] || first[0].Area != tc.area {
			t.Errorf("%s: first devices %+v", tc.console, first)
		}
		if len(last) != len(tc.last) {
			t.Fatalf("%s: %d virtio devices, want %v", tc.console, len(last), tc.last)
		}
		for i, d := range last {
			if d.Name != tc.last[i] || d.Area != vmm.AreaVirtio {
				t.Errorf("%s: device %d is %s in %v", tc.console, i, d.Name, d.Area)
			}
		}
	}
}
