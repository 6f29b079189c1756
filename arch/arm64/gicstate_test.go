package arm64

import (
	"bytes"
	"testing"
)

func sampleGIC() []gicReg {
	return []gicReg{
		{vgicGrpDistRegs, gicdIIDR, 4, 0x43b},
		{vgicGrpRedistRegs, v3Affinity(0x80000101) | 0x70, 4, 0xdead},
		{vgicGrpCPUSysregs, v3Affinity(1) | iccCTLR, 8, 0x1_0000_0400},
	}
}

// TestGICStateRoundTrip: saved registers decode as they were, and a cut
// or padded state is an error.
func TestGICStateRoundTrip(t *testing.T) {
	enc := encodeGIC(GICv3, sampleGIC())
	v, regs, err := decodeGIC(enc)
	if err != nil || v != GICv3 || len(regs) != 3 {
		t.Fatalf("decoded %v %v %v", v, regs, err)
	}
	for i, r := range sampleGIC() {
		if regs[i] != r {
			t.Errorf("register %d: %+v, want %+v", i, regs[i], r)
		}
	}
	for n := 0; n < len(enc); n++ {
		if _, _, err := decodeGIC(enc[:n]); err == nil {
			t.Fatalf("a GIC state cut to %d of %d bytes decoded", n, len(enc))
		}
	}
	if _, _, err := decodeGIC(append(enc, 0)); err == nil {
		t.Error("a GIC state with a byte too many decoded")
	}
	// Aff3 is MPIDR bits 39:32, Aff2..Aff0 bits 23:0.
	if got := v3Affinity(0x12_0000_0304); got != (0x12<<24|0x0304)<<32 {
		t.Errorf("v3Affinity = %#x", got)
	}
}

// FuzzDecodeGIC: no saved GIC state makes the decoder panic, and what it
// accepts encodes back the same.
func FuzzDecodeGIC(f *testing.F) {
	f.Add(encodeGIC(GICv3, sampleGIC()))
	f.Add(encodeGIC(GICv2, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, regs, err := decodeGIC(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeGIC(v, regs), b) {
			t.Fatal("a decoded GIC state encodes differently")
		}
	})
}
