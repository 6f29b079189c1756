// Package machine is gokvm as a library: a VM specification (Spec) that a
// command line, a JSON file or a Go program fills in, and a builder that
// turns it into a Machine ready to run, opening the kernel, disks and taps
// it names and owning them until Close. `gokvm run` is a thin layer over
// it; a CI tool or a Go test can boot a kernel the same way.
package machine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gokvm/gokvm/vmm"
)

// Spec is a whole VM. Its JSON field names are part of gokvm's interface
// (`gokvm run --config`, `--print-config`; docs/configuration.md).
// Zero values mean the defaults that WithDefaults fills in.
type Spec struct {
	// Kernel is the arm64 Image (raw or gzip), or with AArch32 a zImage;
	// a file without the header of either is booted as kvmtool boots
	// it, as a flat binary (docs/payloads.md).
	Kernel string `json:"kernel,omitempty"`
	// Firmware, instead of Kernel, is a firmware image booted as
	// kvmtool's --firmware boots one: loaded as it is at the start of
	// RAM (or at FirmwareAddress) and entered there, with the device
	// tree at the next 2 MiB boundary after it. An Initrd is ignored
	// then, as kvmtool ignores it.
	Firmware string `json:"firmware,omitempty"`
	// FirmwareAddress is where Firmware goes, a guest-physical address
	// in RAM ("0x80000000"); the start of RAM when empty.
	FirmwareAddress string `json:"firmware_address,omitempty"`
	// Flash is a file the guest sees as a CFI NOR flash at 0x0200_0000,
	// as kvmtool's --flash (its first power-of-two bytes, 64 KiB to 16
	// MiB): where EDK2 keeps its UEFI variables. What the guest programs
	// and erases reaches the file.
	Flash string `json:"flash,omitempty"`
	// Initrd is the initial ramdisk; none when empty.
	Initrd string `json:"initrd,omitempty"`
	// Cmdline is the kernel command line.
	Cmdline string `json:"cmdline,omitempty"`
	// AArch32 boots a 32-bit ARM guest.
	AArch32 bool `json:"aarch32,omitempty"`
	// CPUs is the number of vcpus (default 1).
	CPUs int `json:"cpus,omitempty"`
	// Memory is RAM as -m takes it: MiB, or with a K/M/G/T suffix,
	// optionally @ADDR (default "256").
	Memory string `json:"memory,omitempty"`
	// IRQChip is auto, gicv3, gicv3-its, gicv2 or gicv2m (default auto:
	// a GICv3, else a GICv2; with the pci transport each first with its
	// MSI controller).
	IRQChip string `json:"irqchip,omitempty"`
	// Console is the device that is the guest's console: serial (a
	// 16550A, the guest's ttyS0; the default), pl011 (an ARM PL011 at
	// 0x0900_0000 as on QEMU's virt board, ttyAMA0) or virtio (a
	// virtio-console, hvc0; the 16550A stays for early messages).
	Console string `json:"console,omitempty"`
	// RNG adds a virtio-rng device fed from the host's getrandom (the
	// guest's /dev/hwrng).
	RNG bool `json:"rng,omitempty"`
	// Disks are virtio-blk devices, the guest's vda, vdb, ... in order.
	Disks []Disk `json:"disks,omitempty"`
	// NICs are virtio-net devices, the guest's eth0, eth1, ... in order.
	NICs []NIC `json:"nics,omitempty"`
	// Shares are host directories served over virtio-9p, after the NICs.
	Shares []Share `json:"shares,omitempty"`
	// Transport is mmio (virtio-mmio version 2, the default),
	// mmio-legacy (version 1) or pci (modern virtio-pci on a PCI host
	// bridge).
	Transport string `json:"transport,omitempty"`
	// Timeout stops the guest after this Go duration ("90s"); none when
	// empty or "0s".
	Timeout string `json:"timeout,omitempty"`
	// KVMDevice is the KVM device (default /dev/kvm).
	KVMDevice string `json:"kvm_device,omitempty"`
	// PMU gives each vcpu a PMUv3 (the host must have KVM_CAP_ARM_PMU_V3).
	PMU bool `json:"pmu,omitempty"`
	// DisableSVE turns SVE off; otherwise AArch64 guests get it where the
	// host has it.
	DisableSVE bool `json:"disable_sve,omitempty"`
	// SVEMaxVL limits SVE's vector length, in bits (a multiple of 128).
	SVEMaxVL int `json:"sve_max_vl,omitempty"`
	// DisablePtrAuth turns pointer authentication off; otherwise AArch64
	// guests get it where the host has it.
	DisablePtrAuth bool `json:"disable_ptrauth,omitempty"`
	// VcpuAffinity pins the vcpu threads to host CPUs, a list like
	// "1,4-7" (as taskset -c takes it).
	VcpuAffinity string `json:"vcpu_affinity,omitempty"`
	// Seccomp is the system call filter of the run phase: on (the
	// default), off, or log (forbidden calls named, and let through).
	Seccomp string `json:"seccomp,omitempty"`
	// VsockCID gives the guest a virtio-vsock device with this context
	// ID (3 to 0xFFFFFFFE), its data path in the host kernel's
	// vhost-vsock; none when 0.
	VsockCID uint64 `json:"vsock_cid,omitempty"`
}

// Disk is one raw disk image.
type Disk struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Direct opens the image with O_DIRECT.
	Direct bool `json:"direct,omitempty"`
	// Serial is the GET_ID answer (default: the file's name).
	Serial string `json:"serial,omitempty"`
}

// NIC is one network interface.
type NIC struct {
	// Mode is tap, user (a user-mode network: no tap, no privilege), or
	// none (no device: a placeholder kvmtool accepts).
	Mode string `json:"mode"`
	// TapIf is the tap interface (default gokvmN, N the NIC's index).
	TapIf string `json:"tapif,omitempty"`
	// GuestMAC is the guest's MAC (default 52:54:00 and a hash of the
	// tap's name and index).
	GuestMAC string `json:"guest_mac,omitempty"`
	// HostFwd (mode user) forwards host ports into the guest, each in
	// QEMU's spelling [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT.
	HostFwd []string `json:"hostfwd,omitempty"`
	// Vhost moves the NIC's frames in the host kernel (vhost-net,
	// /dev/vhost-net) instead of in gokvm.
	Vhost bool `json:"vhost,omitempty"`
}

// Share is a host directory the guest mounts over 9P2000.L by its tag
// (mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt). Nothing
// outside Dir is reachable from the guest.
type Share struct {
	Dir string `json:"dir"`
	Tag string `json:"tag"`
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool `json:"read_only,omitempty"`
	// Mounts are host mount points below Dir that the guest may enter.
	// Every other mount below Dir (another disk, /proc, a tmpfs) is
	// not there for the guest (ENOENT); a kernel file system (proc, sysfs, devtmpfs,
	// debugfs...) cannot be listed.
	Mounts []string `json:"mounts,omitempty"`
}

// Console devices.
const (
	ConsoleSerial = "serial"
	ConsolePL011  = "pl011"
	ConsoleVirtio = "virtio"
)

// Transports.
const (
	TransportMMIO       = "mmio"
	TransportMMIOLegacy = "mmio-legacy"
	TransportPCI        = "pci"
	// TransportPCILegacy is kvmtool's legacy virtio-pci, which gokvm
	// refuses, saying so.
	TransportPCILegacy = "pci-legacy"
)

// NIC modes.
const (
	NICModeTap  = "tap"
	NICModeNone = "none"
	NICModeUser = "user"
)

// Defaults.
const (
	DefaultMemory = "256"
)

// ParseJSON reads a Spec from JSON. Unknown fields, wrong types and
// malformed JSON are configuration errors that name the field (or the
// offset) and the source name.
func ParseJSON(name string, r io.Reader) (Spec, error) {
	var s Spec
	data, err := io.ReadAll(r)
	if err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, &vmm.ConfigError{Err: fmt.Errorf("%s: %s", name, describeJSONError(err, data))}
	}
	if dec.More() {
		return s, vmm.Configf("%s: more than one JSON value", name)
	}
	return s, nil
}

// describeJSONError says what is wrong with a config in the user's terms:
// which field, what was wanted, where in the file.
func describeJSONError(err error, data []byte) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the top level"
		}
		return fmt.Sprintf("field %q: a JSON %s where %s is wanted", field, typeErr.Value, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		line := 1 + bytes.Count(data[:min(int(syntaxErr.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("malformed JSON at line %d: %v", line, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("unknown field %s (see docs/configuration.md for the fields)", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF):
		return "the file is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: it ends early"
	}
	return err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "struct":
		return "an object"
	}
	return goKind
}

// JSON is the spec as indented JSON, the form --print-config shows.
func (s Spec) JSON() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}
