package arm64

import (
	"bytes"
	"testing"

	"github.com/gokvm/gokvm/vmm/kvm"
)

func sampleVcpuState() *vcpuState {
	s := &vcpuState{mp: 5, ids: []uint64{RegX(0), RegPC, RegSVEVLS}}
	s.events[0] = 1
	s.vals = [][]byte{bytes.Repeat([]byte{1}, 8), bytes.Repeat([]byte{2}, 8), bytes.Repeat([]byte{3}, 64)}
	return s
}

// TestVcpuStateRoundTrip: an encoded state decodes to the same registers
// of their own sizes, its power state and events.
func TestVcpuStateRoundTrip(t *testing.T) {
	want := sampleVcpuState()
	got, err := decodeVcpu(want.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.mp != want.mp || got.events != want.events || len(got.ids) != 3 {
		t.Fatalf("decoded %+v", got)
	}
	for i := range want.ids {
		if got.ids[i] != want.ids[i] || !bytes.Equal(got.vals[i], want.vals[i]) || len(got.vals[i]) != kvm.RegSize(want.ids[i]) {
			t.Errorf("register %d: %#x %x", i, got.ids[i], got.vals[i])
		}
	}
	enc := want.encode()
	for n := 0; n < len(enc); n++ {
		if _, err := decodeVcpu(enc[:n]); err == nil {
			t.Fatalf("a state cut to %d of %d bytes decoded", n, len(enc))
		}
	}
	if _, err := decodeVcpu(append(enc, 0)); err == nil {
		t.Error("a state with a byte too many decoded")
	}
}

// FuzzDecodeVcpu: no saved vcpu state makes the decoder panic or
// allocate more than the file holds.
func FuzzDecodeVcpu(f *testing.F) {
	f.Add(sampleVcpuState().encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeVcpu(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.encode(), b) {
			t.Fatal("a decoded state encodes differently")
		}
	})
}
