package vhost

import (
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// Ioctls are the vhost requests made while the guest runs: ring set-up
// when the driver sets DRIVER_OK, and the data path stopped and started
// again on reset, pause and resume; and KVM_IRQFD, which makes the rings'
// call eventfds raise the device's interrupt. A machine with a vhost device allows
// them in its system call filter (seccomp.Options.Extra); the build-time
// ones (VHOST_SET_OWNER, VHOST_GET_FEATURES, VHOST_VSOCK_SET_GUEST_CID)
// are made before the filter is installed.
var Ioctls = []seccomp.Value{
	{V: reqSetFeatures, Name: "VHOST_SET_FEATURES", Why: "vhost is told the negotiated features at DRIVER_OK"},
	{V: reqSetMemTable, Name: "VHOST_SET_MEM_TABLE", Why: "vhost is told where guest RAM is at DRIVER_OK"},
	{V: reqSetVringNum, Name: "VHOST_SET_VRING_NUM", Why: "a vhost ring's size, at DRIVER_OK"},
	{V: reqSetVringBase, Name: "VHOST_SET_VRING_BASE", Why: "a vhost ring's start at DRIVER_OK, or its saved place at a restore"},
	{V: reqGetVringBase, Name: "VHOST_GET_VRING_BASE", Why: "a vhost ring's place, read on reset and for a snapshot"},
	{V: reqSetVringAddr, Name: "VHOST_SET_VRING_ADDR", Why: "a vhost ring's addresses, at DRIVER_OK"},
	{V: reqSetVringKick, Name: "VHOST_SET_VRING_KICK", Why: "a vhost ring's notification eventfd, at DRIVER_OK"},
	{V: reqSetVringCall, Name: "VHOST_SET_VRING_CALL", Why: "a vhost ring's used-buffer eventfd, at DRIVER_OK"},
	{V: reqNetSetBackend, Name: "VHOST_NET_SET_BACKEND", Why: "vhost-net's tap attached at DRIVER_OK and resume, detached on reset and pause"},
	{V: reqVsockSetRunning, Name: "VHOST_VSOCK_SET_RUNNING", Why: "vhost-vsock started at DRIVER_OK and resume, stopped on reset and pause"},
	{V: kvm.RequestIRQFD, Name: "KVM_IRQFD", Why: "over virtio-mmio each ring's call eventfd becomes a KVM irqfd at DRIVER_OK (the kernel raises vhost's interrupts), undone on reset"},
}

// SeccompCalls are the Extra calls of a machine with a vhost device.
func SeccompCalls() []seccomp.Call {
	return []seccomp.Call{{Name: "ioctl", Why: "vhost ring set-up and data path control",
		Args: &seccomp.ArgRule{Index: 1, Values: Ioctls}}}
}
