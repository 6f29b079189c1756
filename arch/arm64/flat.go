package arm64

// kvmtool boots any kernel file: one without the header of the guest's
// kernel format is loaded as it is, a flat binary, and entered at its
// first byte with the boot protocol's registers (arm/kvm.c's
// kvm__arch_load_kernel_image, arm/aarch64/kvm.c's
// kvm__arch_get_kern_offset). Bare-metal test payloads (kvm-unit-tests)
// and boot loaders built for kvmtool are such files.

const (
	// FlatOffset is where kvmtool puts a flat AArch64 payload above the
	// start of RAM: the text_offset it assumes for a file without an
	// Image header (that of pre-3.17 kernels).
	FlatOffset = legacyTextOffset
	// LowmemLimit is how much of the start of RAM kvmtool keeps a flat
	// payload, its initrd and device tree in ("Linux requires the initrd
	// and dtb to be mapped inside lowmem"), and a 32-bit guest's initrd
	// and device tree.
	LowmemLimit = 256 << 20
)

// FlatKernel is a flat binary data, loaded at offset above the start of
// RAM and entered there; why says what it lacks to be a kernel of the
// guest's format, for the warning.
func FlatKernel(data []byte, offset uint64, why string) Kernel {
	return Kernel{Data: data, Offset: offset, Size: uint64(len(data)), FlatWhy: why}
}

// flatLimit is where a flat payload's initrd and device tree must end:
// in the first LowmemLimit bytes of RAM, as kvmtool places them.
func flatLimit(ramBase, ramSize uint64) uint64 { return ramBase + min(ramSize, LowmemLimit) }
