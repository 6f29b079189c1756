package kvmstats

import (
	"math"
	"testing"
)

func TestSub(t *testing.T) {
	before := Counters{"kvm.exits": 100, "kvm.halt_wakeup": 50}
	after := Counters{"kvm.exits": 160, "kvm.halt_wakeup": 10, "host.user_us": 30_000}
	d := after.Sub(before)
	want := Counters{"kvm.exits": 60, "kvm.halt_wakeup": 0, "host.user_us": 30_000}
	if !equalCounters(d, want) {
		t.Errorf("%v, want %v (a counter cleared in between gives 0)", d, want)
	}
}

// figure finds a Figure by name.
func figure(t *testing.T, name string) Figure {
	t.Helper()
	for _, f := range Figures {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no figure %q", name)
	return Figure{}
}

func TestFigures(t *testing.T) {
	d := Counters{
		"guest.requests": 10,
		"kvm.exits":      100, "kvm.mmio_exit_user": 30, "kvm.mmio_exit_kernel": 10, "kvm.wfi_exit_stat": 20,
		"kvm.wfe_exit_stat": 0, "kvm.hvc_exit_stat": 5, "kvm.halt_wait_ns": 2_000_000,
		"kvm.halt_poll_success_ns": 1000, "kvm.halt_poll_fail_ns": 4000,
		"host.user_us": 50_000, "host.system_us": 20_000, "host.guest_us": 40_000,
		"host.vcpu_user_us": 45_000, "host.vcpu_system_us": 10_000, "host.vcpu_guest_us": 40_000,
	}
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"requests in the workload", 10},
		{"vcpu exits (exits)", 10},
		{"  other exits: host interrupts, traps, faults", (100 - 30 - 10 - 20 - 0 - 5) / 10.0},
		{"us halted, blocked (halt_wait_ns)", 200},
		{"us halted, polling (halt_poll_success_ns + halt_poll_fail_ns)", 0.5},
		{"host CPU us outside the guest, all threads", (70_000 - 40_000) / 10.0},
		{"  vcpu threads", (55_000 - 40_000) / 10.0},
		{"    of it in user space (the VMM's code)", (45_000 - 40_000) / 10.0},
		{"    of it in the host kernel (mostly KVM)", 10_000 / 10.0},
		{"  other threads", (70_000 - 55_000) / 10.0},
		{"    of it in user space", (50_000 - 45_000) / 10.0},
		{"    of it in the host kernel", (20_000 - 10_000) / 10.0},
	} {
		v, ok := figure(t, tc.name).Of(d)
		if !ok || math.Abs(v-tc.want) > 1e-9 {
			t.Errorf("%q: %v, %v; want %v", tc.name, v, ok, tc.want)
		}
	}
	// Without a counter a figure needs (no debugfs, no vhost worker),
	// or without requests, there is no figure rather than a 0.
	if _, ok := figure(t, "  vhost workers (kernel threads)").Of(d); ok {
		t.Error("vhost time without a vhost counter")
	}
	delete(d, "guest.requests")
	if _, ok := figure(t, "vcpu exits (exits)").Of(d); ok {
		t.Error("exits per request without requests")
	}
}

func TestKVMLine(t *testing.T) {
	c := Counters{"kvm.remote_tlb_flush": 2, "kvm.mmio_exit_user": 3, "kvm.exits": 12, "kvm.zz_new": 1, "host.user_us": 5}
	if got, want := c.KVMLine(), "exits 12, mmio_exit_user 3, remote_tlb_flush 2, zz_new 1"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
