package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// vhostModules are the host kernel's vhost-net and vhost-vsock and what
// they need, in load order (Debian builds them as modules).
var vhostModules = []string{
	"vhost_iotlb", "vhost", "tap", "vhost_net",
	"vsock", "vmw_vsock_virtio_transport_common", "vhost_vsock",
}

// loadVhostModules loads them from /modules, so /dev/vhost-net and
// /dev/vhost-vsock exist for the vhost scenarios.
func loadVhostModules() {
	for _, m := range vhostModules {
		f, err := os.Open("/modules/" + m + ".ko")
		if err != nil {
			fmt.Printf("L1: loading %s: %v\n", m, err)
			return
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && err != unix.EEXIST {
			fmt.Printf("L1: loading %s: %v\n", m, err)
			return
		}
	}
}
