package kvm

import "testing"

// ioc is the kernel's _IOC (include/uapi/asm-generic/ioctl.h, which arm64,
// arm and x86 use): direction in bits 30-31, size in 16-29, type in 8-15,
// number in 0-7.
func ioc(dir, typ, nr, size uintptr) uintptr { return dir<<30 | size<<16 | typ<<8 | nr }

const kvmio = 0xae

func TestStatsIoctlNumber(t *testing.T) {
	// linux/kvm.h: #define KVM_GET_STATS_FD _IO(KVMIO, 0xce)
	if want := ioc(0, kvmio, 0xce, 0); kvmGetStatsFD != want {
		t.Errorf("KVM_GET_STATS_FD %#x, want %#x", kvmGetStatsFD, want)
	}
	if CapBinaryStatsFD.String() != "KVM_CAP_BINARY_STATS_FD" {
		t.Errorf("capability 203 is %s", CapBinaryStatsFD)
	}
}
