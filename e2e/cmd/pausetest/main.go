// Command pausetest boots the end-to-end guest through gokvm's Go API
// (package machine) inside the emulated host and pauses it twice: while it
// prints a counter every 100 ms, and while it reads a disk. It prints
// PAUSETEST lines saying what it saw, and exits 0 when the guest behaved
// as a paused guest must: nothing printed and no MMIO exit while paused,
// the counter carrying on after Resume, the disk read completing with the
// right checksum, and a power-off at the end.
//
//	pausetest KERNEL INITRD DISK
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm"
)

const (
	pauseFor = 3 * time.Second
	diskMiB  = 64
	diskSeed = 91
)

// console records each guest line with when it arrived, and wakes waiters.
type console struct {
	mu    sync.Mutex
	lines []line
	added chan struct{}
}

type line struct {
	at   time.Time
	text string
}

func (c *console) run(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		t := strings.TrimRight(sc.Text(), "\r")
		fmt.Println(t)
		c.mu.Lock()
		c.lines = append(c.lines, line{time.Now(), t})
		c.mu.Unlock()
		select {
		case c.added <- struct{}{}:
		default:
		}
	}
}

// waitFor waits for a line containing s.
func (c *console) waitFor(s string, limit time.Duration) (line, bool) {
	deadline := time.After(limit)
	for {
		c.mu.Lock()
		for _, l := range c.lines {
			if strings.Contains(l.text, s) {
				c.mu.Unlock()
				return l, true
			}
		}
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-deadline:
			return line{}, false
		}
	}
}

// between lists the lines that arrived in [from, to).
func (c *console) between(from, to time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range c.lines {
		if !l.at.Before(from) && l.at.Before(to) {
			out = append(out, l.text)
		}
	}
	return out
}

var failed bool

func check(ok bool, format string, args ...any) {
	status := "ok"
	if !ok {
		status, failed = "FAIL", true
	}
	fmt.Printf("PAUSETEST %s %s\n", status, fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) != 4 {
		fmt.Println("usage: pausetest KERNEL INITRD DISK")
		os.Exit(2)
	}
	kernel, initrd, disk := os.Args[1], os.Args[2], os.Args[3]
	data := pattern.Bytes(diskSeed, diskMiB<<20)
	if err := os.WriteFile(disk, data, 0o644); err != nil {
		log.Fatal(err)
	}
	want := pattern.SHA256(data)

	pr, pw := io.Pipe()
	con := &console{added: make(chan struct{}, 1)}
	go con.run(pr)
	spec := machine.Spec{
		Kernel:  kernel,
		Initrd:  initrd,
		Cmdline: "console=ttyS0 quiet panic=-1 gokvm.do=marker,counter:50,modules,say:reading,sha:vda,poweroff",
		Disks:   []machine.Disk{{Path: disk, ReadOnly: true}},
		Timeout: "100s",
	}
	m, err := machine.Build(spec, machine.Options{Stdout: pw, Log: log.New(os.Stderr, "gokvm: ", 0)})
	if err != nil {
		log.Fatalf("building the machine: %v", err)
	}
	defer m.Close()
	type result struct {
		o   vmm.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, err := m.Run(context.Background())
		done <- result{o, err}
	}()

	// 1. Pause while the guest prints a counter every 100 ms.
	if _, ok := con.waitFor("GUEST-COUNT 10", 90*time.Second); !ok {
		check(false, "the guest's counter never reached 10")
		os.Exit(1)
	}
	pauseAndCheck(m, con, "counter")
	_, ok := con.waitFor("GUEST-COUNT 50", 30*time.Second)
	check(ok, "the counter carried on to 50 after Resume")

	// 2. Pause while the guest reads its disk.
	if _, ok := con.waitFor("GUEST-SAY reading", 60*time.Second); !ok {
		check(false, "the guest never started reading its disk")
		os.Exit(1)
	}
	pauseAndCheck(m, con, "disk read")
	l, ok := con.waitFor("GUEST-SHA vda", 60*time.Second)
	check(ok && strings.Contains(l.text, want), "the disk read across the pause gave %q, want SHA-256 %s", l.text, want)

	r := <-done
	pw.Close()
	check(r.err == nil && r.o == vmm.OutcomePowerOff, "the guest powered off after both pauses: outcome %v, error %v", r.o, r.err)
	if failed {
		os.Exit(1)
	}
}

// pauseAndCheck pauses the machine for pauseFor and checks that the guest
// printed nothing and made no MMIO exit meanwhile.
func pauseAndCheck(m *machine.Machine, con *console, what string) {
	if err := m.Pause(); err != nil {
		check(false, "Pause during the %s: %v", what, err)
		return
	}
	// Lines already on their way through the console pipe may arrive
	// just after Pause returns; count from a moment later.
	time.Sleep(200 * time.Millisecond)
	from, exits := time.Now(), m.Stats().MMIOExits
	time.Sleep(pauseFor)
	to, exitsAfter := time.Now(), m.Stats().MMIOExits
	printed := con.between(from, to)
	check(m.Paused(), "the machine says it is paused during the %s", what)
	check(len(printed) == 0, "the guest printed nothing in %v paused during the %s (printed %q)", pauseFor, what, printed)
	check(exitsAfter == exits, "no MMIO exit in %v paused during the %s (%d exits)", pauseFor, what, exitsAfter-exits)
	if err := m.Resume(); err != nil {
		check(false, "Resume after the %s: %v", what, err)
	}
}
