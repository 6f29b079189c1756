package machine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/vmm/kvm"
	"golang.org/x/sys/unix"
)

// HostReport is what this host offers gokvm (`gokvm check`): the first
// thing an arm64 CI job runs. Its JSON field names are part of gokvm's
// interface.
type HostReport struct {
	// CanBoot says an arm64 guest can boot here; Reason says why not.
	CanBoot bool   `json:"can_boot"`
	Reason  string `json:"reason,omitempty"`
	// HostArch is the host's architecture as Go names it.
	HostArch   string `json:"host_arch"`
	KVMDevice  string `json:"kvm_device"`
	APIVersion int    `json:"api_version,omitempty"`
	// GICv3 and GICv2: the in-kernel interrupt controllers KVM could
	// create here.
	GICv3 bool `json:"gicv3"`
	GICv2 bool `json:"gicv2"`
	// Capabilities lists each KVM capability gokvm uses and its answer.
	Capabilities []CapabilityReport `json:"capabilities,omitempty"`
	// SVEMaxVL is the largest SVE vector length in bits (0: no SVE).
	SVEMaxVL int `json:"sve_max_vl"`
	// IPABits is the largest guest-physical address size.
	IPABits  int `json:"ipa_bits,omitempty"`
	MaxVcpus int `json:"max_vcpus,omitempty"`
	// Devices are the host devices gokvm's options need.
	Devices []DeviceReport `json:"devices"`
	// CapNetAdmin says gokvm may create taps.
	CapNetAdmin bool `json:"cap_net_admin"`
}

// CapabilityReport is one KVM capability.
type CapabilityReport struct {
	Name    string `json:"name"`
	Value   int    `json:"value"`
	Enables string `json:"enables"`
}

// DeviceReport is one host device.
type DeviceReport struct {
	Path    string `json:"path"`
	Present bool   `json:"present"`
	// Usable: gokvm could open it read-write.
	Usable  bool   `json:"usable"`
	Enables string `json:"enables"`
	Problem string `json:"problem,omitempty"`
}

// checkedCaps are the capabilities the report lists, with what each
// enables.
var checkedCaps = []struct {
	cap     kvm.Capability
	enables string
}{
	{kvm.CapUserMemory, "guest RAM (required)"},
	{kvm.CapOneReg, "vcpu registers (required)"},
	{kvm.CapDeviceCtrl, "the in-kernel GIC (required)"},
	{kvm.CapArmPSCI02, "vcpus started and stopped through PSCI (required)"},
	{kvm.CapIRQFD, "interrupts without an ioctl per interrupt"},
	{kvm.CapIOEventFD, "virtio notifications without an exit to gokvm"},
	{kvm.CapImmediateExit, "prompt vcpu stops"},
	{kvm.CapArmEL132Bit, "32-bit guests (--aarch32)"},
	{kvm.CapArmPMUv3, "a guest PMU (--pmu)"},
	{kvm.CapArmSVE, "SVE in the guest"},
	{kvm.CapArmPtrAuthAdr, "pointer authentication in the guest (with the next)"},
	{kvm.CapArmPtrAuthGen, "pointer authentication in the guest (with the previous)"},
	{kvm.CapArmMTE, "memory tagging (not used by gokvm yet)"},
	{kvm.CapArmVMIPASize, "guest-physical addresses above 40 bits (RAM above 1 TiB)"},
	{kvm.CapMaxVcpus, "the vcpu limit"},
}

// hostDevices are the devices reported beside /dev/kvm.
var hostDevices = []struct{ path, enables string }{
	{"/dev/net/tun", "tap networking (-n mode=tap)"},
	{"/dev/vhost-net", "vhost-net (the host kernel's virtio-net data path)"},
	{"/dev/vhost-vsock", "vsock between host and guest"},
}

// CheckHost reports what the host offers gokvm through the KVM device at
// kvmDevice (kvm.DefaultDevice when empty).
func CheckHost(kvmDevice string) HostReport {
	if kvmDevice == "" {
		kvmDevice = kvm.DefaultDevice
	}
	r := HostReport{HostArch: runtime.GOARCH, KVMDevice: kvmDevice, CapNetAdmin: hasCapNetAdmin()}
	for _, d := range hostDevices {
		r.Devices = append(r.Devices, probeDevice(d.path, d.enables))
	}
	if runtime.GOARCH != "arm64" && runtime.GOARCH != "arm" {
		r.Reason = fmt.Sprintf("this is a linux/%s host: its KVM, if any, runs %s guests; gokvm needs an arm64 (or 32-bit ARM) host", runtime.GOARCH, runtime.GOARCH)
		return r
	}
	sys, err := kvm.OpenSystem(kvmDevice)
	if err != nil {
		r.Reason = strings.TrimPrefix(err.Error(), kvm.ErrNoKVM.Error()+": ")
		return r
	}
	defer sys.Close()
	r.APIVersion = sys.APIVersion()
	for _, c := range checkedCaps {
		r.Capabilities = append(r.Capabilities, CapabilityReport{Name: c.cap.String(), Value: sys.CheckExtension(c.cap), Enables: c.enables})
	}
	r.MaxVcpus = sys.MaxVcpus()
	r.IPABits = max(sys.CheckExtension(kvm.CapArmVMIPASize), 40)
	if r.GICv3, err = arm64.ProbeGIC(sys, arm64.GICv3); err == nil {
		r.GICv2, err = arm64.ProbeGIC(sys, arm64.GICv2)
	}
	if err != nil {
		r.Reason = fmt.Sprintf("creating a VM: %v", err)
		return r
	}
	if r.SVEMaxVL, err = arm64.ProbeSVEMaxVL(sys); err != nil {
		r.Reason = fmt.Sprintf("probing SVE: %v", err)
		return r
	}
	if err := arm64.New(arm64.Options{}).CheckHost(sys); err != nil {
		r.Reason = err.Error()
		return r
	}
	if !r.GICv3 && !r.GICv2 {
		r.Reason = "KVM could create neither a GICv3 nor a GICv2"
		return r
	}
	r.CanBoot = true
	return r
}

func probeDevice(path, enables string) DeviceReport {
	d := DeviceReport{Path: path, Enables: enables}
	if _, err := os.Stat(path); err != nil {
		d.Problem = "missing (is its module loaded?)"
		return d
	}
	d.Present = true
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			d.Problem = "no permission to open it"
		} else {
			d.Problem = err.Error()
		}
		return d
	}
	f.Close()
	d.Usable = true
	return d
}

// hasCapNetAdmin reads the effective capabilities from /proc.
func hasCapNetAdmin() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_ADMIN) != 0
		}
	}
	return false
}
