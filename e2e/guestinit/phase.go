package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gokvm/gokvm/vmm/kvmstats"
	"golang.org/x/sys/unix"
)

// Phases bracket a benchmark's workload so that the host can count what
// it cost per request (make bench; package kvmstats):
//
//	phase:NAME:REQUESTS   GUEST-PHASE-BEGIN NAME, then a quiet wait
//	phase-end             GUEST-PHASE-END, a quiet wait, then
//	                      GUEST-PHASE NAME requests R irq-virtio V irq-timer T irq-other O
//
// REQUESTS says what one request is: blk=DEV, the requests block device
// DEV completed (virtio-blk requests); net=IF, the frames IF sent and
// received; n=N, N as the workload knows it (MiB read, calls made).
//
// The host reads its counters (KVM's, the VMM's threads') as each marker
// line reaches it, while the guest waits, so that the workload is all
// inside; the guest reads its own (interrupts, requests) right before
// and after the workload. Console output costs exits (a UART register
// access for each character), so the end marker is short and what the
// workload prints is held back until the phase has ended: the counters
// see the workload, the begin wait and the end marker, which an empty
// phase measures by itself.
const phaseQuiet = 500 * time.Millisecond

// openPhase is the phase begun and not yet ended.
var openPhase *phase

type phase struct {
	name, requests string
	before         kvmstats.Counters
	// held is the workload's output, shown once the phase ends, and
	// stdout the console it was taken from.
	held, stdout *os.File
}

func phaseAction(f []string) error {
	if f[0] == "phase-end" {
		return endPhase()
	}
	if len(f) < 3 {
		return fmt.Errorf("usage: phase:NAME:blk=DEV|net=IF|n=N")
	}
	if err := endPhase(); err != nil {
		return err
	}
	p := &phase{name: f[1], requests: f[2]}
	// Read once first: a disk or NIC still probing is waited for
	// before the host starts counting.
	if _, err := guestCounters(p.requests, false); err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("phase-output", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd for the phase's output: %w", err)
	}
	fmt.Printf("GUEST-PHASE-BEGIN %s\n", p.name)
	time.Sleep(phaseQuiet)
	if p.before, err = guestCounters(p.requests, false); err != nil {
		unix.Close(fd)
		return err
	}
	p.held, p.stdout = os.NewFile(uintptr(fd), "phase-output"), os.Stdout
	os.Stdout = p.held
	openPhase = p
	return nil
}

// endPhase ends the open phase, if there is one.
func endPhase() error {
	p := openPhase
	if p == nil {
		return nil
	}
	openPhase = nil
	after, err := guestCounters(p.requests, true)
	os.Stdout = p.stdout
	fmt.Println("GUEST-PHASE-END")
	time.Sleep(phaseQuiet)
	if err == nil {
		d := after.Sub(p.before)
		fmt.Printf("GUEST-PHASE %s requests %d irq-virtio %d irq-timer %d irq-other %d\n",
			p.name, d["guest.requests"], d["guest.irq_virtio"], d["guest.irq_timer"], d["guest.irq_other"])
	}
	if _, serr := p.held.Seek(0, io.SeekStart); serr == nil {
		io.Copy(os.Stdout, p.held)
	}
	p.held.Close()
	return err
}

// guestCounters reads the guest's interrupts and the requests counted as
// REQUESTS says; n=N counts N at the end and 0 at the start.
func guestCounters(requests string, end bool) (kvmstats.Counters, error) {
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		return nil, err
	}
	c, err := kvmstats.ParseInterrupts(string(b))
	if err != nil {
		return nil, err
	}
	kind, arg, _ := strings.Cut(requests, "=")
	var n uint64
	switch kind {
	case "blk":
		b, err := readWhenThere("/sys/block/" + arg + "/stat")
		if err != nil {
			return nil, err
		}
		n, err = kvmstats.ParseBlockStat(string(b))
		if err != nil {
			return nil, err
		}
	case "net":
		for _, dir := range []string{"rx_packets", "tx_packets"} {
			b, err := readWhenThere("/sys/class/net/" + arg + "/statistics/" + dir)
			if err != nil {
				return nil, err
			}
			v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", arg, dir, err)
			}
			n += v
		}
	case "n":
		v, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("phase requests %q: %w", requests, err)
		}
		if end {
			n = v
		}
	default:
		return nil, fmt.Errorf("phase requests %q: want blk=DEV, net=IF or n=N", requests)
	}
	c["guest.requests"] = n
	return c, nil
}

// readWhenThere reads a file that a driver probing in the background may
// not have made yet.
func readWhenThere(p string) ([]byte, error) {
	for i := 0; ; i++ {
		b, err := os.ReadFile(p)
		if err == nil || i == 100 {
			return b, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
