package vmm_test

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// windowDevice maps its 64 KiB of memory into the guest read-only
// (DeviceEnv.MapReadOnly) and flips between that and MMIO at each guest
// store, as a CFI flash does between read-array and its other modes. An
// MMIO read returns windowMarker.
type windowDevice struct {
	env    vmm.DeviceEnv
	mem    []byte
	mu     sync.Mutex
	mapped bool
	err    error
}

const (
	windowSize   = 64 << 10
	windowMarker = 0xfeed_face_cafe_beef
)

func (d *windowDevice) toggle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if d.mapped {
		err = d.env.UnmapReadOnly()
	} else {
		err = d.env.MapReadOnly(d.mem)
	}
	if err != nil && d.err == nil {
		d.err = err
	}
	d.mapped = !d.mapped
}

func (d *windowDevice) ReadMMIO(off uint64, data []byte) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], windowMarker)
	copy(data, b[:])
}

func (d *windowDevice) WriteMMIO(off uint64, data []byte) { d.toggle() }

func (d *windowDevice) spec() vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: "window", Area: vmm.AreaFlash, Size: windowSize,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			d.env = env
			d.toggle() // mapped from the start
			return d, d.err
		},
		Describe: func(vmm.DeviceTree, vmm.Placement) {},
	}
}

// A device's window mapped read-only serves a load pair (which KVM cannot
// emulate from an MMIO exit) without an exit; a store still exits to the
// device, which unmaps the window from the vcpu's thread; the next load
// exits to the device; a store maps it again.
func TestTinyGuestReadOnlyWindow(t *testing.T) {
	needKVM(t)
	w := &windowDevice{mem: bytes.Repeat([]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}, windowSize/8)}
	const win tinyguest.Reg = 20
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).Mov(win, arm64.FlashBase).
		Word(tinyguest.Ldp(2, 3, win), tinyguest.StrX(2, dev, 0), tinyguest.StrX(3, dev, 8)).
		Word(tinyguest.StrW(tinyguest.XZR, win, 0)). // unmapped
		Word(tinyguest.LdrX(4, win, 0x100), tinyguest.StrX(4, dev, 0x10)).
		Word(tinyguest.StrW(tinyguest.XZR, win, 0)). // mapped again
		Word(tinyguest.Ldp(2, 3, win), tinyguest.StrX(3, dev, 0x18)).
		PSCI(tinyguest.PSCISystemOff).Spin()
	code, err := a.Code()
	if err != nil {
		t.Fatal(err)
	}
	tv := newTinyVMPayload(t, 1, vmm.Payload{Kernel: tinyguest.Image(code)},
		func(c *vmm.Config) { c.Devices = append(c.Devices, w.spec()) })
	expect(t, tv.run(t), vmm.OutcomePowerOff)
	w.mu.Lock()
	err = w.err
	w.mu.Unlock()
	if err != nil {
		t.Fatalf("mapping the window: %v", err)
	}
	const pattern = 0x8877_6655_4433_2211
	_, writes := tv.dev.Writes()
	want := []mmioWrite{{0, 8, pattern}, {8, 8, pattern}, {0x10, 8, windowMarker}, {0x18, 8, pattern}}
	if len(writes) != len(want) {
		t.Fatalf("the test device saw %+v, want %+v", writes, want)
	}
	for i := range want {
		if writes[i] != want[i] {
			t.Errorf("store %d: %+v, want %+v", i, writes[i], want[i])
		}
	}
}
