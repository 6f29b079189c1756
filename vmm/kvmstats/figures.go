package kvmstats

import (
	"fmt"
	"strings"
)

// Figure is one row of a per-request table: what it shows and how to
// work it out from the counters of one workload (the difference of two
// readings, with guest.requests the requests the guest completed).
type Figure struct {
	Name string
	// PerRequest divides the value by guest.requests; otherwise it is
	// shown as it is.
	PerRequest bool
	// Value is the figure; false when the counters lack what it needs
	// (debugfs was not readable, no vhost worker ran).
	Value func(d Counters) (float64, bool)
}

// Figures are the rows `make bench` prints for each workload and VMM.
// CPU times are microseconds; the KVM names are the kernel's
// (arch/arm64/kvm/guest.c, virt/kvm's generic vcpu statistics).
var Figures = []Figure{
	{"requests in the workload", false, get("guest.requests")},
	{"vcpu exits (exits)", true, get("kvm.exits")},
	{"  MMIO exits to the VMM (mmio_exit_user)", true, get("kvm.mmio_exit_user")},
	{"  MMIO served in the host kernel: ioeventfd, GIC (mmio_exit_kernel)", true, get("kvm.mmio_exit_kernel")},
	{"  WFI exits (wfi_exit_stat)", true, get("kvm.wfi_exit_stat")},
	{"  WFE exits (wfe_exit_stat)", true, get("kvm.wfe_exit_stat")},
	{"  HVC exits (hvc_exit_stat)", true, get("kvm.hvc_exit_stat")},
	{"  other exits: host interrupts, traps, faults", true, minus("kvm.exits", "kvm.mmio_exit_user", "kvm.mmio_exit_kernel", "kvm.wfi_exit_stat", "kvm.wfe_exit_stat", "kvm.hvc_exit_stat")},
	{"KVM_RUN ended by a signal (signal_exits)", true, get("kvm.signal_exits")},
	{"halt wakeups (halt_wakeup)", true, get("kvm.halt_wakeup")},
	{"halt polls that succeeded (halt_successful_poll)", true, get("kvm.halt_successful_poll")},
	{"halt polls tried (halt_attempted_poll)", true, get("kvm.halt_attempted_poll")},
	{"us halted, blocked (halt_wait_ns)", true, scaled(get("kvm.halt_wait_ns"), 1e-3)},
	{"us halted, polling (halt_poll_success_ns + halt_poll_fail_ns)", true, scaled(sum("kvm.halt_poll_success_ns", "kvm.halt_poll_fail_ns"), 1e-3)},
	{"guest interrupts from virtio devices", true, get("guest.irq_virtio")},
	{"guest timer interrupts", true, get("guest.irq_timer")},
	{"guest's other interrupts: IPIs, console", true, get("guest.irq_other")},
	{"host CPU us outside the guest, all threads", true, minus2(sum("host.user_us", "host.system_us"), get("host.guest_us"))},
	{"  vcpu threads", true, minus2(sum("host.vcpu_user_us", "host.vcpu_system_us"), get("host.vcpu_guest_us"))},
	{"    of it in user space (the VMM's code)", true, minus("host.vcpu_user_us", "host.vcpu_guest_us")},
	{"    of it in the host kernel (mostly KVM)", true, get("host.vcpu_system_us")},
	{"  other threads", true, minus2(sum("host.user_us", "host.system_us"), sum("host.vcpu_user_us", "host.vcpu_system_us"))},
	{"    of it in user space", true, minus("host.user_us", "host.vcpu_user_us")},
	{"    of it in the host kernel", true, minus("host.system_us", "host.vcpu_system_us")},
	{"  vhost workers (kernel threads)", true, get("host.vhost_us")},
	{"CPU us in the guest", true, get("host.guest_us")},
	{"context switches, voluntary (a thread slept)", true, get("host.voluntary_switches")},
	{"  of vcpu threads", true, get("host.vcpu_voluntary_switches")},
	{"context switches, involuntary (preempted)", true, get("host.involuntary_switches")},
	{"  of vcpu threads", true, get("host.vcpu_involuntary_switches")},
	{"vcpu threads' moves to another host CPU", true, get("host.vcpu_migrations")},
	{"vhost workers' context switches", true, get("host.vhost_switches")},
	// With `make bench TRACE_SYSCALLS=1` (SyscallTrace):
	{"system calls, all threads", true, get("sys.total")},
	{"  made by vcpu threads", true, get("sys.vcpu")},
	{"  ioctl (KVM_RUN and other KVM calls)", true, get("sys.ioctl")},
	{"  read, write, their vector and positioned forms, fsync", true, get("sys.io")},
	{"  futex (a thread parked or woken)", true, get("sys.futex")},
	{"  epoll_pwait, epoll_ctl, ppoll, pselect6 (waiting on descriptors)", true, get("sys.poll")},
	{"  nanosleep, clock_nanosleep, sched_yield (idle threads)", true, get("sys.idle")},
	{"  tgkill, rt_sigreturn, sigaltstack, getpid, gettid (signals)", true, get("sys.signal")},
	{"  mmap, munmap, madvise, mprotect", true, get("sys.memory")},
	{"  other", true, get("sys.other")},
}

// Of is the figure for counters d, per request when it is a per-request
// figure (false without requests).
func (f Figure) Of(d Counters) (float64, bool) {
	v, ok := f.Value(d)
	if !ok || !f.PerRequest {
		return v, ok
	}
	r := d["guest.requests"]
	if r == 0 {
		return 0, false
	}
	return v / float64(r), true
}

func get(name string) func(Counters) (float64, bool) {
	return func(d Counters) (float64, bool) {
		v, ok := d[name]
		return float64(v), ok
	}
}

func sum(names ...string) func(Counters) (float64, bool) {
	return func(d Counters) (float64, bool) {
		var s float64
		for _, n := range names {
			v, ok := d[n]
			if !ok {
				return 0, false
			}
			s += float64(v)
		}
		return s, true
	}
}

// minus is the first counter less the others (each must be there).
func minus(first string, rest ...string) func(Counters) (float64, bool) {
	return minus2(get(first), sum(rest...))
}

// minus2 is a less b. CPU times come in whole clock ticks, so a
// difference of two of them may come out below 0 by a tick's worth:
// it is shown as it is, not hidden.
func minus2(a, b func(Counters) (float64, bool)) func(Counters) (float64, bool) {
	return func(d Counters) (float64, bool) {
		x, ok1 := a(d)
		y, ok2 := b(d)
		return x - y, ok1 && ok2
	}
}

func scaled(f func(Counters) (float64, bool), k float64) func(Counters) (float64, bool) {
	return func(d Counters) (float64, bool) {
		v, ok := f(d)
		return v * k, ok
	}
}

// kvmOrder is the order in which Line lists KVM's statistics: exits by
// reason first, then halting; any others after them, by name.
var kvmOrder = []string{"exits", "mmio_exit_user", "mmio_exit_kernel", "wfi_exit_stat", "wfe_exit_stat", "hvc_exit_stat", "signal_exits",
	"halt_wakeup", "halt_successful_poll", "halt_attempted_poll", "halt_poll_invalid", "halt_wait_ns", "halt_poll_success_ns", "halt_poll_fail_ns"}

// KVMLine lists c's KVM statistics on one line: "exits 12, mmio_exit_user
// 3, ...".
func (c Counters) KVMLine() string {
	var parts []string
	seen := map[string]bool{}
	for _, n := range kvmOrder {
		if v, ok := c["kvm."+n]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", n, v))
			seen["kvm."+n] = true
		}
	}
	for _, n := range c.Names("kvm.") {
		if !seen[n] {
			parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(n, "kvm."), c[n]))
		}
	}
	return strings.Join(parts, ", ")
}
