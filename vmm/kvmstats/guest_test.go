package kvmstats

import (
	"os"
	"testing"
)

func TestParseInterrupts(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Counters
	}{
		// virtio0 and virtio1; the timer; the UART and IRQ work IPIs.
		{"interrupts-1cpu", Counters{"guest.irq_virtio": 7300, "guest.irq_timer": 8803, "guest.irq_other": 118 + 7}},
		// Two CPUs summed; a config-change interrupt is virtio's; Err
		// counts no interrupt.
		{"interrupts-2cpu", Counters{"guest.irq_virtio": 300 + 120 + 9 + 11, "guest.irq_timer": 5012 + 4877, "guest.irq_other": 61 + 40 + 52 + 12 + 17 + 1}},
	} {
		b, err := os.ReadFile("testdata/guest/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseInterrupts(string(b))
		if err != nil || !equalCounters(c, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.file, c, err, tc.want)
		}
	}
	for _, bad := range []string{"", " 11:  5  GICv3  27 Level  arch_timer\n", "           CPU0\n 11:  GICv3  27 Level  arch_timer\n"} {
		if _, err := ParseInterrupts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseBlockStat(t *testing.T) {
	for _, tc := range []struct {
		file string
		want uint64
	}{
		{"block-stat", 2193 + 64 + 2}, // reads, writes, no discard, flushes
		{"block-stat-4.14", 210 + 33}, // a kernel without the discard and flush fields
	} {
		b, err := os.ReadFile("testdata/guest/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := ParseBlockStat(string(b)); err != nil || n != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.file, n, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1 2 3", "x 0 0 0 0 0 0 0 0 0 0"} {
		if _, err := ParseBlockStat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
