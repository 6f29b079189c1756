package control

import (
	"github.com/gokvm/gokvm/vmm/seccomp"
	"golang.org/x/sys/unix"
)

// SystemCalls are what a control socket server calls while the guest
// runs, beyond the run phase's allow-list: a VM with a control socket
// adds them to its seccomp filter (machine.Options.SystemCalls).
var SystemCalls = append([]seccomp.Call{
	{Name: "accept4", Why: "the control socket accepts a client (gokvm list, pause, console...)"},
	{Name: "getsockname", Why: "Go's net package names the accepted control connection"},
	{Name: "getsockopt", Why: "the control socket checks each client's uid and names it by pid (SO_PEERCRED)",
		Args: &seccomp.ArgRule{Index: 2, Values: []seccomp.Value{{V: unix.SO_PEERCRED, Name: "SO_PEERCRED", Why: "the client's uid and pid, nothing else"}}}},
	{Name: "ppoll", Why: "an attached console whose guest takes no input checks, without reading, whether its client has gone (POLLRDHUP), so that it detaches",
		Args: &seccomp.ArgRule{Index: 1, Values: []seccomp.Value{{V: 1, Name: "one descriptor", Why: "the client's connection, nothing else"}}}},
	{Name: "unlinkat", Why: "the control socket is removed when the VM ends; never a directory",
		Args: &seccomp.ArgRule{Index: 2, Values: []seccomp.Value{{V: 0, Name: "no flags", Why: "not AT_REMOVEDIR"}}}},
	{Name: "recvmsg", Why: "a snapshot's client passes the state and RAM files it created as descriptors (SCM_RIGHTS)",
		Args: &seccomp.ArgRule{Index: 2, Values: []seccomp.Value{{V: unix.MSG_CMSG_CLOEXEC, Name: "MSG_CMSG_CLOEXEC", Why: "Go's ReadMsgUnix, nothing else"}}}},
	{Name: "write", Why: "a snapshot writes its state file"},
	{Name: "pwrite64", Why: "a snapshot writes guest RAM to its RAM file at offsets (holes where RAM is zero)"},
}, snapshotFileCalls()...)

// snapshotFileCalls are the calls on a snapshot's files that 32-bit ARM
// makes under other names (fstat64, ftruncate64, _llseek).
func snapshotFileCalls() []seccomp.Call {
	var calls []seccomp.Call
	for _, c := range []seccomp.Call{
		{Name: "fstat", Why: "the control socket checks that a descriptor a snapshot's client passed is a regular file"},
		{Name: "ftruncate", Why: "a snapshot's RAM file is emptied and then sized to guest RAM"},
		{Name: "lseek", Why: "a snapshot's RAM file is rewound once written"},
	} {
		calls = append(calls, seccomp.UnixCall(c)...)
	}
	return calls
}
