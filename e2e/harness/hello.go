package harness

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
)

// The hello guests of internal/tinyguest as files in the guest directory,
// booted as kvmtool boots a payload that is not a Linux kernel
// (docs/payloads.md). The end-to-end tests run them under gokvm
// (e2e/payload_test.go) and `make compat` under kvmtool and gokvm with the
// same options, so both read this one list.

// HelloPayload is one hello guest: its tag (the scenario name and what
// its lines say), its file in the guest directory, where it must be
// entered and where its device tree must be (kvmtool's places with
// -m 256 at 0x80000000), and the run options that boot it.
type HelloPayload struct {
	Tag, File string
	A32       bool
	Load, FDT uint64
	Args      []string
	// Warning is what gokvm says on stderr when it boots the file ("" for
	// nothing), %s for the file's path.
	Warning string
}

// HelloRunArgs are the options every hello guest is run with besides its
// own: two vcpus (it starts the second by PSCI) and the RAM its load and
// device tree addresses assume.
var HelloRunArgs = []string{"-c", "2", "-m", "256"}

const helloRAM = arm64.DefaultRAMBase

// HelloPayloads are the hello guests: a flat AArch64 kernel, firmware at
// the start of RAM and at an address, and a flat A32 kernel.
var HelloPayloads = []HelloPayload{
	{Tag: "flat-kernel", File: "hello.flat", Load: helloRAM + 0x80000, FDT: helloRAM + 254<<20,
		Args:    []string{"-k", "$GUEST/hello.flat"},
		Warning: "gokvm: kernel %s has no arm64 Image header; loading it as a flat binary at 0x80080000 as kvmtool does"},
	{Tag: "flat-firmware", File: "hello.fw", Load: helloRAM, FDT: helloRAM + 2<<20,
		Args: []string{"--firmware", "$GUEST/hello.fw"}},
	{Tag: "flat-firmware-address", File: "hello.fwaddr", Load: helloRAM + 3<<20, FDT: helloRAM + 4<<20,
		Args: []string{"--firmware", "$GUEST/hello.fwaddr", "--firmware-address", "0x80300000"}},
	{Tag: "flat-a32", File: "hello32.flat", A32: true, Load: helloRAM + 0x8000, FDT: helloRAM + 254<<20,
		Args:    []string{"--aarch32", "-k", "$GUEST/hello32.flat"},
		Warning: "gokvm: kernel %s has no zImage magic; loading it as a flat binary at 0x80008000 as kvmtool does"},
}

// WriteHelloPayloads assembles every hello guest into the guest directory.
func WriteHelloPayloads(b *Build) error {
	for _, p := range HelloPayloads {
		var code []byte
		var err error
		if p.A32 {
			code, err = tinyguest.Hello32(p.Tag, arm64.PlatformBase, uint32(p.Load), uint32(p.FDT))
		} else {
			code, err = tinyguest.Hello(p.Tag, arm64.PlatformBase, p.Load, p.FDT)
		}
		if err != nil {
			return fmt.Errorf("assembling %s: %w", p.File, err)
		}
		if err := os.WriteFile(filepath.Join(b.GuestDir, p.File), code, 0o644); err != nil {
			return err
		}
	}
	return nil
}
