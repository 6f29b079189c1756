package arm64

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// A vcpu's saved state is every register KVM lists for it
// (KVM_GET_REG_LIST: core, system, FP/SIMD, SVE at the vector length in
// force, PMU, the timer, the firmware's pseudo-registers for PSCI and
// SMCCC), its power state (MP state) and its pending events (an SError),
// in this layout, little-endian:
//
//	u32 version (vcpuStateVersion)
//	u32 mp_state
//	64  bytes of struct kvm_vcpu_events
//	u32 count, then count times: u64 register id, the register's bytes
//	    (its size is in its id)
//
// Restoring writes the registers back in the order KVM listed them, so
// the timer's counter (KVM_REG_ARM_TIMER_CNT) sets the virtual counter's
// offset and guest time goes on from where it was saved, not from the
// time spent on disk.

const vcpuStateVersion = 1

// maxSavedRegs bounds what a state file may make a restore allocate.
const maxSavedRegs = 1 << 14

// skippedOnRestore are registers a restore leaves as the vcpu was made:
// KVM lists them, but they are fixed once the vcpu is finalized. The
// vector lengths are made the same by the same --sve-max-vl, and checked.
var skippedOnRestore = map[uint64]bool{RegSVEVLS: true}

// saveVcpu reads a vcpu's whole state.
func saveVcpu(v *kvm.Vcpu) ([]byte, error) {
	ids, err := v.RegList()
	if err != nil {
		return nil, err
	}
	s := &vcpuState{ids: ids}
	if s.mp, err = v.GetMPState(); err != nil {
		return nil, err
	}
	if s.events, err = v.GetVcpuEvents(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		val, err := v.GetReg(id)
		if err != nil {
			return nil, err
		}
		s.vals = append(s.vals, val)
	}
	return s.encode(), nil
}

// encode lays the state out as the comment above says.
func (s *vcpuState) encode() []byte {
	var b bytes.Buffer
	put := func(x any) { binary.Write(&b, binary.LittleEndian, x) }
	put(uint32(vcpuStateVersion))
	put(s.mp)
	b.Write(s.events[:])
	put(uint32(len(s.ids)))
	for i, id := range s.ids {
		put(id)
		b.Write(s.vals[i])
	}
	return b.Bytes()
}

// vcpuState is a saved vcpu state, decoded.
type vcpuState struct {
	mp     uint32
	events kvm.VcpuEvents
	ids    []uint64
	vals   [][]byte
}

var errShortVcpuState = errors.New("the vcpu state ends early")

// decodeVcpu checks and decodes a saved vcpu state.
func decodeVcpu(b []byte) (*vcpuState, error) {
	r := bytes.NewReader(b)
	var version, count uint32
	s := &vcpuState{}
	if binary.Read(r, binary.LittleEndian, &version) != nil {
		return nil, errShortVcpuState
	}
	if version != vcpuStateVersion {
		return nil, fmt.Errorf("vcpu state version %d; this gokvm reads %d", version, vcpuStateVersion)
	}
	if binary.Read(r, binary.LittleEndian, &s.mp) != nil || binary.Read(r, binary.LittleEndian, &s.events) != nil ||
		binary.Read(r, binary.LittleEndian, &count) != nil {
		return nil, errShortVcpuState
	}
	if count > maxSavedRegs {
		return nil, fmt.Errorf("the vcpu state lists %d registers, more than %d", count, maxSavedRegs)
	}
	for i := uint32(0); i < count; i++ {
		var id uint64
		if binary.Read(r, binary.LittleEndian, &id) != nil {
			return nil, errShortVcpuState
		}
		n := kvm.RegSize(id)
		if n > r.Len() {
			return nil, errShortVcpuState
		}
		val := make([]byte, n)
		r.Read(val)
		s.ids, s.vals = append(s.ids, id), append(s.vals, val)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("the vcpu state has %d bytes after its registers", r.Len())
	}
	return s, nil
}

// restoreVcpu writes a saved state into a vcpu made with the same
// features. A register the host will not take as saved (an ID register
// of another CPU, a firmware version it lacks) fails the restore, naming
// it.
func restoreVcpu(v *kvm.Vcpu, b []byte) error {
	s, err := decodeVcpu(b)
	if err != nil {
		return err
	}
	have, err := v.RegList()
	if err != nil {
		return err
	}
	listed := make(map[uint64]bool, len(have))
	for _, id := range have {
		listed[id] = true
	}
	for _, id := range s.ids {
		if !listed[id] {
			return fmt.Errorf("the saved vcpu has register %#x, which this vcpu lacks (other vcpu features, or another host)", id)
		}
	}
	if len(s.ids) != len(have) {
		return fmt.Errorf("the saved vcpu has %d registers, this one %d (other vcpu features, or another host)", len(s.ids), len(have))
	}
	for i, id := range s.ids {
		if skippedOnRestore[id] {
			cur, err := v.GetReg(id)
			if err != nil {
				return err
			}
			if !bytes.Equal(cur, s.vals[i]) {
				return fmt.Errorf("register %#x is %x here and was %x when saved (SVE vector lengths differ: another host or --sve-max-vl)", id, cur, s.vals[i])
			}
			continue
		}
		if err := v.SetReg(id, s.vals[i]); err != nil {
			return fmt.Errorf("%w (saved on another kind of host?)", err)
		}
	}
	// An SError pending is the only event to restore: setting events
	// cannot cancel one, and a host without RAS refuses an ESR.
	if s.events[0] != 0 {
		if err := v.SetVcpuEvents(s.events); err != nil {
			return err
		}
	}
	return v.SetMPState(s.mp)
}
