package vmm_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// faultPages is how many fresh pages a run of BenchmarkTinyGuestStage2Fault
// stores to, from faultFrom on in guest RAM (above the tiny guest's code,
// within the tiny VM's 32 MiB).
const (
	faultPages = 2048
	faultFrom  = 16 << 20
)

// BenchmarkTinyGuestStage2Fault is what a guest's first touch of a page
// costs when the host backs guest RAM with 4 KiB pages, as it does for a
// restored machine's RAM file (issue #19: a warm sandbox run takes about
// 2000 such faults where a boot, on 2 MiB pages, takes about 400). Each
// iteration runs a guest that stores once to each of faultPages fresh
// pages and one that stores to none; ns/fault is the difference over the
// pages. host-page-present writes the pages from gokvm first, as the
// warm sandbox's prefault does, so the guest's fault is KVM's stage-2
// fault alone; host-page-absent adds the host's own page fault.
// exits/page checks that each page was one exit.
func BenchmarkTinyGuestStage2Fault(b *testing.B) {
	for _, c := range []struct {
		name      string
		hostFirst bool
	}{{"host-page-absent", false}, {"host-page-present", true}} {
		b.Run(c.name, func(b *testing.B) {
			var extra time.Duration
			var exits uint64
			for range b.N {
				none, noneExits := runTouching(b, 0, false)
				d, e := runTouching(b, faultPages, c.hostFirst)
				extra += d - none
				exits += e - noneExits
			}
			perPage := float64(exits) / float64(b.N*faultPages)
			if perPage < 0.9 {
				b.Fatalf("%.2f exits a page: the stores did not fault, so this measures nothing", perPage)
			}
			b.ReportMetric(float64(extra.Nanoseconds())/float64(b.N*faultPages), "ns/fault")
			b.ReportMetric(perPage, "exits/page")
		})
	}
}

// runTouching runs a tiny guest that stores to pages fresh pages and
// powers off, and returns how long Run took and KVM's count of exits.
func runTouching(b *testing.B, pages uint64, hostFirst bool) (time.Duration, uint64) {
	b.Helper()
	var a tinyguest.Asm
	const val, addr, end = tinyguest.Reg(1), tinyguest.Reg(2), tinyguest.Reg(3)
	start := uint64(0x8000_0000 + faultFrom)
	a.Mov(val, 1).Mov(addr, start).Mov(end, start+pages*4096)
	if pages > 0 {
		a.Label("touch").
			Word(tinyguest.StrX(val, addr, 0)).
			Word(tinyguest.AddImm(addr, addr, 2048)).Word(tinyguest.AddImm(addr, addr, 2048)).
			Word(tinyguest.CmpReg(addr, end)).
			BCond(tinyguest.NE, "touch")
	}
	a.PSCI(tinyguest.PSCISystemOff).Spin()
	tv := newTinyVMWith(b, 1, &a, func(c *vmm.Config) { c.KVMStats = true })
	mem := tv.m.Memory()
	if mem.Base() != 0x8000_0000 || mem.Size() < faultFrom+faultPages*4096 {
		b.Fatalf("guest RAM at %#x, %d bytes: the touched pages are not in it", mem.Base(), mem.Size())
	}
	ram := mem.Bytes()
	// 4 KiB host pages, as a restored machine's RAM file has: nothing
	// has touched RAM yet, so no huge page backs it.
	if err := unix.Madvise(ram, unix.MADV_NOHUGEPAGE); err != nil {
		b.Fatalf("madvise: %v", err)
	}
	if hostFirst {
		for i := uint64(0); i < pages; i++ {
			ram[faultFrom+i*4096] = 1
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
