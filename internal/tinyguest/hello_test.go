package tinyguest

import (
	"testing"

	"github.com/gokvm/gokvm/arch/arm"
	"github.com/gokvm/gokvm/arch/arm64"
)

// The hello guests are flat payloads: neither loader finds a kernel
// header in them, so the board places them as kvmtool places one.
func TestHelloIsFlat(t *testing.T) {
	c64, err := Hello("t", 0x100_0000, 0x8008_0000, 0x8fe0_0000)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := (arm64.AArch64{}).Load(c64); err != nil || k.FlatWhy == "" {
		t.Errorf("the AArch64 hello guest: flat %q, error %v", k.FlatWhy, err)
	}
	c32, err := Hello32("t", 0x100_0000, 0x8000_8000, 0x8fe0_0000)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := (arm.AArch32{}).Load(c32); err != nil || k.FlatWhy == "" {
		t.Errorf("the AArch32 hello guest: flat %q, error %v", k.FlatWhy, err)
	}
}

// The exit-loop guest is flat too, and its loop is one load of the
// UART's scratch register, a decrement and a branch back to the load.
func TestExitLoop(t *testing.T) {
	code, err := ExitLoop("t", 0x100_0000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := (arm64.AArch64{}).Load(code); err != nil || k.FlatWhy == "" {
		t.Errorf("the exit-loop guest: flat %q, error %v", k.FlatWhy, err)
	}
	words := make([]uint32, len(code)/4)
	for i := range words {
		words[i] = uint32(code[4*i]) | uint32(code[4*i+1])<<8 | uint32(code[4*i+2])<<16 | uint32(code[4*i+3])<<24
	}
	load := LdrB(4, 19, uartScratch)
	for i, w := range words {
		if w != load {
			continue
		}
		if i+2 >= len(words) || words[i+1] != SubImm(20, 20, 1) || words[i+2] != Cbnz(20, -8) {
			t.Fatalf("the load at word %d is not followed by sub x20, #1 and cbnz x20 back to it: %#x", i, words[i:min(i+3, len(words))])
		}
		return
	}
	t.Fatal("no ldrb of the UART's scratch register in the exit-loop guest")
}
