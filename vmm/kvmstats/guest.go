package kvmstats

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// What the guest counts itself, read inside the guest by the benchmarks'
// init around a workload: the interrupts it took, which are the irqfd
// signals (or KVM_IRQ_LINE pulses) that reached it, and the requests it
// completed, the denominator of every per-request figure.

// ParseInterrupts sums a guest's /proc/interrupts over its CPUs, by kind:
//
//	guest.irq_virtio   lines naming a virtio device (virtio0, virtio1-input.0, ...)
//	guest.irq_timer    the architected timer (arch_timer)
//	guest.irq_other    the rest: IPIs, the console UART, ...
//
// The first line names the CPU columns; each other line is an interrupt
// (a number, or a name such as IPI0), up to one count per CPU, and a
// description. The Err and Mis lines count errors, not interrupts, and
// are left out.
func ParseInterrupts(text string) (Counters, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 4096), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("/proc/interrupts is empty")
	}
	cpus := len(strings.Fields(sc.Text()))
	if cpus == 0 || !strings.HasPrefix(strings.TrimSpace(sc.Text()), "CPU") {
		return nil, fmt.Errorf("/proc/interrupts: no CPU header: %.80q", sc.Text())
	}
	c := Counters{"guest.irq_virtio": 0, "guest.irq_timer": 0, "guest.irq_other": 0}
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "Err" || name == "Mis" {
			continue
		}
		f := strings.Fields(rest)
		var sum uint64
		n := 0
		for ; n < cpus && n < len(f); n++ {
			v, err := strconv.ParseUint(f[n], 10, 64)
			if err != nil {
				break
			}
			sum += v
		}
		if n == 0 {
			return nil, fmt.Errorf("/proc/interrupts line %s has no counts: %.80q", name, sc.Text())
		}
		desc := strings.Join(f[n:], " ")
		switch {
		case strings.Contains(desc, "virtio"):
			c["guest.irq_virtio"] += sum
		case strings.Contains(desc, "arch_timer"):
			c["guest.irq_timer"] += sum
		default:
			c["guest.irq_other"] += sum
		}
	}
	return c, sc.Err()
}

// ParseBlockStat counts the requests a guest's block device completed,
// from /sys/block/DEV/stat (Documentation/block/stat.rst): reads (field
// 1), writes (5), discards (12, from Linux 4.19) and flushes (16, from
// 5.5). Each is one request the driver sent the device (after the block
// layer merged them): one virtio-blk request.
func ParseBlockStat(text string) (uint64, error) {
	f := strings.Fields(text)
	if len(f) < 11 {
		return 0, fmt.Errorf("block stat of %d fields, want at least 11: %.80q", len(f), text)
	}
	var total uint64
	for _, n := range []int{1, 5, 12, 16} {
		if n > len(f) {
			break
		}
		v, err := strconv.ParseUint(f[n-1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("block stat field %d: %w", n, err)
		}
		total += v
	}
	return total, nil
}
