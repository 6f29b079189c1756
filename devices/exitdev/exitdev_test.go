package exitdev

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
)

func w32(d *Device, off uint64, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	d.WriteMMIO(off, b)
}

func TestRegisters(t *testing.T) {
	d := New()
	b := make([]byte, 4)
	d.ReadMMIO(RegMagic, b)
	if binary.LittleEndian.Uint32(b) != Magic {
		t.Errorf("magic %x", b)
	}
	select {
	case <-d.Ready():
		t.Fatal("ready before the guest said so")
	default:
	}
	w32(d, RegState, StateReady)
	w32(d, RegState, StateReady) // twice is fine
	<-d.Ready()
	if r := d.Report(); r.Started || r.OK {
		t.Errorf("report before the command started: %+v", r)
	}
	select {
	case <-d.Started():
		t.Fatal("started before the guest said so")
	default:
	}
	w32(d, RegState, StateStarted)
	w32(d, RegState, StateStarted) // twice is fine
	<-d.Started()
	w32(d, RegStatus, 7) // no valid bit: ignored
	if r := d.Report(); !r.Started || r.OK {
		t.Errorf("a status without StatusValid was taken: %+v", r)
	}
	select {
	case <-d.Reported():
		t.Fatal("reported before the guest wrote a valid status")
	default:
	}
	msg := "true: not found\x00"
	for i := 0; i < len(msg); i += 4 {
		chunk := []byte(msg[i:min(i+4, len(msg))])
		d.WriteMMIO(RegMessage+uint64(i), chunk)
	}
	w32(d, RegStatus, StatusValid|127)
	w32(d, RegStatus, StatusValid|3) // the first status stands
	<-d.Reported()
	if r := d.Report(); !r.OK || r.Status != 127 || r.Message != "true: not found" {
		t.Errorf("report %+v", r)
	}
	// Writes past the message area or of odd sizes do nothing harmful.
	d.WriteMMIO(Size+8, []byte{1})
	d.WriteMMIO(RegState, []byte{1})
}

// TestDeviceTree: the status device and a plain UART bring their own
// nodes; only the console UART is stdout-path.
func TestDeviceTree(t *testing.T) {
	b := arm64.New(arm64.Options{})
	specs := []vmm.DeviceSpec{
		uart.Spec("uart0", nil, nil),
		uart.PlainSpec("uart1", nil, nil, func(n vmm.DeviceNode) { n.Flag("gokvm,sandbox-stdio") }),
		New().Spec("exit"),
	}
	var placed []vmm.PlacedDevice
	for _, s := range specs {
		p, err := b.PlaceDevice(s.Area, s.Size)
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, vmm.PlacedDevice{Name: s.Name, Placement: p, Describe: s.Describe})
	}
	blob, err := arm64.BuildFDT(arm64.FDTConfig{
		RAMBase: arm64.DefaultRAMBase, RAMSize: 256 << 20, MPIDRs: []uint64{1 << 31}, GIC: arm64.GICv3,
		Devices: placed, CPUCompatible: "arm,arm-v8", TimerCompatible: []string{"arm,armv8-timer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	dts := dtctest.Decode(t, blob)
	for _, want := range []string{
		"sandbox-exit@1002000 {\n\t\tcompatible = \"gokvm,sandbox-exit\";\n\t\treg = <0x00 0x1002000 0x00 0x1000>;",
		"uart@1001000 {\n\t\tcompatible = \"ns16550a\";",
		"gokvm,sandbox-stdio;",
		`stdout-path = "/uart@1000000";`,
	} {
		if !strings.Contains(dts, want) {
			t.Errorf("the device tree lacks\n%s\nin:\n%s", want, dts)
		}
	}
}
