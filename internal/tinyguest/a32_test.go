package tinyguest

import (
	"encoding/binary"
	"testing"
)

// The A32 branch block of TestEncodingsMatchAssemblers, through labels.
func TestAsm32ResolvesLabels(t *testing.T) {
	var a Asm32
	a.Label("l0").B(NE, "l1").Spin().B(EQ, "l0").Word(A32Cmp(4, 5)).
		Label("l1").B(AL, "l0")
	code, err := a.Code()
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{0x1a000002, 0xeafffffe, 0x0afffffc, 0xe1540005, 0xeafffffa}
	for i, w := range want {
		if got := binary.LittleEndian.Uint32(code[4*i:]); got != w {
			t.Errorf("word %d: %#08x, want %#08x", i, got, w)
		}
	}
	var m Asm32
	if code, _ := m.Mov(7, 0x1234).Code(); len(code) != 4 {
		t.Errorf("Mov of a 16-bit constant took %d bytes, want a lone movw", len(code))
	}
}
