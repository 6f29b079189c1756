// Package kprofile samples where the host kernel spends time on behalf of
// one process: a VMM's vcpu threads in KVM_RUN and its system calls, and
// the host's vhost workers for it. The benchmark's per-request counters
// say that a VMM's threads spend more host kernel time per request than
// its peer's; this says in which kernel functions.
//
// It opens one perf event per CPU (the software cpu-clock, every Period,
// kernel mode only, with the call chain through the kernel and on into
// user space) and reads each event's ring buffer when asked, keeping the
// samples of the process's threads as folded stacks ("vcpu;main.f;
// el0_svc;...;leaf" with a count, as flame graph tools read them: the
// VMM's frames that made the system call, then the kernel's). It needs
// root (perf_event_open on every CPU) and /proc/kallsyms with addresses.
package kprofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/symbols"
	"github.com/gokvm/gokvm/vmm/kvmstats"
	"golang.org/x/sys/unix"
)

// Period is the sampling period: each sample stands for this much CPU
// time. It is the emulated host's own tick (HZ=250), so the profile adds
// at most as many interrupts as the host already takes. Most profiled
// runs gave gokvm lower tap ratios than unprofiled ones the same hour
// (docs/benchmarks.md): read a profiled run's throughput with care.
const Period = 4 * time.Millisecond

// maxStack bounds each sample's call chain, kernel and user frames and
// context markers together: the kernel's own bound
// (kernel.perf_event_max_stack), enough for the deepest kernel paths (a
// tap write runs the host's whole TCP receive) and the VMM's frames.
const maxStack = 127

// ringBytes is each CPU's ring buffer: at one sample per Period, at most
// 24+8*maxStack bytes each, 4 MiB holds 16 s of one busy CPU at the
// deepest stacks, and a benchmark phase is a few seconds.
const ringBytes = 4 << 20

// maxFrames is how many kernel frames nearest the leaf a folded stack
// keeps (all of any real stack: the system call's entry stays in it),
// and maxUserFrames how many user frames nearest the system call.
const (
	maxFrames     = 96
	maxUserFrames = 6
)

// Stacks are folded stacks and how many samples each had. A stack is the
// thread's kind (kvmstats.ThreadKind: "vcpu", "vhost", or "other"), then
// the VMM's frames from the outermost kept to the one that made the
// system call, then the kernel's to the leaf, joined by ";"; or, for a
// sample taken while the thread ran a guest, the kind, GuestFrame and the
// guest's pc.
type Stacks map[string]uint64

// Add adds o into s.
func (s Stacks) Add(o Stacks) {
	for k, v := range o {
		s[k] += v
	}
}

// Profiler is the per-CPU events, sampling from Start until Close.
type Profiler struct {
	rings []*ring
	syms  *symbols.Table
	// procDir is /proc, where Drain reads which threads are whose.
	procDir string
	// user names user-space addresses of the process being drained
	// (userSymbols), loaded on its first Drain; userFile is what it
	// keeps open.
	user     func(uint64) (string, bool)
	userFile io.Closer
	userPID  int
}

// ring is one CPU's event and its mapped buffer: a control page, then the
// data pages.
type ring struct {
	fd  int
	mem []byte
}

// Start opens a sampling event on each CPU.
func Start() (*Profiler, error) {
	syms, err := symbols.Load("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("kernel profile: %w", err)
	}
	if _, ok := syms.Find("kvm_arch_vcpu_ioctl_run"); !ok {
		return nil, errors.New("kernel profile: /proc/kallsyms has no kvm_arch_vcpu_ioctl_run (addresses hidden by kptr_restrict, or no KVM)")
	}
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, fmt.Errorf("kernel profile: %w", err)
	}
	p := &Profiler{syms: syms, procDir: "/proc"}
	for _, cpu := range cpus {
		r, err := openRing(cpu)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("kernel profile: CPU %d: %w", cpu, err)
		}
		p.rings = append(p.rings, r)
	}
	return p, nil
}

func openRing(cpu int) (*ring, error) {
	attr := unix.PerfEventAttr{
		Type:             unix.PERF_TYPE_SOFTWARE,
		Config:           unix.PERF_COUNT_SW_CPU_CLOCK,
		Sample:           uint64(Period.Nanoseconds()),
		Sample_type:      unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_CALLCHAIN,
		Sample_max_stack: maxStack,
		// Kernel mode only: user space is the VMM's own profile's
		// business (GOKVM_CPUPROFILE). The chain goes on into user
		// space, though, to say which of the VMM's code made the
		// system call. The idle task is no one's.
		Bits: unix.PerfBitExcludeUser | unix.PerfBitExcludeIdle,
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("perf_event_open: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, (1+ringPages())*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mapping the ring buffer: %w", err)
	}
	return &ring{fd: fd, mem: mem}, nil
}

// ringPages is ringBytes in pages, a power of two as the kernel wants
// (at least one).
func ringPages() int {
	n := 1
	for n*2*os.Getpagesize() <= ringBytes {
		n *= 2
	}
	return n
}

// onlineCPUs lists the host's online CPUs: all of them, not only those
// this process may run on (runtime.NumCPU), since the VMM's threads may
// run anywhere.
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

// parseCPUList parses the kernel's CPU list format: "0-3,5,7-8".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= 1<<16 {
			return nil, fmt.Errorf("a CPU list %q the kernel would not write", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// Close stops sampling.
func (p *Profiler) Close() error {
	var errs []error
	for _, r := range p.rings {
		errs = append(errs, unix.Munmap(r.mem), unix.Close(r.fd))
	}
	p.rings = nil
	if p.userFile != nil {
		errs = append(errs, p.userFile.Close())
		p.userFile = nil
	}
	return errors.Join(errs...)
}

// Offsets in the control page (struct perf_event_mmap_page).
const (
	dataHeadOff = 1024
	dataTailOff = 1032
)

// take copies out what the kernel wrote since the last take and hands the
// space back.
func (r *ring) take() []byte {
	page := os.Getpagesize()
	head := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.mem[dataHeadOff])))
	tailp := (*uint64)(unsafe.Pointer(&r.mem[dataTailOff]))
	tail := atomic.LoadUint64(tailp)
	out := unwrap(r.mem[page:], tail, head)
	atomic.StoreUint64(tailp, head)
	return out
}

// unwrap copies the bytes from position tail to head of circular buffer
// data (positions count on past its end).
func unwrap(data []byte, tail, head uint64) []byte {
	size := uint64(len(data))
	if head-tail > size {
		tail = head - size // cannot happen while the kernel keeps its side
	}
	out := make([]byte, 0, head-tail)
	for tail < head {
		start := tail % size
		end := size
		if head-tail < end-start {
			end = start + (head - tail)
		}
		out = append(out, data[start:end]...)
		tail += end - start
	}
	return out
}

// Drain reads every CPU's samples since the last Drain (or Start) and
// returns those of process pid's threads and its vhost workers as folded
// stacks, and how many samples the kernel lost because a buffer was full.
func (p *Profiler) Drain(pid int) (Stacks, uint64, error) {
	kinds := map[uint32]string{} // thread id -> kind, "" for not pid's
	kind := func(tgid, tid uint32) string {
		k, ok := kinds[tid]
		if !ok {
			k = threadKind(p.procDir, pid, tgid, tid)
			kinds[tid] = k
		}
		return k
	}
	if p.userPID != pid {
		if p.userFile != nil {
			p.userFile.Close()
		}
		p.user, p.userFile = userSymbols(pid)
		p.userPID = pid
	}
	stacks := Stacks{}
	var lost uint64
	var errs []error
	for i, r := range p.rings {
		samples, l, err := parse(r.take())
		lost += l
		if err != nil {
			errs = append(errs, fmt.Errorf("CPU %d: %w", i, err))
		}
		for _, s := range samples {
			if k := kind(s.pid, s.tid); k != "" {
				stacks[p.fold(k, s)]++
			}
		}
	}
	return stacks, lost, errors.Join(errs...)
}

// GuestFrame stands, in a folded stack, for the time a vcpu thread ran
// the guest; the guest's pc follows it. It includes the host's time with
// interrupts masked around guest entry and exit: the timer interrupt
// that takes the sample waits until the guest has exited.
const GuestFrame = "[guest]"

// threadKind is what thread tid of process tgid is to process pid: its
// kvmstats.ThreadKind ("vcpu", "vhost": a vhost worker serving pid,
// which is a kernel thread of its own up to Linux 6.3) or "other" for
// another of pid's threads, "" for none of pid's. A thread that has ended
// is named by its process alone.
func threadKind(procDir string, pid int, tgid, tid uint32) string {
	comm, _ := os.ReadFile(procDir + "/" + strconv.Itoa(int(tid)) + "/comm")
	k := kvmstats.ThreadKind(strings.TrimSpace(string(comm)), pid)
	switch {
	case k == "vhost":
		return k
	case int(tgid) != pid:
		return ""
	case k == "":
		return "other"
	}
	return k
}

// fold names the frames of s's chain (leaf first), keeping the maxFrames
// nearest the leaf, outermost first after the kind. A guest's pc is
// GuestFrame and the address.
func (p *Profiler) fold(kind string, s sample) string {
	if s.guest {
		return fmt.Sprintf("%s;%s;%#x", kind, GuestFrame, s.chain[0])
	}
	chain, user := s.chain, s.user
	if len(chain) > maxFrames {
		chain = chain[:maxFrames]
	}
	if len(user) > maxUserFrames {
		user = user[:maxUserFrames]
	}
	parts := make([]string, 0, len(user)+len(chain)+1)
	parts = append(parts, kind)
	for i := len(user) - 1; i >= 0; i-- {
		name := fmt.Sprintf("%#x", user[i])
		if p.user != nil {
			if n, ok := p.user(user[i]); ok {
				name = n
			}
		}
		parts = append(parts, name)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		name := fmt.Sprintf("%#x", chain[i])
		if sym, ok := p.syms.Lookup(chain[i]); ok {
			name = sym.Name
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ";")
}

// sample is one PERF_RECORD_SAMPLE: the thread and its kernel call chain,
// leaf first.
type sample struct {
	pid, tid uint32
	// chain is the kernel's call chain, leaf first.
	chain []uint64
	// user is the user-space call chain, innermost first (the system
	// call's caller), as the kernel unwound it by frame pointers.
	user []uint64
	// guest says the sample was taken while the thread ran a guest:
	// chain is then the guest's pc alone (arm64 does not unwind a
	// guest's stack).
	guest bool
}

// perfContextMax: call chain entries at or above it mark a context
// (kernel, user, guest), not an address.
// perfContextUser starts the user-space part.
const (
	perfContextMax  = ^uint64(4095 - 1) // (u64)-4095
	perfContextUser = ^uint64(512 - 1)  // (u64)-512
)

// The sample header's cpumode (misc & 7) for a sample taken in a guest
// (PERF_RECORD_MISC_GUEST_KERNEL, _GUEST_USER).
const (
	miscCPUModeMask = 7
	miscGuestKernel = 4
	miscGuestUser   = 5
)

// parse reads the records of a ring buffer's bytes: samples laid out as
// the event's sample type asks (ip, pid and tid, then the call chain:
// nr, nr addresses, kernel then user, each part after a context
// marker), and lost records (id, count). Other records are
// skipped. A record that runs past the bytes, or claims fewer than its
// header, ends the parse with an error.
func parse(b []byte) ([]sample, uint64, error) {
	le := binary.LittleEndian
	var out []sample
	var lost uint64
	for len(b) > 0 {
		if len(b) < 8 {
			return out, lost, fmt.Errorf("a record header cut short (%d bytes)", len(b))
		}
		typ, misc, size := le.Uint32(b), le.Uint16(b[4:]), int(le.Uint16(b[6:]))
		if size < 8 || size > len(b) {
			return out, lost, fmt.Errorf("a record of type %d claims %d bytes of %d", typ, size, len(b))
		}
		body := b[8:size]
		b = b[size:]
		switch typ {
		case unix.PERF_RECORD_LOST:
			if len(body) < 16 {
				return out, lost, errors.New("a lost record cut short")
			}
			lost += le.Uint64(body[8:])
		case unix.PERF_RECORD_SAMPLE:
			if len(body) < 24 {
				return out, lost, errors.New("a sample cut short")
			}
			s := sample{pid: le.Uint32(body[8:]), tid: le.Uint32(body[12:])}
			nr := le.Uint64(body[16:])
			if nr > uint64(len(body)-24)/8 {
				return out, lost, fmt.Errorf("a sample's call chain of %d entries is longer than its record", nr)
			}
			inUser := false
			for i := uint64(0); i < nr; i++ {
				switch ip := le.Uint64(body[24+8*i:]); {
				case ip >= perfContextMax:
					inUser = ip == perfContextUser
				case inUser:
					s.user = append(s.user, ip)
				default:
					s.chain = append(s.chain, ip)
				}
			}
			switch misc & miscCPUModeMask {
			case miscGuestKernel, miscGuestUser:
				// The sampled ip is the guest's pc; the host
				// has no chain for it (arm64 unwinds no guest).
				s.chain, s.user, s.guest = []uint64{le.Uint64(body)}, nil, true
			default:
				if len(s.chain) == 0 {
					// The kernel could not record a chain.
					s.chain = []uint64{le.Uint64(body)}
				}
			}
			out = append(out, s)
		}
	}
	return out, lost, nil
}
