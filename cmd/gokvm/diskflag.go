package main

import (
	"fmt"
	"strings"

	"github.com/gokvm/gokvm/devices/virtio"
)

// diskFlags collects -d/--disk FILE[,ro][,direct][,serial=ID] in order.
type diskFlags []virtio.DiskOptions

func (d *diskFlags) String() string { return "" }

func (d *diskFlags) Set(s string) error {
	o, err := parseDisk(s)
	if err != nil {
		return err
	}
	*d = append(*d, o)
	return nil
}

func parseDisk(s string) (virtio.DiskOptions, error) {
	parts := strings.Split(s, ",")
	o := virtio.DiskOptions{Path: parts[0]}
	if o.Path == "" {
		return o, fmt.Errorf("-d %q: no image file", s)
	}
	for _, p := range parts[1:] {
		switch {
		case p == "ro":
			o.ReadOnly = true
		case p == "direct":
			o.Direct = true
		case strings.HasPrefix(p, "serial="):
			o.Serial = strings.TrimPrefix(p, "serial=")
			if len(o.Serial) > 20 {
				return o, fmt.Errorf("-d %q: a serial is at most 20 bytes", s)
			}
		default:
			return o, fmt.Errorf("-d %q: unknown option %q (want ro, direct or serial=ID)", s, p)
		}
	}
	return o, nil
}

// parseTransport checks --virtio-transport.
func parseTransport(s string) (virtio.TransportVersion, error) {
	switch s {
	case "mmio", "":
		return virtio.Modern, nil
	case "mmio-legacy":
		return virtio.Legacy, nil
	}
	return 0, fmt.Errorf("--virtio-transport %q: want mmio or mmio-legacy", s)
}
