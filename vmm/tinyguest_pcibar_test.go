package vmm_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// A window mapped at run time (a PCI function's BAR) takes the guest's
// stores like any other, and a write it watches signals its notification
// in KVM without an exit; once the window closes, the watched write
// exits again, and reaches nothing.
func TestTinyGuestRunTimeWindow(t *testing.T) {
	const (
		bar     = arm64.PCIMemBase + 0x10_0000
		watched = 0x10
		plain   = 0x20
	)
	bd := &testDevice{}
	var (
		win  vmm.Window
		note vmm.EventFDNotification
	)
	spec := vmm.DeviceSpec{
		Name: "windowed", Area: vmm.AreaPCI, Size: 0x1000,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			var err error
			if note, err = env.NewNotification(); err != nil {
				return nil, err
			}
			if win, err = env.MapWindow(bar, 0x1000, bd); err != nil {
				return nil, err
			}
			if err := win.WatchWrite(note, watched, 4, 7); err != nil {
				return nil, err
			}
			if _, err := env.MapWindow(0x4000_0000, 0x1000, bd); err == nil {
				t.Errorf("a window outside the bridge's memory window was mapped")
			}
			return &testDevice{}, nil // its configuration space
		},
		Describe: func(vmm.DeviceTree, vmm.Placement) {},
	}
	var a tinyguest.Asm
	a.Mov(dev, bar).
		Mov(2, 7).Word(tinyguest.StrW(2, dev, watched)).
		Mov(3, 9).Word(tinyguest.StrW(3, dev, plain)).
		PSCI(tinyguest.PSCISystemOff).Spin()
	code, err := a.Code()
	if err != nil {
		t.Fatal(err)
	}
	tv := newTinyVMBoard(t, 1, vmm.Payload{Kernel: tinyguest.Image(code)}, arm64.Options{PCI: true}, func(c *vmm.Config) {
		c.Devices = append(c.Devices, spec)
	})
	t.Cleanup(func() { note.Close() })
	expect(t, tv.run(t), vmm.OutcomePowerOff)
	n, got := bd.Writes()
	if want := []mmioWrite{{Off: plain, Size: 4, Value: 9}}; n != 1 || !slices.Equal(got, want) {
		t.Errorf("the window's device saw %d stores %+v, want only %+v", n, got, want)
	}
	waited := make(chan error, 1)
	go func() { waited <- note.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("the watched store's notification: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the watched store did not signal its notification")
	}
	if exits := tv.m.Stats().MMIOExits; exits != 1 {
		t.Errorf("%d MMIO exits, want 1 (the watched store makes none)", exits)
	}
	if err := win.Close(); err != nil {
		t.Errorf("closing the window (its ioeventfd deassigned): %v", err)
	}
}
