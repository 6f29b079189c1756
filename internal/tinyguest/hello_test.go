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
