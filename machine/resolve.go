package machine

import (
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/virtio"
	vnet "github.com/gokvm/gokvm/devices/virtio/net"
	"github.com/gokvm/gokvm/devices/virtio/net/usernet"
	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// maxSerial is virtio-blk's GET_ID answer size.
const maxSerial = 20

// WithDefaults fills in every default, so the spec says exactly what VM
// it makes: --print-config shows this.
func (s Spec) WithDefaults() Spec {
	// A 32-bit ARM host runs only 32-bit guests.
	s.AArch32 = s.AArch32 || runtime.GOARCH == "arm"
	if s.CPUs == 0 {
		s.CPUs = 1
	}
	if s.Memory == "" {
		s.Memory = DefaultMemory
	}
	if s.IRQChip == "" {
		s.IRQChip = string(arm64.IRQChipAuto)
	}
	if s.Console == "" {
		s.Console = ConsoleSerial
	}
	if s.Transport == "" {
		s.Transport = TransportMMIO
	}
	if s.KVMDevice == "" {
		s.KVMDevice = kvm.DefaultDevice
	}
	if s.Seccomp == "" {
		s.Seccomp = string(seccomp.On)
	}
	s.Disks = append([]Disk(nil), s.Disks...)
	s.NICs = append([]NIC(nil), s.NICs...)
	s.Shares = append([]Share(nil), s.Shares...)
	for i := range s.NICs {
		n := &s.NICs[i]
		if n.Mode == "" {
			n.Mode = NICModeTap
		}
		if n.Mode == NICModeUser && n.GuestMAC == "" {
			n.GuestMAC = userMAC(i).String()
		}
		if n.Mode != NICModeTap {
			continue
		}
		if n.TapIf == "" {
			n.TapIf = fmt.Sprintf("gokvm%d", i)
		}
		if n.GuestMAC == "" {
			n.GuestMAC = defaultMAC(n.TapIf, i).String()
		}
	}
	return s
}

// defaultMAC is stable for a tap name and NIC index, and locally
// administered (52:54:00 as QEMU's, then a hash).
func defaultMAC(tapif string, index int) net.HardwareAddr {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", tapif, index)
	v := h.Sum32()
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(v >> 16), byte(v >> 8), byte(v)}
}

// resolved is a spec checked and parsed into what the builder uses.
type resolved struct {
	spec    Spec
	mem     memory
	irqchip arm64.IRQChip
	// virtioSpec puts a virtio device behind the spec's transport; pci
	// says it is virtio-pci (the machine has a PCI host bridge).
	virtioSpec virtio.SpecFunc
	pci        bool
	timeout    time.Duration
	nics       []resolvedNIC
	affinity   []int
	// firmwareAddr is FirmwareAddress parsed; 0 when not given.
	firmwareAddr uint64
}

type resolvedNIC struct {
	index int
	tapif string
	mac   net.HardwareAddr
	user  bool // a user-mode network, forwarding hostfwd
	fwds  []usernet.HostFwd
	vhost bool
}

// fieldErr is a configuration error naming the spec field.
func fieldErr(field string, format string, args ...any) error {
	return vmm.Configf("%s: %s", field, fmt.Sprintf(format, args...))
}

// Check resolves the spec (defaults filled in) and reports the first
// problem as a configuration error naming its field. It opens nothing.
func (s Spec) Check() error {
	_, err := s.resolve()
	return err
}

func (s Spec) resolve() (*resolved, error) {
	s = s.WithDefaults()
	r := &resolved{spec: s}
	var err error
	switch {
	case s.Kernel == "" && s.Firmware == "":
		return nil, vmm.Configf("no kernel given: use -k/--kernel FILE or --firmware FILE (or \"kernel\" or \"firmware\" in a config file)")
	case s.Kernel != "" && s.Firmware != "":
		return nil, vmm.Configf("kernel %s and firmware %s: only one of --kernel or --firmware can be given (as with kvmtool)", s.Kernel, s.Firmware)
	case s.CPUs < 1:
		return nil, fieldErr("cpus", "%d: a guest needs at least 1 vcpu", s.CPUs)
	}
	if s.FirmwareAddress != "" {
		if s.Firmware == "" {
			return nil, fieldErr("firmware_address", "%s: only a firmware image (--firmware) is placed at an address", s.FirmwareAddress)
		}
		if r.firmwareAddr, err = strconv.ParseUint(s.FirmwareAddress, 0, 64); err != nil {
			return nil, fieldErr("firmware_address", "%q is not an address like 0x80000000", s.FirmwareAddress)
		}
	}
	if r.mem, err = parseMemory(s.Memory); err != nil {
		return nil, fieldErr("memory", "%q: %v", s.Memory, err)
	}
	if r.irqchip, err = arm64.ParseIRQChip(s.IRQChip); err != nil {
		return nil, err
	}
	switch s.Console {
	case ConsoleSerial, ConsolePL011, ConsoleVirtio:
	default:
		return nil, fieldErr("console", "%q: want serial, pl011 or virtio", s.Console)
	}
	switch s.Transport {
	case TransportMMIO:
		r.virtioSpec = virtio.MMIOSpecs(virtio.Modern)
	case TransportMMIOLegacy:
		r.virtioSpec = virtio.MMIOSpecs(virtio.Legacy)
	case TransportPCI:
		r.virtioSpec, r.pci = virtio.PCISpec, true
	case TransportPCILegacy:
		return nil, fieldErr("transport", "%q: gokvm has no legacy (virtio 0.9) virtio-pci; pci is virtio 1.x, mmio-legacy the transport for old guest kernels", s.Transport)
	default:
		return nil, fieldErr("transport", "%q: want mmio, mmio-legacy or pci", s.Transport)
	}
	if s.Timeout != "" {
		if r.timeout, err = time.ParseDuration(s.Timeout); err != nil {
			return nil, fieldErr("timeout", "%q is not a duration like 90s or 5m", s.Timeout)
		}
		if r.timeout < 0 {
			return nil, fieldErr("timeout", "%v is negative", r.timeout)
		}
	}
	if s.SVEMaxVL != 0 {
		if err := arm64.CheckSVEMaxVL(s.SVEMaxVL); err != nil {
			return nil, err
		}
		if s.DisableSVE {
			return nil, vmm.Configf("sve_max_vl (--sve-max-vl) and disable_sve (--disable-sve) contradict each other")
		}
	}
	if s.VcpuAffinity != "" {
		if r.affinity, err = parseCPUList(s.VcpuAffinity); err != nil {
			return nil, fieldErr("vcpu_affinity", "%q: %v", s.VcpuAffinity, err)
		}
	}
	for i, d := range s.Disks {
		switch {
		case d.Path == "":
			return nil, fieldErr(fmt.Sprintf("disks[%d].path", i), "no image file")
		case len(d.Serial) > maxSerial:
			return nil, fieldErr(fmt.Sprintf("disks[%d].serial", i), "%q: a serial is at most %d bytes", d.Serial, maxSerial)
		}
	}
	for i, n := range s.NICs {
		field := fmt.Sprintf("nics[%d]", i)
		switch n.Mode {
		case NICModeNone:
			continue
		case NICModeTap, NICModeUser:
		default:
			return nil, fieldErr(field+".mode", "%q: want tap, user or none", n.Mode)
		}
		rn, err := resolveUserNIC(field, n)
		if err != nil {
			return nil, err
		}
		if !rn.user {
			if err := vnet.ValidTapName(n.TapIf); err != nil {
				return nil, fieldErr(field+".tapif", "%v", err)
			}
		}
		mac, err := net.ParseMAC(n.GuestMAC)
		if err != nil || len(mac) != 6 {
			return nil, fieldErr(field+".guest_mac", "%q is not a MAC address like 52:54:00:12:34:56", n.GuestMAC)
		}
		if mac[0]&1 != 0 {
			return nil, fieldErr(field+".guest_mac", "%s is a multicast address", n.GuestMAC)
		}
		if rn.user && n.Vhost {
			return nil, fieldErr(field+".vhost", "mode user has no tap for vhost-net to move frames through")
		}
		rn.index, rn.tapif, rn.mac, rn.vhost = i, n.TapIf, mac, n.Vhost
		r.nics = append(r.nics, rn)
	}
	if err := checkVsockCID(s.VsockCID); err != nil {
		return nil, err
	}
	if err := checkShares(s.Shares); err != nil {
		return nil, err
	}
	if _, err := seccomp.ParseMode(s.Seccomp); err != nil {
		return nil, fieldErr("seccomp", "%v", err)
	}
	return r, nil
}

// checkShares checks each share's directory and tag (unique, 1 to 31
// bytes).
func checkShares(shares []Share) error {
	tags := map[string]int{}
	for i, sh := range shares {
		field := fmt.Sprintf("shares[%d]", i)
		if sh.Dir == "" {
			return fieldErr(field+".dir", "no directory")
		}
		if fi, err := os.Stat(sh.Dir); err != nil {
			return fieldErr(field+".dir", "%v", err)
		} else if !fi.IsDir() {
			return fieldErr(field+".dir", "%s is not a directory", sh.Dir)
		}
		for j, m := range sh.Mounts {
			if !filepath.IsAbs(m) {
				return fieldErr(fmt.Sprintf("%s.mounts[%d]", field, j), "%q is not an absolute path", m)
			}
		}
		if err := ninep.ValidTag(sh.Tag); err != nil {
			return fieldErr(field+".tag", "%v", err)
		}
		if j, dup := tags[sh.Tag]; dup {
			return fieldErr(field+".tag", "%q is the tag of shares[%d] too", sh.Tag, j)
		}
		tags[sh.Tag] = i
	}
	return nil
}
