package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox"
)

// noKVM is a KVM device that does not exist: a run gets through the
// payload's checks (which come before KVM is opened) and fails there.
func noKVM(t *testing.T) []string {
	return []string{"--kvm-device", filepath.Join(t.TempDir(), "kvm")}
}

// A kernel file without an Image header (zImage magic) boots as a flat
// binary, as kvmtool boots it: gokvm says so, naming the file and the
// address, and goes on to open KVM.
func TestFlatKernelWarns(t *testing.T) {
	dir := t.TempDir()
	flat := writeFile(t, dir, "payload.bin", []byte(strings.Repeat("\x00\x00\x00\x14", 16)))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"arm64", nil, "gokvm: kernel " + flat + " has no arm64 Image header; loading it as a flat binary at 0x80080000 as kvmtool does\n"},
		{"RAM elsewhere", []string{"-m", "64@0x100000000"}, "at 0x100080000 as kvmtool does\n"},
		{"aarch32", []string{"--aarch32"}, "gokvm: kernel " + flat + " has no zImage magic; loading it as a flat binary at 0x80008000 as kvmtool does\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"run", "-k", flat}, tc.args...), noKVM(t)...)
			code, _, stderr := runCLI(t, args...)
			first, rest, _ := strings.Cut(stderr, "\n")
			if code != machine.ExitFailure || !strings.HasSuffix(first+"\n", tc.want) || !strings.Contains(rest, "does not exist") {
				t.Errorf("status %d, stderr %q; want %d, the warning %q, then the missing KVM device", code, stderr, machine.ExitFailure, tc.want)
			}
		})
	}
	// A flat payload that does not fit is a usage error, after the
	// warning that says how it was taken.
	big := writeFile(t, dir, "big.bin", make([]byte, 15<<20))
	code, _, stderr := runCLI(t, append([]string{"run", "-k", big, "-m", "16"}, noKVM(t)...)...)
	if code != machine.ExitUsage || !strings.Contains(stderr, "as a flat binary") || !strings.Contains(stderr, "-m 16 MiB is too small") {
		t.Errorf("a 15 MiB flat payload in 16 MiB: status %d, stderr %q", code, stderr)
	}
}

func TestFirmwareBadInput(t *testing.T) {
	dir := t.TempDir()
	fw := writeFile(t, dir, "fw.bin", make([]byte, 64<<10))
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	empty := writeFile(t, dir, "empty.bin", nil)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"kernel and firmware", []string{"run", "-k", kernel, "--firmware", fw}, "only one of --kernel or --firmware"},
		{"address without firmware", []string{"run", "-k", kernel, "--firmware-address", "0x80000000"}, "firmware_address: 0x80000000: only a firmware image"},
		{"bad address", []string{"run", "-f", fw, "--firmware-address", "zz"}, "\"zz\" is not an address"},
		{"address below RAM", []string{"run", "-f", fw, "--firmware-address", "0x40000000"}, "firmware address 0x40000000 is not in RAM (0x80000000-0x8fffffff)"},
		{"misaligned address", []string{"run", "-f", fw, "--firmware-address", "0x80000002"}, "not 4-byte aligned"},
		{"no room for the device tree", []string{"run", "-f", fw, "--firmware-address", "0x8ff00000"}, "no room for the device tree"},
		{"empty firmware", []string{"run", "--firmware", empty}, "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append(tc.args, noKVM(t)...)...)
			if code != machine.ExitUsage {
				t.Errorf("exit status %d, want %d", code, machine.ExitUsage)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("stderr %q, want one line mentioning %q", stderr, tc.want)
			}
		})
	}
}

// A missing firmware is a usage error, with kvmtool's line for it after
// gokvm's.
func TestMissingFirmware(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	code, _, stderr := runCLI(t, "run", "-f", none)
	want := "gokvm: firmware " + none + ": no such file\n  Fatal: unable to load firmware image " + none + ": No such file or directory\n"
	if code != machine.ExitUsage || stderr != want {
		t.Errorf("status %d, stderr %q; want %d and %q", code, stderr, machine.ExitUsage, want)
	}
}

func TestSandboxRefusesFirmware(t *testing.T) {
	fw := writeFile(t, t.TempDir(), "fw.bin", make([]byte, 64<<10))
	for _, flag := range []string{"-f", "--firmware", "--firmware-address", "-F", "--flash"} {
		code, _, stderr := runCLI(t, "sandbox", "-k", fw, flag, fw, "--", "true")
		if code != sandbox.StatusFailed || !strings.Contains(stderr, "the sandbox boots a Linux kernel") {
			t.Errorf("sandbox %s: status %d, stderr %q", flag, code, stderr)
		}
	}
}

// Firmware gets as far as KVM; an initrd beside it is ignored with a
// warning, as kvmtool ignores it; the spec records the firmware.
func TestFirmwareRun(t *testing.T) {
	dir := t.TempDir()
	fw := writeFile(t, dir, "fw.bin", make([]byte, 64<<10))
	initrd := writeFile(t, dir, "initrd", []byte("070701"))
	code, _, stderr := runCLI(t, append([]string{"run", "-f", fw, "-i", initrd, "--firmware-address", "0x80100000"}, noKVM(t)...)...)
	want := "gokvm: initrd " + initrd + " ignored: a firmware image boots (--firmware), and kvmtool ignores an initrd then\n"
	if code != machine.ExitFailure || !strings.HasPrefix(stderr, want) || strings.Contains(stderr, "flat binary") {
		t.Errorf("status %d, stderr %q; want %d after %q", code, stderr, machine.ExitFailure, want)
	}
	code, stdout, _ := runCLI(t, "run", "--firmware", fw, "--firmware-address", "0x80100000", "--print-config")
	var spec map[string]any
	if err := json.Unmarshal([]byte(stdout), &spec); code != 0 || err != nil {
		t.Fatalf("--print-config: status %d, %v", code, err)
	}
	if spec["firmware"] != fw || spec["firmware_address"] != "0x80100000" || spec["kernel"] != nil {
		t.Errorf("--print-config gave firmware %v at %v, kernel %v", spec["firmware"], spec["firmware_address"], spec["kernel"])
	}
}

// A flash file the guest cannot have is a usage error naming it.
func TestFlashBadInput(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	small := writeFile(t, dir, "small.img", make([]byte, 4096))
	ok := writeFile(t, dir, "vars.img", make([]byte, 64<<10))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{"-F", filepath.Join(dir, "none.img")}, "flash " + filepath.Join(dir, "none.img") + ": no such file"},
		{"directory", []string{"--flash", dir}, "not a regular file"},
		{"too small", []string{"--flash", small}, "4096 bytes; a flash holds at least one 64 KiB erase block"},
		{"in use", []string{"--flash", ok, "-d", ok}, "flash " + ok + ": in use by another process"}, // a disk and the flash on one file: the second lock fails
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"run", "-k", kernel}, tc.args...), noKVM(t)...)
			code, _, stderr := runCLI(t, args...)
			if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("status %d, stderr %q; want %d and %q", code, stderr, machine.ExitUsage, tc.want)
			}
		})
	}
	// A usable flash gets as far as KVM.
	code, _, stderr := runCLI(t, append([]string{"run", "-k", kernel, "--flash", ok}, noKVM(t)...)...)
	if code != machine.ExitFailure || !strings.Contains(stderr, "does not exist") {
		t.Errorf("a usable flash: status %d, stderr %q", code, stderr)
	}
}
