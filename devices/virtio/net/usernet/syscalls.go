package usernet

// SystemCalls are the system calls a user-mode network makes while the
// guest runs, beyond reads, writes, closes and the poller, by their kernel
// names (x/sys/unix's SYS_ constants in lower case), for a system call
// filter to allow when the machine has one: its outbound connections and
// UDP flows open host sockets (socket, connect, SO_ERROR, addresses,
// TCP_NODELAY and keep-alive), hostfwd listeners accept, and UDP relays
// send and receive datagrams. Its sockets are all AF_INET.
// The listeners are bound before the guest runs.
var SystemCalls = []string{
	"socket", "connect", "getsockopt", "setsockopt", "getsockname", "getpeername",
	"accept4", "shutdown", "sendto", "recvfrom", "sendmsg", "recvmsg",
}
