package vmm_test

// KVM-level tests of the core: each builds a machine whose kernel is a
// few instructions assembled here (internal/tinyguest) and runs it on a
// real vcpu, so every outcome, the dump, and pause and resume are covered
// in milliseconds, without booting Linux. They need KVM on arm64 and skip
// elsewhere; the e2e run executes them inside the emulated arm64 host and
// fails if any of them skipped (e2e/tinyguest_test.go).
//
// vmm.OutcomeCrash has no test: arm64 KVM raises KVM_SYSTEM_EVENT_CRASH
// only for PSCI calls it does not offer a guest (no PSCI version gives a
// guest a crash call), so no tiny guest can reach it, and faking the
// event would test nothing but the fake.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/u-root/u-root/pkg/dt"
)

// dev is the register the tiny guests keep the test device's base in.
const dev tinyguest.Reg = 19

func TestTinyGuestPowerOff(t *testing.T) {
	var a tinyguest.Asm
	a.PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVM(t, 1, &a)
	expect(t, tv.run(t), vmm.OutcomePowerOff)
	// A machine runs once.
	if _, err := tv.m.Run(context.Background()); !errors.Is(err, vmm.ErrRanBefore) {
		t.Errorf("a second Run: %v, want ErrRanBefore", err)
	}
}

func TestTinyGuestReset(t *testing.T) {
	var a tinyguest.Asm
	a.PSCI(tinyguest.PSCISystemReset).Spin()
	expect(t, newTinyVM(t, 1, &a).run(t), vmm.OutcomeReset)
}

// spinner stores once to the test device, so the test knows the guest
// runs, then spins at label "spin".
func spinner() *tinyguest.Asm {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).Word(tinyguest.StrW(tinyguest.XZR, dev, 0)).Label("spin").Spin()
	return &a
}

func TestTinyGuestStopped(t *testing.T) {
	tv := newTinyVM(t, 1, spinner())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	waitFor(t, "the guest's store", 10*time.Second, func() bool { return tv.dev.Count() > 0 })
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

// TestTinyGuestGCWhileInGuest: a vcpu thread keeps its P while in
// KVM_RUN (kvm.Vcpu.RunKeepingP), so a garbage collection's stop of the
// world must get it out of the guest with the runtime's preemption
// signal. The vcpu spins in the guest with no exit of its own while the
// test collects garbage: each collection completes, and the machine still
// stops.
func TestTinyGuestGCWhileInGuest(t *testing.T) {
	tv := newTinyVM(t, 1, spinner())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	waitFor(t, "the guest's store", 10*time.Second, func() bool { return tv.dev.Count() > 0 })
	for i := range 5 {
		done := make(chan struct{})
		go func() { runtime.GC(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("garbage collection %d did not finish in 20 s with the vcpus in the guest: the world did not stop", i+1)
		}
	}
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

// TestTinyGuestIdleNotSignalled: a vcpu waiting in WFI is left in the
// guest. The runtime preempts a goroutine that holds its P for 10 ms with
// a signal, which takes a vcpu thread out of KVM_RUN; a vcpu that has
// stayed in the guest for a while enters it again as a plain system call,
// which the runtime does not preempt, so half a second of an idle guest
// costs a signal or two (KVM's signal_exits), not 50.
func TestTinyGuestIdleNotSignalled(t *testing.T) {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).Word(tinyguest.StrW(tinyguest.XZR, dev, 0)).Label("idle").Word(tinyguest.WFI).Word(tinyguest.B(-4))
	tv := newTinyVMWith(t, 1, &a, func(c *vmm.Config) { c.KVMStats = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	waitFor(t, "the guest's store", 10*time.Second, func() bool { return tv.dev.Count() > 0 })
	time.Sleep(500 * time.Millisecond)
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
	s := tv.m.Stats()
	if s.KVMErr != nil {
		t.Fatalf("KVM's counters: %v", s.KVMErr)
	}
	t.Logf("KVM (%s): %s", s.KVMSource, s.KVM.KVMLine())
	if n := s.KVM["kvm.signal_exits"]; n > 5 {
		t.Errorf("KVM_RUN ended by a signal %d times in half a second of an idle guest, want at most 5", n)
	}
}

func TestTinyGuestTimeout(t *testing.T) {
	tv := newTinyVM(t, 1, spinner())
	const limit = 300 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	r := wait(t, tv.start(ctx), 10*time.Second)
	expect(t, r, vmm.OutcomeTimeout)
	if d := r.at.Sub(start); d < limit {
		t.Errorf("Run returned after %v, before the %v deadline", d, limit)
	}
	if tv.dev.Count() != 1 {
		t.Errorf("the guest stored %d times before spinning, want 1", tv.dev.Count())
	}
}

// A load pair from device memory leaves KVM without a syndrome to
// emulate it by: the run fails, and says so.
func TestTinyGuestUndecodableMMIO(t *testing.T) {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).Word(tinyguest.Ldp(2, 3, dev)).PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVM(t, 1, &a)
	r := tv.run(t)
	if r.outcome != vmm.OutcomeError || r.err == nil || !strings.Contains(r.err.Error(), "could not decode") {
		t.Fatalf("Run: outcome %q, error %v; want an error saying KVM could not decode the access", r.outcome, r.err)
	}
	if n := tv.dev.Count(); n != 0 {
		t.Errorf("the device saw %d stores", n)
	}
}

func TestTinyGuestMMIOStoreReachesDevice(t *testing.T) {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).
		Mov(2, 0xfeedf00d).Word(tinyguest.StrW(2, dev, 0x28)).
		Mov(3, 0x0123_4567_89ab_cdef).Word(tinyguest.StrX(3, dev, 0x30)).
		PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVM(t, 1, &a)
	procs := runtime.GOMAXPROCS(0)
	expect(t, tv.run(t), vmm.OutcomePowerOff)
	if now := runtime.GOMAXPROCS(0); now != procs {
		t.Errorf("GOMAXPROCS %d after the run, %d before: the vcpu's P was not given back", now, procs)
	}
	if s := tv.m.Stats(); s.ToFirstRun <= 0 || s.Ran <= 0 {
		t.Errorf("first KVM_RUN after %v, the guest ran %v: want both above 0", s.ToFirstRun, s.Ran)
	}
	n, got := tv.dev.Writes()
	want := []mmioWrite{{Off: 0x28, Size: 4, Value: 0xfeedf00d}, {Off: 0x30, Size: 8, Value: 0x0123_4567_89ab_cdef}}
	if n != 2 || !slices.Equal(got, want) {
		t.Errorf("the device saw %d stores %+v, want %+v", n, got, want)
	}
	if exits := tv.m.Stats().MMIOExits; exits != 2 {
		t.Errorf("%d MMIO exits counted, want 2", exits)
	}
}

// TestTinyGuestKVMStats: with Config.KVMStats, KVM's own counters for the
// VM (KVM_GET_STATS_FD, Linux 5.14; debugfs before) agree with what the
// guest did: two stores to the device are two MMIO exits to gokvm, as
// gokvm counted them, and the PSCI call is an HVC exit.
func TestTinyGuestKVMStats(t *testing.T) {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).
		Word(tinyguest.StrW(tinyguest.XZR, dev, 0)).Word(tinyguest.StrW(tinyguest.XZR, dev, 4)).
		PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVMWith(t, 1, &a, func(c *vmm.Config) { c.KVMStats = true })
	expect(t, tv.run(t), vmm.OutcomePowerOff)
	s := tv.m.Stats()
	if s.KVMErr != nil {
		t.Fatalf("KVM's counters: %v", s.KVMErr)
	}
	t.Logf("KVM (%s): %s", s.KVMSource, s.KVM.KVMLine())
	if got := s.KVM["kvm.mmio_exit_user"]; got != 2 || got != s.MMIOExits {
		t.Errorf("mmio_exit_user %d, gokvm counted %d MMIO exits; want 2", got, s.MMIOExits)
	}
	if s.KVM["kvm.hvc_exit_stat"] < 1 || s.KVM["kvm.exits"] < 3 {
		t.Errorf("hvc_exit_stat %d, exits %d; want at least 1 and 3", s.KVM["kvm.hvc_exit_stat"], s.KVM["kvm.exits"])
	}
	if s.KVMSource == "binary statistics" && len(s.KVMVcpus) != 1 {
		t.Errorf("%d vcpus' counters, want 1", len(s.KVMVcpus))
	}
	// The CPU times may be 0 ticks in so short a run; gokvm's threads
	// have slept, though.
	if _, ok := s.Host["host.guest_us"]; s.HostErr != nil || !ok || s.Host["host.voluntary_switches"] == 0 {
		t.Errorf("gokvm's CPU time and switches: %v, %v", s.Host, s.HostErr)
	}
}

// The test device describes itself: its node is in the guest's device
// tree with the window and interrupt the board gave it, though neither
// vmm nor arch knows it.
func TestTinyGuestDeviceTreeNode(t *testing.T) {
	var a tinyguest.Asm
	tv := newTinyVM(t, 1, a.Spin())
	fdt, err := dt.ReadFDT(bytes.NewReader(tv.m.DeviceTree()))
	if err != nil {
		t.Fatalf("decoding the device tree: %v", err)
	}
	n, ok := fdt.RootNode.Find(func(n *dt.Node) bool {
		p, ok := n.LookProperty("compatible")
		// Split by hand: dt's AsStringList (u-root v0.16.0) indexes
		// past the end of any list.
		return ok && slices.Contains(strings.Split(strings.TrimSuffix(string(p.Value), "\x00"), "\x00"), testDevCompatible)
	})
	if !ok {
		t.Fatalf("no node with compatible %q in the device tree", testDevCompatible)
	}
	p := tv.m.Devices()[0].Placement
	if want := fmt.Sprintf("test-device@%x", p.Base); n.Name != want {
		t.Errorf("node %q, want %q", n.Name, want)
	}
	if got, want := cells(t, n, "reg"), []uint32{uint32(p.Base >> 32), uint32(p.Base), uint32(p.Size >> 32), uint32(p.Size)}; !slices.Equal(got, want) {
		t.Errorf("reg %#x, want %#x", got, want)
	}
	// A GIC SPI specifier: type 0 (SPI), the device's interrupt, level
	// high (4).
	if got, want := cells(t, n, "interrupts"), []uint32{0, p.IRQ, 4}; !slices.Equal(got, want) {
		t.Errorf("interrupts %v, want %v", got, want)
	}
}

// cells reads a property of big-endian 32-bit cells.
func cells(t *testing.T, n *dt.Node, name string) []uint32 {
	t.Helper()
	p, ok := n.LookProperty(name)
	if !ok || len(p.Value)%4 != 0 {
		t.Fatalf("node %s: no property %s of 32-bit cells", n.Name, name)
	}
	var out []uint32
	for i := 0; i < len(p.Value); i += 4 {
		out = append(out, binary.BigEndian.Uint32(p.Value[i:]))
	}
	return out
}

// Vcpu 0 starts vcpu 1 at a second entry with PSCI CPU_ON; vcpu 1 tells
// the device its MPIDR and the context CPU_ON handed it; vcpu 0 waits
// (reading the device's store count) for those stores, then powers off.
func TestTinyGuestPSCICPUOn(t *testing.T) {
	const token = 0xc0ffee
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).
		Mov(1, 1).Adr(2, "secondary").Mov(3, token).PSCI(tinyguest.PSCICPUOn).
		Word(tinyguest.StrX(0, dev, 0x18)). // CPU_ON's result
		Label("wait").
		Word(tinyguest.LdrX(4, dev, 0), tinyguest.CmpImm(4, 3)).BCond(tinyguest.LO, "wait").
		PSCI(tinyguest.PSCISystemOff).Spin().
		Label("secondary"). // a started vcpu begins with x0 = context, all else reset
		Mov(dev, testDevBase).
		Word(tinyguest.MrsMPIDR(5), tinyguest.StrX(5, dev, 0x28), tinyguest.StrX(0, dev, 0x20)).
		Spin()
	tv := newTinyVM(t, 2, &a)
	// The guest names vcpu 1 by MPIDR affinity 1: check that is what
	// KVM gave it (the board reads it into the cpu nodes).
	fdt, err := dt.ReadFDT(bytes.NewReader(tv.m.DeviceTree()))
	if err != nil {
		t.Fatal(err)
	}
	cpu1, ok := fdt.NodeByName("cpu@1")
	if !ok {
		t.Fatalf("no cpu@1 node: KVM gave vcpu 1 an MPIDR other than affinity 1, which the guest's CPU_ON targets")
	}
	if reg := cells(t, cpu1, "reg"); !slices.Equal(reg, []uint32{1}) {
		t.Fatalf("cpu@1 has reg %v, want [1]", reg)
	}

	expect(t, tv.run(t), vmm.OutcomePowerOff)
	n, writes := tv.dev.Writes()
	byOff := map[uint64]uint64{}
	for _, w := range writes {
		if w.Size != 8 {
			t.Errorf("a %d-byte store at %#x, want 8 bytes", w.Size, w.Off)
		}
		byOff[w.Off] = w.Value
	}
	if n != 3 || len(byOff) != 3 {
		t.Fatalf("the device saw %d stores %+v, want 3 at 0x18, 0x20 and 0x28", n, writes)
	}
	if r := int64(byOff[0x18]); r != 0 {
		t.Errorf("CPU_ON returned %d, want 0 (SUCCESS)", r)
	}
	if c := byOff[0x20]; c != token {
		t.Errorf("vcpu 1 started with context %#x, want %#x", c, token)
	}
	if mpidr := byOff[0x28]; mpidr&arm64.MPIDRHWIDMask != 1 {
		t.Errorf("the started vcpu's MPIDR is %#x, want affinity 1", mpidr)
	}
}

var dumpLine0 = regexp.MustCompile(`(?m)^vcpu 0: runnable pc=(0x[0-9a-f]+) lr=0x[0-9a-f]+ psr=0x[0-9a-f]+ \(EL1h, irqs masked\)$`)

// A dump while the guest spins: vcpu 0 on the spinning instruction,
// vcpu 1 never started.
func TestTinyGuestDumpVcpus(t *testing.T) {
	a := spinner()
	tv := newTinyVM(t, 2, a)
	spin := tv.code + a.Offset("spin")
	var before bytes.Buffer
	tv.m.DumpVcpus(&before)
	if !strings.Contains(before.String(), "vcpu 0: not running") {
		t.Errorf("a dump before Run:\n%s\nwant vcpu 0 not running", before.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	waitFor(t, "the guest's store", 10*time.Second, func() bool { return tv.dev.Count() > 0 })
	var buf bytes.Buffer
	tv.m.DumpVcpus(&buf)
	out := buf.String()
	if !strings.HasPrefix(out, "vcpu states after ") || !strings.Contains(out, "; 1 MMIO exits\n") {
		t.Errorf("dump header: %q", out)
	}
	m := dumpLine0.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no runnable vcpu 0 at EL1h in the dump:\n%s", out)
	}
	if pc, _ := strconv.ParseUint(m[1], 0, 64); pc != spin {
		t.Errorf("vcpu 0 at pc %#x, want %#x (the spinning b .)", pc, spin)
	}
	if !regexp.MustCompile(`(?m)^vcpu 1: stopped pc=`).MatchString(out) {
		t.Errorf("vcpu 1 is not stopped in the dump:\n%s", out)
	}
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

// OnVcpus runs its function once on each vcpu, where it can read the
// vcpu's registers: a started one and one the guest never started.
func TestTinyGuestOnVcpus(t *testing.T) {
	a := spinner()
	tv := newTinyVM(t, 2, a)
	var mu sync.Mutex
	calls := map[int]int{}
	pcs := map[int]uint64{}
	fn := func(v *kvm.Vcpu) {
		pc, err := v.GetOneReg(arm64.RegPC)
		mu.Lock()
		defer mu.Unlock()
		calls[v.ID]++
		if err == nil {
			pcs[v.ID] = pc
		}
	}
	if err := tv.m.OnVcpus(fn, time.Second); err == nil {
		t.Errorf("OnVcpus before Run succeeded; no thread runs the vcpus")
	}
	clear(calls)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	waitFor(t, "the guest's store", 10*time.Second, func() bool { return tv.dev.Count() > 0 })
	if err := tv.m.OnVcpus(fn, 2*time.Second); err != nil {
		t.Fatalf("OnVcpus: %v", err)
	}
	mu.Lock()
	if calls[0] != 1 || calls[1] != 1 || len(calls) != 2 {
		t.Errorf("fn ran on vcpus %v (vcpu: calls), want once on each of 0 and 1", calls)
	}
	// The store's own pc when the call came between its MMIO exit and
	// the next KVM_RUN, which is when KVM steps past it.
	if spin := tv.code + a.Offset("spin"); pcs[0] != spin && pcs[0] != spin-4 {
		t.Errorf("vcpu 0's pc read on its thread is %#x, want %#x (or the store's, %#x)", pcs[0], spin, spin-4)
	}
	clear(calls)
	mu.Unlock()
	// DumpVcpusWith calls fn in the same visit as the dump's line.
	var dump strings.Builder
	tv.m.DumpVcpusWith(&dump, fn)
	mu.Lock()
	if calls[0] != 1 || calls[1] != 1 || len(calls) != 2 || !strings.Contains(dump.String(), "vcpu 1: ") {
		t.Errorf("DumpVcpusWith: fn ran on vcpus %v; dump:\n%s", calls, dump.String())
	}
	mu.Unlock()
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
	// Once Run returned no vcpu is about to start: a call fails at once
	// rather than wait for a thread that will not come.
	t0 := time.Now()
	if err := tv.m.OnVcpus(fn, 5*time.Second); err == nil {
		t.Errorf("OnVcpus after Run returned succeeded")
	} else if d := time.Since(t0); d >= 2500*time.Millisecond {
		t.Errorf("OnVcpus after Run returned took %v to fail: a vcpu still looked about to start", d)
	}
}
