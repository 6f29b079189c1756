package machine

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// parseSwitch reads kvmtool's spelling of an on/off option value.
func parseSwitch(v string) (bool, error) {
	switch v {
	case "1", "on":
		return true, nil
	case "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("want 1, on, 0 or off")
}

// usesVhost reports whether the machine has a device whose data path is
// the host kernel's vhost.
func (s Spec) usesVhost() bool {
	for _, n := range s.NICs {
		if n.Vhost && n.Mode == NICModeTap {
			return true
		}
	}
	return s.VsockCID != 0
}

// vhostSystemCalls are the vhost requests made while the guest runs
// (rings set up at DRIVER_OK, the data path stopped on reset and pause),
// allowed only when the machine has a vhost device.
func (m *Machine) vhostSystemCalls() []seccomp.Call {
	if !m.spec.usesVhost() {
		return nil
	}
	return vhost.SeccompCalls()
}

// Guest vsock context IDs: 0 to 2 are the hypervisor's, the local and the
// host's, 0xFFFFFFFF is VMADDR_CID_ANY.
const (
	MinVsockCID = 3
	MaxVsockCID = 0xFFFFFFFE
)

// checkVsockCID checks a guest's vsock context ID; 0 means no vsock.
func checkVsockCID(cid uint64) error {
	if cid != 0 && (cid < MinVsockCID || cid > MaxVsockCID) {
		return fieldErr("vsock_cid", "%d: a guest's CID is from %d to %d (%#x)", cid, MinVsockCID, uint64(MaxVsockCID), uint64(MaxVsockCID))
	}
	return nil
}
