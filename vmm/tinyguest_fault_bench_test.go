package vmm_test

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// A run of BenchmarkTinyGuestStage2Fault stores to faultSpan bytes of
// fresh host pages from faultFrom on in guest RAM: above the tiny guest's
// code, below its device tree, within the tiny VM's 32 MiB.
const (
	faultFrom = 16 << 20
	faultSpan = 8 << 20
)

// BenchmarkTinyGuestStage2Fault is what a guest's first touch of a page
// costs when the host backs guest RAM with small pages, as it does for a
// restored machine's RAM file (issue #19: a warm sandbox run takes about
// 2000 such faults where a boot, on 2 MiB pages, takes about 400). Each
// iteration runs a guest that stores once to each host page of faultSpan
// fresh bytes and one that stores to none; ns/fault is the difference
// over the pages. host-page-present writes the pages from gokvm first, as
// the warm sandbox's prefault does, so the guest's fault is KVM's
// stage-2 fault alone; host-page-absent adds the host's own fault, here
// an anonymous page zero-filled (a restore's RAM file needs a page cache
// lookup or a copy instead). exits/page must be near one: a store that
// did not fault would make the figure meaningless.
func BenchmarkTinyGuestStage2Fault(b *testing.B) {
	page := uint64(os.Getpagesize())
	pages := uint64(faultSpan) / page
	for _, c := range []struct {
		name      string
		hostFirst bool
	}{{"host-page-absent", false}, {"host-page-present", true}} {
		b.Run(c.name, func(b *testing.B) {
			var extra time.Duration
			var exits int64
			for range b.N {
				none, noneExits := runTouching(b, 0, page, false)
				d, e := runTouching(b, pages, page, c.hostFirst)
				extra += d - none
				exits += int64(e) - int64(noneExits)
			}
			perPage := float64(exits) / float64(uint64(b.N)*pages)
			if perPage < 0.9 || perPage > 1.5 {
				b.Fatalf("%.2f exits a page, want about 1: the stores did not each take one fault, so this measures something else", perPage)
			}
			b.ReportMetric(float64(extra.Nanoseconds())/float64(uint64(b.N)*pages), "ns/fault")
			b.ReportMetric(perPage, "exits/page")
		})
	}
}

// runTouching runs a tiny guest that stores to pages fresh host pages of
// page bytes and powers off, closes it, and returns how long Run took and
// KVM's count of exits.
func runTouching(b *testing.B, pages, page uint64, hostFirst bool) (time.Duration, uint64) {
	b.Helper()
	var a tinyguest.Asm
	const val, addr, end, step = tinyguest.Reg(1), tinyguest.Reg(2), tinyguest.Reg(3), tinyguest.Reg(4)
	start := uint64(0x8000_0000 + faultFrom)
	a.Mov(val, 1).Mov(addr, start).Mov(end, start+pages*page).Mov(step, page)
	if pages > 0 {
		a.Label("touch").
			Word(tinyguest.StrX(val, addr, 0)).
			Word(tinyguest.AddReg(addr, addr, step)).
			Word(tinyguest.CmpReg(addr, end)).
			BCond(tinyguest.NE, "touch")
	}
	a.PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVMWith(b, 1, &a, func(c *vmm.Config) { c.KVMStats = true })
	defer tv.close(b) // each as it ends: an iteration makes two
	mem := tv.m.Memory()
	if mem.Base() != 0x8000_0000 || mem.Size() < faultFrom+faultSpan {
		b.Fatalf("guest RAM at %#x, %d bytes: the touched pages are not in it", mem.Base(), mem.Size())
	}
	ram := mem.Bytes()
	// Small host pages, as a restored machine's RAM file has: nothing
	// has touched RAM yet, so no huge page backs it.
	if err := unix.Madvise(ram, unix.MADV_NOHUGEPAGE); err != nil {
		b.Fatalf("madvise: %v", err)
	}
	if hostFirst {
		for i := uint64(0); i < pages; i++ {
			ram[faultFrom+i*page] = 1
		}
	}
	t0 := time.Now()
	r := tv.run(b)
	d := time.Since(t0)
	expect(b, r, vmm.OutcomePowerOff)
	s := tv.m.Stats()
	if s.KVMErr != nil {
		b.Fatalf("KVM's counters: %v", s.KVMErr)
	}
	return d, s.KVM["kvm.exits"]
}
