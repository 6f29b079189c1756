package arm64

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// TestPlacePCI: functions get a device number's configuration space each
// and the host bridge's memory window for their BARs; the bridge gets all
// of ECAM and no interrupt; a board without PCI places none.
func TestPlacePCI(t *testing.T) {
	b := New(Options{PCI: true})
	for i := 0; i < PCISlots; i++ {
		p, err := b.PlaceDevice(vmm.AreaPCI, 0x1000)
		if err != nil {
			t.Fatalf("function %d: %v", i, err)
		}
		if p.Base != PCIConfigBase+uint64(i)*0x8000 || p.Size != 0x8000 || p.IRQ != uint32(i) ||
			p.DynamicBase != 0x5000_0000 || p.DynamicSize != 0x3000_0000 {
			t.Fatalf("function %d placed at %+v", i, p)
		}
	}
	if _, err := b.PlaceDevice(vmm.AreaPCI, 0x1000); err == nil {
		t.Errorf("a 33rd function on bus 0")
	}
	h, err := b.PlaceDevice(vmm.AreaPCIHost, 0)
	if err != nil || h.Base != 0x4000_0000 || h.Size != 0x1000_0000 || h.IRQ != vmm.NoIRQ {
		t.Errorf("host bridge at %+v, %v", h, err)
	}
	if _, err := b.PlaceDevice(vmm.AreaPCIHost, 0); err == nil {
		t.Errorf("a second host bridge")
	}
	plain := New(Options{})
	for _, a := range []vmm.Area{vmm.AreaPCI, vmm.AreaPCIHost} {
		if _, err := plain.PlaceDevice(a, 0x1000); err == nil {
			t.Errorf("%v placed on a board without PCI", a)
		}
	}
}

// TestPCIKeepsRAMAway: with PCI, RAM may not start below the bridge's
// memory window's end.
func TestPCIKeepsRAMAway(t *testing.T) {
	b := New(Options{PCI: true})
	if err := b.checkRAM(0x4000_0000, 256<<20); err == nil || !strings.Contains(err.Error(), "PCI host bridge") {
		t.Errorf("RAM at 0x40000000 with PCI: %v", err)
	}
	if err := b.checkRAM(0x8000_0000, 256<<20); err != nil {
		t.Errorf("RAM at the default: %v", err)
	}
	if err := New(Options{}).checkRAM(0x4000_0000, 256<<20); err != nil {
		t.Errorf("RAM at 0x40000000 without PCI: %v", err)
	}
}

func TestParseIRQChip(t *testing.T) {
	for _, s := range []string{"auto", "gicv3", "gicv3-its", "gicv2", "gicv2m"} {
		if c, err := ParseIRQChip(s); err != nil || string(c) != s {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseIRQChip("gicv4"); err == nil {
		t.Errorf("gicv4 accepted")
	}
	for c, want := range map[IRQChip][2]int{
		IRQChipGICv3: {3, int(noMSI)}, IRQChipGICv3ITS: {3, int(msiITS)},
		IRQChipGICv2: {2, int(noMSI)}, IRQChipGICv2M: {2, int(msiGICv2m)},
	} {
		if v, m := c.version(); int(v) != want[0] || int(m) != want[1] {
			t.Errorf("%s makes a GICv%d with MSI controller %d", c, v, m)
		}
	}
}

// TestMSIRoutes: only a message to the machine's MSI controller is
// routed: to the ITS's GITS_TRANSLATER with the function's requester ID,
// to the GICv2m frame's MSI_SETSPI_NS for one of its SPIs.
func TestMSIRoutes(t *testing.T) {
	fn := vmm.Placement{Base: PCIConfigBase + 3*PCISlotSize}
	its := &Board{gic: &vgic{version: GICv3, msi: msiITS, itsBase: GICv3ITSBase(2)}}
	r, err := its.MSIRoute(fn, 300, GICv3ITSBase(2)+0x1_0040, 0x21)
	want := kvm.IRQRoute{GSI: 300, Kind: kvm.RouteMSI, Address: GICv3ITSBase(2) + 0x1_0040, Data: 0x21, DevID: 3 << 3, HasDevID: true}
	if err != nil || r != want {
		t.Errorf("ITS route %+v, %v", r, err)
	}
	for _, addr := range []uint64{0, GICv3ITSBase(2), 0xfee0_0000, GICv2mBase + 0x40} {
		if _, err := its.MSIRoute(fn, 300, addr, 1); err == nil {
			t.Errorf("an MSI to %#x routed to the ITS", addr)
		}
	}
	if _, err := its.MSIRoute(vmm.Placement{Base: PlatformBase}, 300, GICv3ITSBase(2)+0x1_0040, 1); err == nil {
		t.Errorf("an MSI from a platform device routed")
	}
	v2m := &Board{gic: &vgic{version: GICv2, msi: msiGICv2m}}
	first := uint32(SPIBase + MaxSPIs - GICv2mSPIs)
	r, err = v2m.MSIRoute(fn, 300, GICv2mBase+0x40, first+5)
	if err != nil || r != (kvm.IRQRoute{GSI: 300, Kind: kvm.RouteIRQChip, Pin: first + 5 - SPIBase}) {
		t.Errorf("GICv2m route %+v, %v", r, err)
	}
	for _, data := range []uint32{0, first - 1, first + GICv2mSPIs, 1020} {
		if _, err := v2m.MSIRoute(fn, 300, GICv2mBase+0x40, data); err == nil {
			t.Errorf("an MSI for interrupt %d routed by the GICv2m frame", data)
		}
	}
	if _, err := (&Board{gic: &vgic{version: GICv3}}).MSIRoute(fn, 300, 0, 0); err == nil {
		t.Errorf("a GICv3 without an ITS routed an MSI")
	}
	if routes := v2m.WiredRoutes(); len(routes) != MaxSPIs || routes[7] != (kvm.IRQRoute{GSI: 7, Kind: kvm.RouteIRQChip, Pin: 7}) {
		t.Errorf("wired routes: %d, %+v", len(routes), routes[7])
	}
}

// TestGICv2mFrame: the frame says which SPIs it has; the rest reads zero
// and writes do nothing; its SPIs are no device's.
func TestGICv2mFrame(t *testing.T) {
	b := &Board{gic: &vgic{version: GICv2, msi: msiGICv2m}, opts: Options{PCI: true}}
	devs := b.BoardDevices()
	if len(devs) != 1 || devs[0].Base != 0x3ffc_f000 || devs[0].Size != 0x1000 {
		t.Fatalf("board devices %+v", devs)
	}
	g := devs[0].Device
	data := make([]byte, 4)
	g.ReadMMIO(8, data)
	if v := binary.LittleEndian.Uint32(data); v != (192<<16 | 64) {
		t.Errorf("MSI_TYPER %#x: want SPIs 192 to 255", v)
	}
	g.WriteMMIO(8, []byte{1, 2, 3, 4})
	for _, off := range []uint64{0x40, 0xfcc, 0xffc} {
		g.ReadMMIO(off, data)
		if binary.LittleEndian.Uint32(data) != 0 {
			t.Errorf("register %#x reads %x", off, data)
		}
	}
	g.ReadMMIO(8, data[:2])
	if data[0] != 0 || data[1] != 0 {
		t.Errorf("a 16-bit read of MSI_TYPER: %x", data[:2])
	}
	n := 0
	for ; ; n++ {
		p, err := b.PlaceDevice(vmm.AreaVirtio, VirtioStride)
		if err != nil {
			break
		}
		if p.IRQ >= MaxSPIs-GICv2mSPIs {
			t.Fatalf("device %d has SPI %d, one of the GICv2m frame's", n, p.IRQ)
		}
	}
	if n != MaxSPIs-GICv2mSPIs {
		t.Errorf("%d devices placed, want as many as the SPIs left", n)
	}
	if (&Board{gic: &vgic{version: GICv3, msi: msiITS}}).BoardDevices() != nil {
		t.Errorf("an ITS machine has board devices")
	}
}
