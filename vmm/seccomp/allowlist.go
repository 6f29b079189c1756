package seccomp

import (
	"github.com/gokvm/gokvm/vmm/kvm"
	"golang.org/x/sys/unix"
)

// Call is one system call the run phase may make, and why.
type Call struct {
	// Name is the kernel's name for the call: x/sys/unix's SYS_ constant
	// in lower case ("ioctl" for SYS_IOCTL).
	Name string
	// Why says which part of gokvm or the Go runtime makes the call.
	Why string
	// Only limits the entry to these GOARCHes ("amd64", "arm64", "arm");
	// every architecture when empty. A call that exists on an
	// architecture but is not used there is left out by this.
	Only []string
	// Args, when not nil, allows the call only for these values of one
	// argument.
	Args *ArgRule
	// Fail, when not 0, makes the call (with Args' values, when given)
	// fail with this error without reaching the kernel, instead of
	// allowing it: for a call whose arguments the filter cannot read
	// (openat2's flags are in a struct), made by code that falls back on
	// that error to a call it can check (openat).
	Fail unix.Errno
}

// ArgRule allows a call only when the low 32 bits of argument Index,
// masked with Mask (all bits when Mask is 0), equal one of Values, and
// the call meets And too when it is not nil (a rule on another argument).
type ArgRule struct {
	Index  int
	Mask   uint32
	Values []Value
	And    *ArgRule
}

// Value is one allowed argument value, named, and why it is needed.
type Value struct {
	V    uint32
	Name string
	Why  string
}

// Ioctls are the ioctl requests of the run phase: the vcpu loop and
// devices while the guest runs, dumps, the seccomp listener itself, and
// teardown. Build-time requests (KVM_CREATE_VM, KVM_CREATE_VCPU,
// KVM_SET_USER_MEMORY_REGION, KVM_ARM_VCPU_INIT, KVM_SET_ONE_REG,
// KVM_IRQFD, KVM_CREATE_DEVICE, TUNSETIFF, SIOCSIFFLAGS, ...) are not
// here: they are all made before the filter is installed (a machine with
// a vhost device adds KVM_IRQFD, vhost.Ioctls).
var Ioctls = append([]Value{
	{kvm.RequestRun, "KVM_RUN", "each vcpu's run loop enters the guest"},
	{kvm.RequestIRQLine, "KVM_IRQ_LINE", "level-triggered device interrupts (the UART), and edge ones where the host has no irqfd"},
	{kvm.RequestIOEventFD, "KVM_IOEVENTFD", "a virtio device registers its queue notification when the guest driver sets the queue up"},
	{kvm.RequestCheckExtension, "KVM_CHECK_EXTENSION", "asked before KVM_IOEVENTFD, when a virtio queue is set up"},
	{kvm.RequestGetOneReg, "KVM_GET_ONE_REG", "vcpu dumps (SIGUSR1, --timeout) read PC and PSTATE/CPSR"},
	{kvm.RequestGetMPState, "KVM_GET_MP_STATE", "vcpu dumps say whether a vcpu is stopped; a snapshot saves it"},
	{uint32(unix.TUNSETVNETHDRSZ), "TUNSETVNETHDRSZ", "virtio-net matches the tap's header size to the driver's features"},
	{uint32(unix.TUNSETOFFLOAD), "TUNSETOFFLOAD", "virtio-net tells the tap which offloads the driver took"},
	{uint32(unix.TCGETS), "TCGETS", "the console's terminal state is read"},
	{uint32(unix.TCSETS), "TCSETS", "the terminal on standard input leaves raw mode when the guest stops"},
	{uint32(unix.SECCOMP_IOCTL_NOTIF_RECV), "SECCOMP_IOCTL_NOTIF_RECV", "the filter's own listener waits for a forbidden call"},
	{uint32(unix.SECCOMP_IOCTL_NOTIF_SEND), "SECCOMP_IOCTL_NOTIF_SEND", "the listener lets a call through in --seccomp log"},
}, SnapshotIoctls...)

// SnapshotIoctls are the ioctl requests of a snapshot of the running
// machine beyond KVM_GET_ONE_REG and KVM_GET_MP_STATE, part of Ioctls: any
// machine may be saved while it runs (machine.Snapshot through the Go API,
// or asked for on its control socket).
var SnapshotIoctls = []Value{
	{kvm.RequestGetRegList, "KVM_GET_REG_LIST", "a snapshot lists each vcpu's registers to save them all"},
	{kvm.RequestGetVcpuEvents, "KVM_GET_VCPU_EVENTS", "a snapshot saves each vcpu's pending SError"},
	{kvm.RequestGetDeviceAttr, "KVM_GET_DEVICE_ATTR", "a snapshot reads the in-kernel GIC's registers"},
	{kvm.RequestHasDeviceAttr, "KVM_HAS_DEVICE_ATTR", "a snapshot asks whether a GICv3 can flush its pending tables"},
	{kvm.RequestSetDeviceAttr, "KVM_SET_DEVICE_ATTR", "a snapshot flushes a GICv3's LPI pending bits to guest RAM (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES)"},
}

// readOnly is the openat flags mask whose bits must all be clear.
const readOnly = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC | unix.O_APPEND

// ReadOnlyOpenat allows openat only for reading: no file is created,
// truncated or written through what it opens. The run phase opens
// nothing by itself; a machine adds this for what reads files while the
// guest runs (--stats, read-only 9p shares), why saying what.
func ReadOnlyOpenat(why string) Call {
	return Call{Name: "openat", Why: why,
		Args: &ArgRule{Index: 2, Mask: readOnly, Values: []Value{{0, "O_RDONLY", "reading only"}}}}
}

// pid is gokvm's own process (thread group) id: the only one tgkill may
// signal.
var pid = uint32(unix.Getpid())

// fcntlCommands are the fcntl commands Go's os package uses on files
// opened or wrapped during the run.
var fcntlCommands = &ArgRule{Index: 1, Values: []Value{
	{unix.F_GETFL, "F_GETFL", "os.NewFile asks whether an eventfd is non-blocking"},
	{unix.F_SETFL, "F_SETFL", "Go's poller makes a descriptor non-blocking"},
	{unix.F_GETFD, "F_GETFD", "Go's os package checks close-on-exec"},
	{unix.F_SETFD, "F_SETFD", "Go's os package sets close-on-exec"},
}}

// Allowed is the allow-list: every system call gokvm's run phase makes,
// from the first KVM_RUN to exit. Anything else is forbidden: no
// execve/execveat, fork/vfork, clone without CLONE_THREAD, clone3, no
// socket, connect, bind, no open at all, no signal to another process,
// ptrace, mount, bpf, process_vm_*, ... A machine adds what its devices
// and options need (Options.Extra). The calls most made come first (the
// filter tries them in order).
var Allowed = []Call{
	{Name: "ioctl", Why: "KVM, tap and terminal requests (Ioctls)", Args: &ArgRule{Index: 1, Values: Ioctls}},
	{Name: "futex", Why: "the Go runtime: threads sleep and wake"},
	{Name: "futex_time64", Only: []string{"arm"}, Why: "the Go runtime's futex on 32-bit ARM from Linux 5.1 (64-bit time; futex before)"},
	{Name: "read", Why: "guest console input, tap frames, eventfds (ioeventfd notifications)"},
	{Name: "write", Why: "guest console output, stderr, eventfds (irqfd interrupts)"},
	{Name: "epoll_pwait", Why: "the Go runtime's poller: waiting for taps, eventfds, standard input"},
	{Name: "epoll_ctl", Why: "the Go runtime's poller: descriptors added and removed"},
	{Name: "writev", Why: "tap transmit (virtio-net header and frame)"},
	{Name: "preadv", Why: "virtio-blk reads"},
	{Name: "pwritev", Why: "virtio-blk writes"},
	{Name: "pread64", Why: "the Go runtime re-reads its cgroup CPU limit (cpu.max, opened at start) every second to adjust GOMAXPROCS; a vcpu dump reads the DWARF line table of an ELF --symbols file as it first needs it"},
	{Name: "pwrite64", Why: "virtio-blk write-zeroes where the file system has no FALLOC_FL_ZERO_RANGE"},
	{Name: "fdatasync", Why: "virtio-blk flush, and disks flushed on close"},
	{Name: "fallocate", Why: "virtio-blk discard (punch hole) and write-zeroes"},
	{Name: "tgkill", Why: "vcpu kicks (SIGURG to a thread in KVM_RUN) and the Go runtime's preemption; only to a thread of this process",
		Args: &ArgRule{Index: 0, Values: []Value{{pid, "gokvm's own pid", "the runtime and the vcpu kicks signal their own threads, never another process"}}}},
	{Name: "getpid", Why: "vcpu kicks and the Go runtime's signals to itself"},
	{Name: "gettid", Why: "each vcpu thread records its id; the Go runtime"},
	{Name: "sched_yield", Why: "the Go runtime's spinning"},
	{Name: "nanosleep", Why: "the Go runtime's usleep"},
	{Name: "clock_gettime", Why: "the Go runtime's clocks, where the vDSO falls back to the system call (a clock source it cannot read)"},
	{Name: "mmap", Only: []string{"amd64", "arm64"}, Why: "the Go runtime's heap and stacks; never executable memory", Args: &ArgRule{Index: 2, Mask: unix.PROT_EXEC, Values: []Value{{0, "without PROT_EXEC", "gokvm maps no code"}}}},
	{Name: "mmap2", Only: []string{"arm"}, Why: "the Go runtime's heap and stacks (32-bit ARM); never executable memory", Args: &ArgRule{Index: 2, Mask: unix.PROT_EXEC, Values: []Value{{0, "without PROT_EXEC", "gokvm maps no code"}}}},
	{Name: "munmap", Why: "the Go runtime; guest RAM and kvm_run pages unmapped at teardown"},
	{Name: "madvise", Why: "the Go runtime returns memory to the OS"},
	{Name: "clone", Why: "the Go runtime starts threads (vcpu threads among them); only with CLONE_THREAD, so never a new process",
		Args: &ArgRule{Index: 0, Mask: unix.CLONE_THREAD, Values: []Value{{unix.CLONE_THREAD, "CLONE_THREAD", "a thread of this process"}}}},
	{Name: "arch_prctl", Only: []string{"amd64"}, Why: "the Go runtime sets a new thread's TLS (x86_64, where the unit tests run)"},
	{Name: "restart_syscall", Why: "the kernel resumes a sleep (futex or nanosleep with a timeout) that a signal interrupted: SIGURG kicks and preemption, SIGPROF"},
	{Name: "rt_sigreturn", Why: "return from every signal handler (SIGURG kicks and preemption)"},
	{Name: "rt_sigprocmask", Why: "the Go runtime masks signals on its threads"},
	{Name: "rt_sigaction", Why: "os/signal: signal.Stop when the run ends; the Go runtime when it crashes"},
	{Name: "sigaltstack", Why: "each new thread's signal stack"},
	{Name: "getrandom", Why: "the Go runtime's random numbers"},
	{Name: "eventfd2", Why: "a virtio queue's ioeventfd, made when the guest driver sets the queue up"},
	{Name: "fcntl", Why: "Go's os package on descriptors it wraps", Args: fcntlCommands},
	{Name: "fcntl64", Only: []string{"arm"}, Why: "Go's os package on descriptors it wraps (32-bit ARM)", Args: fcntlCommands},
	{Name: "close", Why: "descriptors closed at teardown: disks, taps (a tap gokvm created goes with it), eventfds, vcpus, the VM"},
	{Name: "prctl", Why: "each vcpu thread names itself (gokvm-vcpuN) as its loop starts; the Go runtime names the memory it maps",
		Args: &ArgRule{Index: 0, Values: []Value{
			{unix.PR_SET_NAME, "PR_SET_NAME", "a thread's name, nothing else"},
			{unix.PR_SET_VMA, "PR_SET_VMA", "the Go runtime (1.25 on) names each anonymous mapping it makes for the heap, whose growth goes on while the guest runs, where the kernel has CONFIG_ANON_VMA_NAME"},
		}}},
	{Name: "sched_getaffinity", Why: "the Go runtime re-reads its CPU affinity every second to adjust GOMAXPROCS (Go 1.25 on); only its own (pid 0)",
		Args: &ArgRule{Index: 0, Values: []Value{{0, "the calling thread", "no other thread or process"}}}},
	{Name: "sched_setaffinity", Why: "each vcpu thread pins itself to the host CPUs chosen for vcpus as its loop starts; only the calling thread (pid 0)",
		Args: &ArgRule{Index: 0, Values: []Value{{0, "the calling thread", "no other thread or process"}}}},
	{Name: "sched_setscheduler", Why: "each vcpu thread takes SCHED_OTHER back from the helper threads' SCHED_BATCH (vmm.BatchHelperThreads) as its loop starts; only the calling thread (pid 0), and only to SCHED_OTHER",
		Args: &ArgRule{Index: 0, Values: []Value{{0, "the calling thread", "no other thread or process"}},
			And: &ArgRule{Index: 1, Values: []Value{{unix.SCHED_NORMAL, "SCHED_OTHER", "never a real-time policy, which could take a host CPU for good"}}}}},
	{Name: "exit", Why: "a thread ends (a vcpu thread stays locked to its loop and ends with it)"},
	{Name: "exit_group", Why: "gokvm exits"},
}
