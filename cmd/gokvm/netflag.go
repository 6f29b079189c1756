package main

import (
	"fmt"
	"hash/fnv"
	"log"
	"net"
	"strings"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
)

// netOptions is one -n/--network.
type netOptions struct {
	mode  string // "tap" or "none"
	tapif string
	mac   net.HardwareAddr
}

// netFlags collects -n in order.
type netFlags []netOptions

func (n *netFlags) String() string { return "" }

func (n *netFlags) Set(s string) error {
	o, err := parseNet(s, len(*n))
	if err != nil {
		return err
	}
	*n = append(*n, o)
	return nil
}

// parseNet reads kvmtool's spelling: mode=tap,tapif=NAME,guest_mac=MAC or
// mode=none.
func parseNet(s string, index int) (netOptions, error) {
	o := netOptions{mode: "tap"}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return o, fmt.Errorf("-n %q: %q is not key=value", s, kv)
		}
		switch k {
		case "mode":
			if v != "tap" && v != "none" {
				return o, fmt.Errorf("-n %q: mode %q: want tap or none", s, v)
			}
			o.mode = v
		case "tapif":
			if err := virtio.ValidTapName(v); err != nil {
				return o, fmt.Errorf("-n %q: %v", s, err)
			}
			o.tapif = v
		case "guest_mac":
			mac, err := net.ParseMAC(v)
			if err != nil || len(mac) != 6 {
				return o, fmt.Errorf("-n %q: guest_mac %q is not a MAC address like 52:54:00:12:34:56", s, v)
			}
			if mac[0]&1 != 0 {
				return o, fmt.Errorf("-n %q: guest_mac %s is a multicast address", s, v)
			}
			o.mac = mac
		default:
			return o, fmt.Errorf("-n %q: unknown key %q (want mode, tapif or guest_mac)", s, k)
		}
	}
	if o.mode == "tap" && o.tapif == "" {
		o.tapif = fmt.Sprintf("gokvm%d", index)
	}
	if o.mac == nil {
		o.mac = defaultMAC(o.tapif, index)
	}
	return o, nil
}

// defaultMAC is stable for a tap name and NIC index, and locally
// administered (52:54:00 as QEMU's, then a hash).
func defaultMAC(tapif string, index int) net.HardwareAddr {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", tapif, index)
	v := h.Sum32()
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(v >> 16), byte(v >> 8), byte(v)}
}

// openNetworks opens every tap (creating what does not exist) and
// describes a virtio-net device for each.
func openNetworks(o *runOptions, logger *log.Logger) ([]vmm.DeviceSpec, []*virtio.Net, func(), error) {
	var taps []*virtio.Tap
	closeAll := func() {
		for _, t := range taps {
			t.Close()
		}
	}
	var specs []vmm.DeviceSpec
	var nics []*virtio.Net
	for i, n := range o.nets {
		if n.mode == "none" {
			continue
		}
		t, err := virtio.OpenTap(n.tapif)
		if err != nil {
			closeAll()
			return nil, nil, func() {}, err
		}
		taps = append(taps, t)
		io, err := virtio.NewTapIO(t)
		if err != nil {
			closeAll()
			return nil, nil, func() {}, err
		}
		name := fmt.Sprintf("virtio-net%d (%s)", i, n.tapif)
		dev := virtio.NewNet(name, io, n.mac, logger)
		nics = append(nics, dev)
		specs = append(specs, virtio.Spec(name, o.transport, dev))
	}
	return specs, nics, closeAll, nil
}
