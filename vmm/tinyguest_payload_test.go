package vmm_test

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// Payloads that are not Images boot as kvmtool boots them: the hello
// guest (internal/tinyguest) checks on a real vcpu that it was entered at
// its first byte where the board put it, with x0 at the device tree, and
// starts vcpu 1 by PSCI; it prints through the test device (standing in
// for the UART: every store is one byte of text).

// helloText is what the test device saw the guest print.
func helloText(t *testing.T, d *testDevice) string {
	t.Helper()
	n, writes := d.Writes()
	if n > maxKept {
		t.Fatalf("the guest made %d stores, more than the %d kept", n, maxKept)
	}
	var b strings.Builder
	for _, w := range writes {
		if w.Off != 0 || w.Size != 1 {
			t.Errorf("a %d-byte store at %#x, want 1-byte stores at 0", w.Size, w.Off)
		}
		b.WriteByte(byte(w.Value))
	}
	return b.String()
}

// runHello boots p, whose hello guest tagged tag expects to be entered at
// load with the device tree at fdt, and checks both vcpus spoke and the
// machine powered off.
func runHello(t *testing.T, tag string, p func(code []byte) vmm.Payload, load, fdt uint64) {
	t.Helper()
	needKVM(t)
	code, err := tinyguest.Hello(tag, testDevBase, load, fdt)
	if err != nil {
		t.Fatal(err)
	}
	tv := newTinyVMPayload(t, 2, p(code), nil)
	if pl := tv.board.Placement(); pl.KernelAddr != load || pl.FDTAddr != fdt {
		t.Fatalf("the board put the payload at %#x and the device tree at %#x; want %#x and %#x", pl.KernelAddr, pl.FDTAddr, load, fdt)
	}
	r := tv.run(t)
	want := tinyguest.HelloLine(tag, "vcpu0 ok\n") + tinyguest.HelloLine(tag, "vcpu1 up\n")
	if got := helloText(t, tv.dev); got != want {
		t.Errorf("the guest printed %q, want %q", got, want)
	}
	expect(t, r, vmm.OutcomePowerOff)
}

// A kernel without an Image header: at RAM+0x80000 (32 MiB of RAM at
// 0x80000000), the device tree in the top 2 MiB block.
func TestTinyGuestFlatKernel(t *testing.T) {
	runHello(t, "k", func(code []byte) vmm.Payload { return vmm.Payload{Kernel: code} },
		arm64.DefaultRAMBase+arm64.FlatOffset, arm64.DefaultRAMBase+30<<20)
}

// Firmware: at the start of RAM (or where asked), the device tree at the
// next 2 MiB boundary.
func TestTinyGuestFirmware(t *testing.T) {
	runHello(t, "f", func(code []byte) vmm.Payload { return vmm.Payload{Firmware: code} },
		arm64.DefaultRAMBase, arm64.DefaultRAMBase+2<<20)
	runHello(t, "a", func(code []byte) vmm.Payload {
		return vmm.Payload{Firmware: code, FirmwareAddr: arm64.DefaultRAMBase + 5<<20}
	}, arm64.DefaultRAMBase+5<<20, arm64.DefaultRAMBase+6<<20)
}
