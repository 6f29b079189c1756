// Package devicedemo shows, as a test, that a device can be added to the
// machine without changing vmm or the architecture packages: a test-only
// device brings its own device-tree node through its spec.
package devicedemo

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
)

// probe is the test-only device: a 16-byte register window that reads back
// a constant.
type probe struct{}

func (probe) ReadMMIO(off uint64, data []byte) { clear(data); data[0] = 0x5a }
func (probe) WriteMMIO(uint64, []byte)         {}

var _ vmm.MMIODevice = probe{}

func probeSpec() vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: "probe0",
		Area: vmm.AreaPlatform,
		Size: 16,
		New:  func(vmm.DeviceEnv) (vmm.MMIODevice, error) { return probe{}, nil },
		Describe: func(dt vmm.DeviceTree, p vmm.Placement) {
			n := dt.AddDevice("probe", p, vmm.TriggerEdge)
			n.Strings("compatible", "gokvm,probe", "gokvm,test-device")
			n.U32("gokvm,revision", 3)
			n.Flag("gokvm,test-only")
		},
	}
}

func TestDeviceBringsItsOwnNode(t *testing.T) {
	b := arm64.New(arm64.Options{})
	specs := []vmm.DeviceSpec{uart.Spec("uart0", nil, nil), probeSpec()}
	var placed []vmm.PlacedDevice
	for _, s := range specs {
		p, err := b.PlaceDevice(s.Area, s.Size)
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, vmm.PlacedDevice{Name: s.Name, Placement: p, Describe: s.Describe})
	}
	if placed[1].Placement.Base != arm64.PlatformBase+arm64.PlatformStride || placed[1].Placement.IRQ != 1 {
		t.Errorf("the probe was placed at %+v, want the second platform slot and interrupt 1", placed[1].Placement)
	}
	blob, err := arm64.BuildFDT(arm64.FDTConfig{
		RAMBase: arm64.DefaultRAMBase, RAMSize: 256 << 20, MPIDRs: []uint64{1 << 31}, GIC: arm64.GICv3,
		Devices: placed, CPUCompatible: "arm,arm-v8", TimerCompatible: []string{"arm,armv8-timer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dts := dtctest.Decode(t, blob)
	want := `probe@1001000 {
		compatible = "gokvm,probe\0gokvm,test-device";
		reg = <0x00 0x1001000 0x00 0x10>;
		interrupts = <0x00 0x01 0x01>;
		gokvm,revision = <0x03>;
		gokvm,test-only;
	};`
	if !strings.Contains(dts, want) {
		t.Errorf("the device tree lacks the probe's node\n%s\nin:\n%s", want, dts)
	}
	if !strings.Contains(dts, `stdout-path = "/uart@1000000";`) {
		t.Errorf("the console UART is not stdout-path:\n%s", dts)
	}
}
