package e2e

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/machine"
)

// The CFI flash (--flash, devices/cfiflash) driven by a guest on real
// KVM: a flat payload that reads the array with ldp (which KVM cannot
// emulate from an MMIO exit: it works only because the array is mapped
// into the guest in read-array mode), reads the CFI query table,
// programs a word, erases block 1, reads both back; the flash file then
// holds what it programmed and erased, and nothing else changed.

func init() {
	extraPrepare = append(extraPrepare, writeFlashPayload)
	extraScenarios = append(extraScenarios, func(host string) []scenario.Scenario {
		if host != "gicv3" {
			return nil
		}
		return []scenario.Scenario{{
			Name:    "flash",
			Before:  [][]string{{tool, "copy", "$GUEST/flash.img", "$WORK/flash.img"}},
			Args:    []string{"run", "-m", "64", "-k", "$GUEST/flash.flat", "--flash", "$WORK/flash.img"},
			Collect: []string{"$WORK/flash.img"},
			Timeout: 60 * time.Second,
		}}
	})
}

const (
	flashSeed = 2020
	flashSize = 256 << 10
	// flashProgOff is where the guest programs flashProg.
	flashProgOff = 0x100
	flashProg    = 0x0f0f_0f0f
	flashBlock1  = 0x1_0000
)

// flashImage is the flash file before the guest runs.
func flashImage() []byte { return pattern.Bytes(flashSeed, flashSize) }

// flashAfter is what the flash file must hold after the guest ran.
func flashAfter() []byte {
	b := flashImage()
	for i := range 4 {
		b[flashProgOff+i] &= byte(uint32(flashProg) >> (8 * i)) // a program only clears bits
	}
	copy(b[flashBlock1:], bytes.Repeat([]byte{0xff}, 64<<10))
	return b
}

func writeFlashPayload(b *harness.Build) error {
	code, err := flashGuest(flashImage())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.GuestDir, "flash.flat"), code, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.GuestDir, "flash.img"), flashImage(), 0o644)
}

// flashGuest assembles the guest for a flash holding img. Every check
// that fails prints which, and resets.
func flashGuest(img []byte) ([]byte, error) {
	const (
		uart   tinyguest.Reg = 19
		flash  tinyguest.Reg = 20
		block1 tinyguest.Reg = 21
		tmp    tinyguest.Reg = 9
	)
	both := func(cmd uint32) uint64 { return uint64(cmd | cmd<<16) }
	le64 := func(off int) uint64 { return binary.LittleEndian.Uint64(img[off:]) }
	le32 := func(off int) uint64 { return uint64(binary.LittleEndian.Uint32(img[off:])) }
	var a tinyguest.Asm
	// check compares x<r> with v, on to fail when they differ.
	check := func(r tinyguest.Reg, v uint64, fail string) {
		a.Mov(5, v).Word(tinyguest.CmpReg(r, 5)).BCond(tinyguest.NE, fail)
	}
	// command writes a command for both chips at off in the window of
	// base.
	command := func(base tinyguest.Reg, off uint32, cmd uint32) {
		a.Mov(2, both(cmd)).Word(tinyguest.StrW(2, base, off))
	}
	a.Mov(uart, arm64.PlatformBase).Mov(flash, arm64.FlashBase).Mov(block1, arm64.FlashBase+flashBlock1)
	// The array, read with a load pair: mapped, or the run fails.
	a.Word(tinyguest.Ldp(2, 3, flash))
	check(2, le64(0), "array")
	check(3, le64(8), "array")
	// Read Query: "Q" from both chips at query byte 0x10.
	command(flash, 0, 0x98)
	a.Word(tinyguest.LdrW(4, flash, 0x10*4))
	check(4, both('Q'), "query")
	// Word program, the status, the array read back.
	command(flash, 0, 0x40)
	a.Mov(2, flashProg).Word(tinyguest.StrW(2, flash, flashProgOff))
	a.Word(tinyguest.LdrW(4, flash, 0))
	check(4, both(0x80), "program")
	command(flash, 0, 0xff)
	a.Word(tinyguest.LdrW(4, flash, flashProgOff))
	check(4, le32(flashProgOff)&flashProg, "program")
	// Block erase of block 1, then the array there, by load pair again.
	command(block1, 0x40, 0x20)
	command(block1, 0x40, 0xd0)
	a.Word(tinyguest.LdrW(4, flash, 0))
	check(4, both(0x80), "erase")
	command(flash, 0, 0xff)
	a.Word(tinyguest.Ldp(2, 3, block1))
	check(2, ^uint64(0), "erase")
	check(3, ^uint64(0), "erase")
	a.Print(uart, tmp, tinyguest.HelloLine("flash", "ok\n")).PSCI(tinyguest.PSCISystemOff).Spin()
	for _, step := range []string{"array", "query", "program", "erase"} {
		a.Label(step).Print(uart, tmp, tinyguest.HelloLine("flash", "FAIL: "+step+"\n")).PSCI(tinyguest.PSCISystemReset).Spin()
	}
	return a.Code()
}

func TestFlash(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "flash")
		out := r.Output()
		if !strings.Contains(out, tinyguest.HelloLine("flash", "ok")) || strings.Contains(out, "FAIL") {
			t.Errorf("the guest did not get through its flash checks")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d, want %d", r.Exit, machine.ExitPowerOff)
		}
		got := r.Files["$WORK/flash.img"]
		if want := flashAfter(); !bytes.Equal(got, want) {
			t.Errorf("the flash file (%d bytes, SHA-256 %s) is not the image with the word programmed and block 1 erased (%s)",
				len(got), pattern.SHA256(got), pattern.SHA256(want))
		}
	})
}
