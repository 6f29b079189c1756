package kvm

import (
	"encoding/binary"
	"testing"
)

// TestRouteEncoding: struct kvm_irq_routing_entry as linux/kvm.h lays it
// out: gsi, type, flags, pad, then the union.
func TestRouteEncoding(t *testing.T) {
	le := binary.LittleEndian
	b := make([]byte, routeEntrySize)
	IRQRoute{GSI: 230, Kind: RouteMSI, Address: 0x1_3ffa_0040, Data: 0x2a, DevID: 0x18, HasDevID: true}.encode(b)
	for _, f := range []struct {
		off  int
		want uint32
	}{{0, 230}, {4, RouteMSI}, {8, msiValidDevID}, {12, 0}, {16, 0x3ffa_0040}, {20, 1}, {24, 0x2a}, {28, 0x18}} {
		if got := le.Uint32(b[f.off:]); got != f.want {
			t.Errorf("MSI route: word at %d is %#x, want %#x", f.off, got, f.want)
		}
	}
	b = make([]byte, routeEntrySize)
	IRQRoute{GSI: 5, Kind: RouteIRQChip, IRQChip: 0, Pin: 200, DevID: 9}.encode(b)
	for _, f := range []struct {
		off  int
		want uint32
	}{{0, 5}, {4, RouteIRQChip}, {8, 0}, {16, 0}, {20, 200}, {24, 0}, {28, 0}} {
		if got := le.Uint32(b[f.off:]); got != f.want {
			t.Errorf("irqchip route: word at %d is %#x, want %#x", f.off, got, f.want)
		}
	}
}
