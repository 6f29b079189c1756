package machine

import (
	"fmt"
	"net"

	vnet "github.com/gokvm/gokvm/devices/virtio/net"
	"github.com/gokvm/gokvm/devices/virtio/net/usernet"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/seccomp"
	"golang.org/x/sys/unix"
)

// userMAC is QEMU's default guest MAC, 52:54:00:12:34:56, counting up
// with the NIC's index.
func userMAC(index int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, byte(0x56 + index)}
}

// resolveUserNIC checks what only mode user takes (hostfwd) and what it
// does not (tapif).
func resolveUserNIC(field string, n NIC) (resolvedNIC, error) {
	if n.Mode != NICModeUser {
		if len(n.HostFwd) > 0 {
			return resolvedNIC{}, fieldErr(field+".hostfwd", "only mode user forwards host ports")
		}
		return resolvedNIC{}, nil
	}
	if n.TapIf != "" {
		return resolvedNIC{}, fieldErr(field+".tapif", "%q: mode user has no tap", n.TapIf)
	}
	rn := resolvedNIC{user: true}
	for j, s := range n.HostFwd {
		f, err := usernet.ParseHostFwd(s)
		if err != nil {
			return rn, fieldErr(fmt.Sprintf("%s.hostfwd[%d]", field, j), "%v", err)
		}
		rn.fwds = append(rn.fwds, f)
	}
	return rn, nil
}

// openUserNIC starts a user-mode network (binding its hostfwd ports) and
// describes its virtio-net device, which owns it.
func (m *Machine) openUserNIC(r *resolved, n resolvedNIC) (vmm.DeviceSpec, error) {
	name := fmt.Sprintf("virtio-net%d (user)", n.index)
	io, err := usernet.New(usernet.Config{Name: name, HostFwds: n.fwds, Log: m.log})
	if err != nil {
		return vmm.DeviceSpec{}, vmm.ConfigCause(err, "nics[%d]: %v", n.index, err)
	}
	m.backends = append(m.backends, io)
	dev := vnet.New(name, io, n.mac, m.log)
	m.deviceStats = append(m.deviceStats, nicStats(n.index, dev.Stats.String))
	return nicSpec(n.index, r.virtioSpec(name, dev)), nil
}

// userNetSystemCalls are the calls a user-mode network makes while the
// guest runs, when the machine has one.
func (m *Machine) userNetSystemCalls() []seccomp.Call {
	has := false
	for _, n := range m.spec.NICs {
		has = has || n.Mode == NICModeUser
	}
	if !has {
		return nil
	}
	var calls []seccomp.Call
	for _, name := range usernet.SystemCalls {
		c := seccomp.Call{Name: name, Why: "a user-mode network (-n mode=user) carries the guest's connections over host sockets"}
		if name == "socket" {
			c.Args = &seccomp.ArgRule{Index: 0, Values: []seccomp.Value{
				{V: unix.AF_INET, Name: "AF_INET", Why: "the user-mode network's sockets are IPv4"}}}
		}
		calls = append(calls, c)
	}
	return calls
}
