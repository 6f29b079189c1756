package machine

import (
	"fmt"
	"strings"
)

// ParseDisk reads kvmtool's -d spelling: FILE[,ro][,direct][,serial=ID].
// kvmtool's scsi:WWPN (a vhost-scsi target) is refused by name.
func ParseDisk(s string) (Disk, error) {
	if strings.HasPrefix(s, "scsi:") {
		return Disk{}, fmt.Errorf("-d %q: kvmtool's vhost-scsi disks (scsi:WWPN) are not implemented in gokvm", s)
	}
	parts := strings.Split(s, ",")
	d := Disk{Path: parts[0]}
	if d.Path == "" {
		return d, fmt.Errorf("-d %q: no image file", s)
	}
	for _, p := range parts[1:] {
		switch {
		case p == "ro":
			d.ReadOnly = true
		case p == "direct":
			d.Direct = true
		case strings.HasPrefix(p, "serial="):
			d.Serial = strings.TrimPrefix(p, "serial=")
		default:
			return d, fmt.Errorf("-d %q: unknown option %q (want ro, direct or serial=ID)", s, p)
		}
	}
	return d, nil
}

// ParseNIC reads kvmtool's -n spelling:
// mode=tap[,tapif=NAME][,guest_mac=MAC][,vhost=1],
// or mode=user[,guest_mac=MAC][,hostfwd=RULE]... (QEMU's hostfwd rules)
// or mode=none. Values are checked when the spec is resolved.
func ParseNIC(s string) (NIC, error) {
	n := NIC{Mode: NICModeTap}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return n, fmt.Errorf("-n %q: %q is not key=value", s, kv)
		}
		switch k {
		case "mode":
			n.Mode = v
		case "tapif":
			n.TapIf = v
		case "guest_mac":
			n.GuestMAC = v
		case "hostfwd":
			n.HostFwd = append(n.HostFwd, v)
		case "vhost":
			on, err := parseSwitch(v)
			if err != nil {
				return n, fmt.Errorf("-n %q: vhost=%s: %v", s, v, err)
			}
			n.Vhost = on
		case "script", "downscript", "guest_ip", "host_ip", "fd", "mq", "trans":
			return n, fmt.Errorf("-n %q: %s= is a kvmtool key gokvm does not implement (want mode, tapif, guest_mac, vhost or hostfwd)", s, k)
		default:
			return n, fmt.Errorf("-n %q: unknown key %q (want mode, tapif, guest_mac, vhost or hostfwd)", s, k)
		}
	}
	return n, nil
}

// DefaultShareTag is the mount tag of a --9p DIR given without one:
// kvmtool's (VIRTIO_9P_DEFAULT_TAG).
const DefaultShareTag = "kvm_9p"

// ParseShare reads kvmtool's --9p spelling, DIR[,TAG] (TAG defaults to
// DefaultShareTag), and gokvm's ro and mounts=PATH[:PATH...]
// (Share.Mounts). Values are checked when the spec is resolved.
func ParseShare(s string) (Share, error) {
	parts := strings.Split(s, ",")
	if len(parts) == 1 {
		parts = append(parts, DefaultShareTag)
	}
	if parts[0] == "" || parts[1] == "" {
		return Share{}, fmt.Errorf("--9p %q: want DIR[,TAG][,ro][,mounts=PATH:PATH...]", s)
	}
	sh := Share{Dir: parts[0], Tag: parts[1]}
	for _, p := range parts[2:] {
		switch {
		case p == "ro":
			sh.ReadOnly = true
		case strings.HasPrefix(p, "mounts="):
			for _, m := range strings.Split(strings.TrimPrefix(p, "mounts="), ":") {
				if m == "" {
					return sh, fmt.Errorf("--9p %q: an empty path in mounts=", s)
				}
				sh.Mounts = append(sh.Mounts, m)
			}
		default:
			return sh, fmt.Errorf("--9p %q: unknown option %q (want ro or mounts=PATH:PATH...)", s, p)
		}
	}
	return sh, nil
}
