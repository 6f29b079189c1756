package vmm

import (
	"errors"
	"testing"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// TestBusBackground: a background window gets only what the windows in
// it do not claim.
func TestBusBackground(t *testing.T) {
	var b MMIOBus
	host, fn := &recordDev{}, &recordDev{}
	if err := b.RegisterBackground("host", 0x4000_0000, 0x1000_0000, host); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("fn", 0x4000_8000, 0x8000, fn); err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterBackground("host2", 0x4800_0000, 0x1000, &recordDev{}); err == nil {
		t.Errorf("overlapping background windows accepted")
	}
	data := make([]byte, 4)
	if !b.Dispatch(0x4000_8004, data, false) || fn.lastOff != 4 || host.lastOff != 0 {
		t.Errorf("an access in the function's window went to offset %#x of it, %#x of the host", fn.lastOff, host.lastOff)
	}
	if !b.Dispatch(0x4001_0000, data, false) || host.lastOff != 0x1_0000 {
		t.Errorf("an access beside the function reached the host at %#x", host.lastOff)
	}
	// Straddling the function's end: the background takes it whole.
	if !b.Dispatch(0x4000_fffe, data, false) || host.lastOff != 0xfffe {
		t.Errorf("a straddling access reached the host at %#x", host.lastOff)
	}
}

// TestMapWindow: windows mapped while the guest runs go only in the
// placement's dynamic range and over nothing, and leave when closed.
func TestMapWindow(t *testing.T) {
	m := &Machine{}
	if err := m.bus.Register("static", 0x5000_0000, 0x1000, &recordDev{}); err != nil {
		t.Fatal(err)
	}
	mapw := m.mapWindow("bar", Placement{DynamicBase: 0x5000_0000, DynamicSize: 0x1000_0000})
	for _, c := range []struct{ base, size uint64 }{
		{0x4fff_f000, 0x2000},        // starts below
		{0x5fff_f000, 0x2000},        // ends above
		{0x5000_0000, 0x1000},        // over the static window
		{^uint64(0) - 0xfff, 0x2000}, // wraps
		{0x5000_2000, 0},
	} {
		if _, err := mapw(c.base, c.size, &recordDev{}); !errors.Is(err, ErrWindowRefused) {
			t.Errorf("window %#x+%#x: %v", c.base, c.size, err)
		}
	}
	if _, err := m.mapWindow("none", Placement{})(0x5000_1000, 0x1000, &recordDev{}); !errors.Is(err, ErrWindowRefused) {
		t.Errorf("a device without a dynamic range mapped a window: %v", err)
	}
	d := &recordDev{}
	w, err := mapw(0x5000_1000, 0x1000, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mapw(0x5000_1800, 0x1000, &recordDev{}); !errors.Is(err, ErrWindowRefused) {
		t.Errorf("a window over a mapped one: %v", err)
	}
	data := make([]byte, 4)
	if !m.bus.Dispatch(0x5000_1010, data, true) || d.lastOff != 0x10 || d.writes != 1 {
		t.Errorf("the mapped window did not get the write")
	}
	if err := w.WatchWrite(nil, 0x1000, 2, 0); err == nil {
		t.Errorf("a watch outside the window was taken")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m.bus.Dispatch(0x5000_1010, data, true) {
		t.Errorf("the closed window still answers")
	}
	if _, err := mapw(0x5000_1000, 0x1000, d); err != nil {
		t.Errorf("the place of a closed window: %v", err)
	}
}

// TestRoutingTable: the wired routes first, then the MSIs by GSI.
func TestRoutingTable(t *testing.T) {
	r := routing{
		wired: []kvm.IRQRoute{{GSI: 0, Kind: kvm.RouteIRQChip}, {GSI: 1, Kind: kvm.RouteIRQChip, Pin: 1}},
		msis: map[uint32]kvm.IRQRoute{
			7: {GSI: 7, Kind: kvm.RouteMSI, Data: 7},
			3: {GSI: 3, Kind: kvm.RouteMSI, Data: 3},
		},
	}
	var gsis []uint32
	for _, e := range r.table() {
		gsis = append(gsis, e.GSI)
	}
	if len(gsis) != 4 || gsis[0] != 0 || gsis[1] != 1 || gsis[2] != 3 || gsis[3] != 7 {
		t.Errorf("table GSIs %v", gsis)
	}
}
