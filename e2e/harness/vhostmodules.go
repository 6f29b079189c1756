package harness

// vhostHostModules are the modules e2e/hostinit loads for the emulated
// host's /dev/vhost-net and /dev/vhost-vsock; the guest has them too (it
// needs vsock and vmw_vsock_virtio_transport_common).
var vhostHostModules = map[string]bool{
	"vhost_iotlb.ko": true, "vhost.ko": true, "tap.ko": true, "vhost_net.ko": true,
	"vsock.ko": true, "vmw_vsock_virtio_transport_common.ko": true, "vhost_vsock.ko": true,
}
