package vmm

import (
	"testing"

	"github.com/gokvm/gokvm/vmm/memory"
)

// TestStatsReadsSmapsOnlyWhenAsked: without Config.ReadRSS, Stats opens
// nothing (the run phase's seccomp filter would stop gokvm at the open)
// and gives -1; with it, it reads /proc/self/smaps.
func TestStatsReadsSmapsOnlyWhenAsked(t *testing.T) {
	mem := memory.NewGuestMemoryFromSlice(0x4000_0000, make([]byte, 1<<20))
	off := (&Machine{mem: mem}).Stats()
	if off.RSSWithoutGuestKiB != -1 || off.AnonWithoutGuestKiB != -1 {
		t.Errorf("without ReadRSS: RSS %d KiB (%d anonymous), want -1", off.RSSWithoutGuestKiB, off.AnonWithoutGuestKiB)
	}
	on := (&Machine{mem: mem, cfg: Config{ReadRSS: true}}).Stats()
	if on.RSSWithoutGuestKiB <= 0 {
		t.Errorf("with ReadRSS: RSS %d KiB, want gokvm's", on.RSSWithoutGuestKiB)
	}
}
