// Command hostile is /init of the hostile-guest scenarios (e2e/hostile_test.go).
// It loads no virtio driver: it drives gokvm's virtio-blk devices itself,
// through their virtio-mmio windows mapped from /dev/mem, with its rings and
// buffers in its own locked memory (physical addresses from
// /proc/self/pagemap), and does what no driver may: it clears DRIVER_OK in
// the middle of a request, resizes a running queue, points rings outside
// RAM, moves a legacy queue while it runs, builds descriptor loops, writes
// to a read-only disk from buffers that are not there, and resets a device
// from two vcpus at once. Each step prints "HOSTILE-STEP name start" and
// "HOSTILE-STEP name done", with what it observed on HOSTILE-STATUS,
// HOSTILE-USED and HOSTILE-RESULT lines; legal reads before and after print
// HOSTILE-READ with the SHA-256 of what they read. Then it powers off.
//
// The machine it expects: two virtio-blk disks, the first writable
// (scratch) and the second read-only (golden), at gokvm's first two
// virtio-mmio windows, and two vcpus. hostile.steps=a,b,... on the kernel
// command line runs only those steps (the legal reads always run).
//
// With hostile.mode=9p on the command line it is a raw virtio-9p driver
// instead, attacking two shares (see ninep_steps.go); with
// hostile.mode=pci it attacks the virtio-pci transport: configuration
// space, BARs, MSI-X tables and the virtio structures (pci_steps.go).
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Where gokvm puts things (see docs/machine.md).
const (
	mmioBase   = 0x0300_0000
	mmioStride = 0x200
	ramBase    = 0x8000_0000
	ramSize    = 256 << 20
)

// virtio-mmio registers (virtio 1.2, 4.2.2 and 4.2.4).
const (
	regMagic             = 0x000
	regVersion           = 0x004
	regDeviceID          = 0x008
	regDeviceFeatures    = 0x010
	regDeviceFeaturesSel = 0x014
	regDriverFeatures    = 0x020
	regDriverFeaturesSel = 0x024
	regGuestPageSize     = 0x028
	regQueueSel          = 0x030
	regQueueNumMax       = 0x034
	regQueueNum          = 0x038
	regQueueAlign        = 0x03c
	regQueuePFN          = 0x040
	regQueueReady        = 0x044
	regQueueNotify       = 0x050
	regInterruptStatus   = 0x060
	regInterruptACK      = 0x064
	regStatus            = 0x070
	regQueueDescLow      = 0x080
	regQueueDescHigh     = 0x084
	regQueueDriverLow    = 0x090
	regQueueDriverHigh   = 0x094
	regQueueDeviceLow    = 0x0a0
	regQueueDeviceHigh   = 0x0a4
)

const (
	stAck        = 1
	stDriver     = 2
	stDriverOK   = 4
	stFeaturesOK = 8
	stNeedsReset = 64

	featIndirect = 28
	featVersion1 = 32
	blkFRO       = 5

	descNext     = 1
	descWrite    = 2
	descIndirect = 4

	blkTIn  = 0
	blkTOut = 1

	pageSize  = 4096
	queueSize = 128           // desc table 2 KiB and avail ring in one page, used ring in the next
	dataPages = 64            // pages reads land in (a big read uses each twice)
	inFlight  = 16            // big reads in flight at once, each through an indirect table
	bigSegs   = queueSize - 2 // data descriptors of a big read: 504 KiB

	// brief is how long a step waits for what a broken device may never
	// do: a legacy device does not show DEVICE_NEEDS_RESET, so waits
	// for it end only here.
	brief = 300 * time.Millisecond
)

func main() {
	mounts()
	// Mlocked pages may still be moved by compaction unless this says
	// not to; the device would then write where the program no longer is.
	os.WriteFile("/proc/sys/vm/compact_unevictable_allowed", []byte("0"), 0)
	run := run
	switch v, _ := param("hostile.mode"); v {
	case "9p":
		run = run9p
	case "pci":
		run = runPCI
	}
	if err := run(); err != nil {
		fmt.Printf("HOSTILE-ERROR %v\n", err)
	}
	poweroff()
}

func mounts() {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && err != unix.EBUSY {
			fmt.Printf("HOSTILE-ERROR mount %s: %v\n", m.dst, err)
		}
	}
}

func poweroff() {
	fmt.Println("HOSTILE-POWEROFF")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("HOSTILE-ERROR poweroff: %v\n", err)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// param is the value of name=value on the kernel command line.
func param(name string) (string, bool) {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// chosen is the steps hostile.steps= names, nil for all.
func chosen() map[string]bool {
	v, ok := param("hostile.steps")
	if !ok {
		return nil
	}
	m := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		m[s] = true
	}
	return m
}

type step struct {
	name string
	run  func(scratch, golden *dev) error
}

var steps = []step{
	{"driverok-cleared", stepDriverOKCleared},
	{"queuenum-0", func(_, g *dev) error { return stepQueueNum(g, 0) }},
	{"queuenum-5", func(_, g *dev) error { return stepQueueNum(g, 5) }},
	{"rings-outside-ram", stepRingsOutsideRAM},
	{"legacy-pfn-running", stepLegacyPFN},
	{"desc-loop", stepDescLoop},
	{"indirect-loop", stepIndirectLoop},
	{"ro-write", stepROWrite},
	{"wild-writes", stepWildWrites},
	{"reset-two-vcpus", stepResetTwoVcpus},
}

func run() error {
	regs, err := mapRegs()
	if err != nil {
		return err
	}
	a, err := newArena(1024)
	if err != nil {
		return err
	}
	var devs [2]*dev
	for i, name := range []string{"scratch", "golden"} {
		d, err := newDev(name, regs[i*mmioStride:(i+1)*mmioStride], a)
		if err != nil {
			return err
		}
		devs[i] = d
		fmt.Printf("HOSTILE-PROBE %s magic=%#x version=%d id=%d features=%#x ro=%v rings=%#x\n",
			name, d.r(regMagic), d.version, d.r(regDeviceID), d.features(), d.features()&(1<<blkFRO) != 0, d.ring.pa)
		if d.r(regMagic) != 0x74726976 || d.r(regDeviceID) != 2 {
			return fmt.Errorf("%s: not a virtio-blk device at %#x", name, d.base)
		}
	}
	scratch, golden := devs[0], devs[1]
	legalReads("before", scratch, golden)
	only := chosen()
	for _, s := range steps {
		if only != nil && !only[s.name] {
			continue
		}
		fmt.Printf("HOSTILE-STEP %s start\n", s.name)
		if err := s.run(scratch, golden); err != nil {
			fmt.Printf("HOSTILE-ERROR %s: %v\n", s.name, err)
		}
		fmt.Printf("HOSTILE-STATUS %s scratch=%#x golden=%#x\n", s.name, scratch.r(regStatus), golden.r(regStatus))
		fmt.Printf("HOSTILE-STEP %s done\n", s.name)
	}
	// A reset makes each device usable again, whatever came before.
	legalReads("after", scratch, golden)
	return nil
}

// legalReads reset each device, set it up as a driver must, and read its
// first page.
func legalReads(label string, ds ...*dev) {
	for _, d := range ds {
		st, used, sum, err := d.legalRead()
		if err != nil {
			fmt.Printf("HOSTILE-ERROR read %s %s: %v\n", label, d.name, err)
			continue
		}
		fmt.Printf("HOSTILE-READ %s %s status=%d used=%d sha=%s devstatus=%#x\n", label, d.name, st, used, sum, d.r(regStatus))
	}
}

// mapRegs maps the first virtio-mmio windows' page from /dev/mem.
func mapRegs() ([]byte, error) {
	fd, err := unix.Open("/dev/mem", unix.O_RDWR|unix.O_SYNC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/mem: %v", err)
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, mmioBase, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap /dev/mem at %#x: %v", mmioBase, err)
	}
	return b, nil
}

// arena is locked anonymous memory whose pages' physical addresses are
// known.
type arena struct {
	mem  []byte
	pfns []uint64
	used []bool
}

func newArena(pages int) (*arena, error) {
	mem, err := unix.Mmap(-1, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	if err := unix.Mlock(mem); err != nil {
		return nil, fmt.Errorf("mlock: %v", err)
	}
	for i := 0; i < len(mem); i += pageSize {
		mem[i] = 1
	}
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &arena{mem: mem, pfns: make([]uint64, pages), used: make([]bool, pages)}
	entries := make([]byte, 8*pages)
	vpn := uint64(uintptr(unsafe.Pointer(&mem[0]))) / pageSize
	if _, err := f.ReadAt(entries, int64(vpn*8)); err != nil {
		return nil, fmt.Errorf("pagemap: %v", err)
	}
	for i := range a.pfns {
		e := binary.LittleEndian.Uint64(entries[8*i:])
		if e&(1<<63) == 0 || e&(1<<55-1) == 0 {
			return nil, fmt.Errorf("pagemap: page %d not present or its PFN hidden (%#x)", i, e)
		}
		a.pfns[i] = e & (1<<55 - 1)
	}
	clear(mem)
	return a, nil
}

// region is memory the device can reach: a host slice and its guest
// physical address.
type region struct {
	b  []byte
	pa uint64
}

// take gives n physically contiguous pages.
func (a *arena) take(n int) (region, error) {
	for i := 0; i+n <= len(a.pfns); i++ {
		ok := true
		for j := 0; j < n && ok; j++ {
			ok = !a.used[i+j] && a.pfns[i+j] == a.pfns[i]+uint64(j)
		}
		if !ok {
			continue
		}
		for j := 0; j < n; j++ {
			a.used[i+j] = true
		}
		pa := a.pfns[i] * pageSize
		if pa < ramBase || pa+uint64(n)*pageSize > ramBase+ramSize {
			return region{}, fmt.Errorf("page at %#x is outside the RAM gokvm gives", pa)
		}
		return region{a.mem[i*pageSize : (i+n)*pageSize], pa}, nil
	}
	return region{}, fmt.Errorf("no %d physically contiguous free pages", n)
}

// dev is one virtio-blk device and the driver-side state of its queue.
type dev struct {
	name    string
	regs    []byte
	base    uint64
	version uint32

	ring     region // desc table and avail ring, then the used ring a page on
	req      region // request header at 0, status byte at 0x800
	data     []region
	indirect region   // the looping indirect tables
	tables   []region // the big reads' indirect tables
	spare    region   // the other place a running legacy queue is moved to

	nextAvail uint16
	lastUsed  uint16
}

var devBase uint64 = mmioBase

func newDev(name string, regs []byte, a *arena) (*dev, error) {
	d, err := newRingDev(name, regs, devBase, a)
	devBase += mmioStride
	if err != nil {
		return nil, err
	}
	if d.spare, err = a.take(2); err != nil {
		return nil, err
	}
	if d.req, err = a.take(1); err != nil {
		return nil, err
	}
	if d.indirect, err = a.take(1); err != nil {
		return nil, err
	}
	for i := 0; i < inFlight; i++ {
		r, err := a.take(1)
		if err != nil {
			return nil, err
		}
		d.tables = append(d.tables, r)
	}
	for i := 0; i < dataPages; i++ {
		r, err := a.take(1)
		if err != nil {
			return nil, err
		}
		d.data = append(d.data, r)
	}
	return d, nil
}

// newRingDev is a device at base with its rings and nothing else: what
// any virtio driver here needs (newDev adds a virtio-blk driver's
// buffers).
func newRingDev(name string, regs []byte, base uint64, a *arena) (*dev, error) {
	d := &dev{name: name, regs: regs, base: base}
	d.version = d.r(regVersion)
	var err error
	if d.ring, err = a.take(2); err != nil {
		return nil, err
	}
	return d, nil
}

// Registers are accessed with single 32-bit loads and stores (LDAR and
// STLR: KVM decodes them, and they order the ring accesses around them).
func (d *dev) r(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.regs[off])))
}

func (d *dev) w(off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&d.regs[off])), v)
}

func (d *dev) features() uint64 {
	d.w(regDeviceFeaturesSel, 0)
	lo := d.r(regDeviceFeatures)
	d.w(regDeviceFeaturesSel, 1)
	return uint64(d.r(regDeviceFeatures))<<32 | uint64(lo)
}

func (d *dev) legacy() bool { return d.version == 1 }

// Ring layout (the legacy one, used for both versions): the descriptor
// table at 0, the available ring right after it, the used ring at the next
// page.
func (d *dev) descPA() uint64  { return d.ring.pa }
func (d *dev) availPA() uint64 { return d.ring.pa + 16*queueSize }
func (d *dev) usedPA() uint64  { return d.ring.pa + pageSize }

// okStatus is the status of a driver that finished feature negotiation.
func (d *dev) okStatus() uint32 {
	if d.legacy() {
		return stAck | stDriver
	}
	return stAck | stDriver | stFeaturesOK
}

// reset writes 0 to the status register and forgets the queue state.
func (d *dev) reset() {
	d.w(regStatus, 0)
	clear(d.ring.b)
	d.nextAvail, d.lastUsed = 0, 0
}

// negotiate resets the device and negotiates features: VERSION_1 and
// INDIRECT_DESC.
func (d *dev) negotiate() error {
	d.reset()
	d.w(regStatus, stAck)
	d.w(regStatus, stAck|stDriver)
	want := d.features() & (1<<featIndirect | 1<<featVersion1)
	d.w(regDriverFeaturesSel, 0)
	d.w(regDriverFeatures, uint32(want))
	if d.legacy() {
		d.w(regGuestPageSize, pageSize)
		return nil
	}
	d.w(regDriverFeaturesSel, 1)
	d.w(regDriverFeatures, uint32(want>>32))
	d.w(regStatus, stAck|stDriver|stFeaturesOK)
	if s := d.r(regStatus); s&stFeaturesOK == 0 {
		return fmt.Errorf("%s: FEATURES_OK not accepted (status %#x)", d.name, s)
	}
	return nil
}

// queue sets queue 0 up at the given addresses (for legacy, desc is the
// page the layout starts at).
func (d *dev) queue(size uint32, desc, avail, used uint64) {
	d.w(regQueueSel, 0)
	d.w(regQueueNum, size)
	if d.legacy() {
		d.w(regQueueAlign, pageSize)
		d.w(regQueuePFN, uint32(desc/pageSize))
		return
	}
	d.w(regQueueDescLow, uint32(desc))
	d.w(regQueueDescHigh, uint32(desc>>32))
	d.w(regQueueDriverLow, uint32(avail))
	d.w(regQueueDriverHigh, uint32(avail>>32))
	d.w(regQueueDeviceLow, uint32(used))
	d.w(regQueueDeviceHigh, uint32(used>>32))
	d.w(regQueueReady, 1)
}

// setup is what a driver does: reset, negotiate, queue 0, DRIVER_OK.
func (d *dev) setup() error {
	if err := d.negotiate(); err != nil {
		return err
	}
	if max := d.r(regQueueNumMax); max < queueSize {
		return fmt.Errorf("%s: QueueNumMax %d", d.name, max)
	}
	d.queue(queueSize, d.descPA(), d.availPA(), d.usedPA())
	d.w(regStatus, d.okStatus()|stDriverOK)
	if s := d.r(regStatus); s&stDriverOK == 0 || s&stNeedsReset != 0 {
		return fmt.Errorf("%s: status %#x after DRIVER_OK", d.name, s)
	}
	return nil
}

type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func putDesc(b []byte, i int, x desc) {
	e := b[16*i : 16*i+16]
	binary.LittleEndian.PutUint64(e[0:], x.addr)
	binary.LittleEndian.PutUint32(e[8:], x.len)
	binary.LittleEndian.PutUint16(e[12:], x.flags)
	binary.LittleEndian.PutUint16(e[14:], x.next)
}

func (d *dev) setDesc(i int, x desc) { putDesc(d.ring.b, i, x) }

// header writes a request header and sets the status byte to 0xff; it
// returns the descriptors for both.
func (d *dev) header(typ uint32, sector uint64) (hdr, status desc) {
	clear(d.req.b[:16])
	binary.LittleEndian.PutUint32(d.req.b[0:], typ)
	binary.LittleEndian.PutUint64(d.req.b[8:], sector)
	d.req.b[0x800] = 0xff
	return desc{addr: d.req.pa, len: 16, flags: descNext}, desc{addr: d.req.pa + 0x800, len: 1, flags: descWrite}
}

func (d *dev) status() byte { return d.req.b[0x800] }

// chain lays descs out as one chain from descriptor first on.
func (d *dev) chain(first int, ds ...desc) uint16 {
	for i, x := range ds {
		if i < len(ds)-1 {
			x.flags |= descNext
			x.next = uint16(first + i + 1)
		}
		d.setDesc(first+i, x)
	}
	return uint16(first)
}

// readChain is a read of pages pages from sector 0 into the data pages,
// from descriptor first on.
func (d *dev) readChain(first, pages int) uint16 {
	hdr, st := d.header(blkTIn, 0)
	ds := []desc{hdr}
	for i := 0; i < pages; i++ {
		clear(d.data[i].b)
		ds = append(ds, desc{addr: d.data[i].pa, len: pageSize, flags: descWrite})
	}
	return d.chain(first, append(ds, st)...)
}

// bigReads makes inFlight reads of bigSegs pages each available, each
// through an indirect table of a full queue's length, and kicks: the
// device has megabytes to read.
func (d *dev) bigReads() {
	hdr, st := d.header(blkTIn, 0)
	for i, t := range d.tables {
		clear(t.b)
		putDesc(t.b, 0, desc{addr: hdr.addr, len: hdr.len, flags: descNext, next: 1})
		for j := 0; j < bigSegs; j++ {
			putDesc(t.b, 1+j, desc{addr: d.data[j%dataPages].pa, len: pageSize, flags: descWrite | descNext, next: uint16(2 + j)})
		}
		putDesc(t.b, 1+bigSegs, st)
		d.setDesc(i, desc{addr: t.pa, len: 16 * (bigSegs + 2), flags: descIndirect})
		d.submit(uint16(i))
	}
	d.kick()
}

// submit makes head available (without kicking).
func (d *dev) submit(head uint16) {
	slot := d.nextAvail % queueSize
	binary.LittleEndian.PutUint16(d.ring.b[16*queueSize+4+2*int(slot):], head)
	d.nextAvail++
	// flags (NO_INTERRUPT: nobody handles the interrupt) and idx in one
	// store, after the ring entry.
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&d.ring.b[16*queueSize])), uint32(d.nextAvail)<<16|1)
}

func (d *dev) kick() { d.w(regQueueNotify, 0) }

func (d *dev) usedIdx() uint16 {
	return uint16(atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.ring.b[pageSize]))) >> 16)
}

// wait waits up to timeout for n more used elements and returns how many
// came. A device that needs a reset uses no more: it stops waiting then.
func (d *dev) wait(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		broken := d.r(regStatus)&stNeedsReset != 0
		got := int(uint16(d.usedIdx() - d.lastUsed))
		if got >= n || broken || time.Now().After(deadline) {
			d.lastUsed += uint16(got)
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// waitStatus waits up to timeout for a status bit and returns the status.
func (d *dev) waitStatus(bit uint32, timeout time.Duration) uint32 {
	deadline := time.Now().Add(timeout)
	for {
		s := d.r(regStatus)
		if s&bit != 0 || time.Now().After(deadline) {
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

// legalRead sets the device up and reads its first page.
func (d *dev) legalRead() (status byte, used int, sum string, err error) {
	if err := d.setup(); err != nil {
		return 0, 0, "", err
	}
	d.submit(d.readChain(0, 1))
	d.kick()
	used = d.wait(1, 5*time.Second)
	h := sha256.Sum256(d.data[0].b)
	st := d.status()
	d.reset()
	return st, used, hex.EncodeToString(h[:]), nil
}

func note(step, format string, args ...any) {
	fmt.Printf("HOSTILE-RESULT %s %s\n", step, fmt.Sprintf(format, args...))
}

// stepDriverOKCleared: a big read submitted and kicked, then a status
// write without DRIVER_OK; then more requests, and DRIVER_OK set again.
func stepDriverOKCleared(_, g *dev) error {
	const name = "driverok-cleared"
	if err := g.setup(); err != nil {
		return err
	}
	g.bigReads()
	g.w(regStatus, g.okStatus())
	s := g.r(regStatus)
	used := g.wait(inFlight, 2*time.Second)
	note(name, "status after clearing DRIVER_OK %#x; of the %d requests in flight %d were used, status=%d", s, inFlight, used, g.status())
	g.submit(g.readChain(inFlight, 1))
	g.kick()
	used = g.wait(1, brief)
	note(name, "a request after DRIVER_OK was cleared: used=%d status=%d devstatus=%#x", used, g.status(), g.r(regStatus))
	g.w(regStatus, g.okStatus()|stDriverOK)
	g.submit(g.readChain(0, 1))
	g.kick()
	used = g.wait(1, brief)
	note(name, "DRIVER_OK set again without a reset: used=%d status=%d devstatus=%#x", used, g.status(), g.r(regStatus))
	g.reset()
	return nil
}

// stepQueueNum writes QueueNum on a running queue, then again with
// DRIVER_OK cleared, submitting a request after each.
func stepQueueNum(g *dev, n uint32) error {
	name := fmt.Sprintf("queuenum-%d", n)
	if err := g.setup(); err != nil {
		return err
	}
	g.w(regQueueNum, n)
	g.submit(g.readChain(0, 1))
	g.kick()
	used := g.wait(1, brief)
	note(name, "QueueNum=%d with DRIVER_OK: used=%d status=%d devstatus=%#x", n, used, g.status(), g.r(regStatus))
	// Requests in flight, DRIVER_OK cleared, the queue resized under
	// the device.
	if err := g.setup(); err != nil {
		return err
	}
	g.bigReads()
	g.w(regStatus, g.okStatus())
	// Back and forth while the device works through the requests, so
	// that the size changes between taking a request and returning it.
	rounds := 0
	for t0 := time.Now(); time.Since(t0) < 300*time.Millisecond; rounds++ {
		g.w(regQueueNum, n)
		g.w(regQueueNum, queueSize)
	}
	g.w(regQueueNum, n)
	used = g.wait(inFlight, time.Second)
	note(name, "QueueNum=%d and %d alternately (%d rounds) with %d requests in flight and DRIVER_OK cleared: used=%d devstatus=%#x",
		n, queueSize, rounds, inFlight, used, g.r(regStatus))
	// More requests than a queue of n holds, so that a ring index wraps.
	for i := 0; i < 8; i++ {
		g.submit(g.readChain(inFlight+3*i, 1))
	}
	g.kick()
	used = g.wait(8, brief)
	note(name, "8 more requests: used=%d devstatus=%#x", used, g.r(regStatus))
	g.w(regStatus, g.okStatus()|stDriverOK)
	g.kick()
	used = g.wait(1, brief)
	note(name, "DRIVER_OK set again: used=%d devstatus=%#x", used, g.r(regStatus))
	g.reset()
	return nil
}

// stepRingsOutsideRAM sets queues up with rings outside RAM (or straddling
// its end) and sets DRIVER_OK.
func stepRingsOutsideRAM(_, g *dev) error {
	const name = "rings-outside-ram"
	end := uint64(ramBase + ramSize)
	cases := []struct {
		what              string
		desc, avail, used uint64
	}{
		{"desc at 4 GiB, avail below RAM", 0x1_0000_0000, 0x7fff_f000, g.usedPA()},
		{"used ring across RAM's end", g.descPA(), g.availPA(), end - 8},
		{"desc table at 2^64-4KiB", 0xffff_ffff_ffff_f000, g.availPA(), g.usedPA()},
	}
	if g.legacy() {
		cases = []struct {
			what              string
			desc, avail, used uint64
		}{
			{"PFN at 4 GiB", 0x1_0000_0000, 0, 0},
			{"PFN below RAM", 0x7fff_f000, 0, 0},
			{"PFN at RAM's last page", end - pageSize, 0, 0},
			{"PFN 0xffffffff", 0xffff_ffff * pageSize, 0, 0},
		}
	}
	for _, c := range cases {
		if err := g.negotiate(); err != nil {
			return err
		}
		g.queue(queueSize, c.desc, c.avail, c.used)
		g.w(regStatus, g.okStatus()|stDriverOK)
		s := g.waitStatus(stNeedsReset, brief)
		g.submit(0)
		g.kick()
		time.Sleep(50 * time.Millisecond)
		note(name, "%s: status %#x after DRIVER_OK, %#x after a kick; interrupt status %#x", c.what, s, g.r(regStatus), g.r(regInterruptStatus))
		g.reset()
	}
	return nil
}

// stepLegacyPFN writes QueuePFN while the queue runs: another page, a page
// outside RAM, 0; a request after each. On a modern device the register
// does not exist.
func stepLegacyPFN(_, g *dev) error {
	const name = "legacy-pfn-running"
	if err := g.setup(); err != nil {
		return err
	}
	g.submit(g.readChain(0, 1))
	g.kick()
	note(name, "a request before: used=%d status=%d", g.wait(1, time.Second), g.status())
	for _, pfn := range []uint64{g.spare.pa / pageSize, 0x1_0000_0000 / pageSize, 0, g.ring.pa / pageSize} {
		g.w(regQueueSel, 0)
		g.w(regQueuePFN, uint32(pfn))
		g.submit(g.readChain(0, 1))
		g.kick()
		used := g.wait(1, brief)
		note(name, "QueuePFN=%#x while running: reads back %#x; used=%d devstatus=%#x", pfn, g.r(regQueuePFN), used, g.r(regStatus))
	}
	g.reset()
	return nil
}

// stepDescLoop: a chain whose last descriptor points back to its first.
func stepDescLoop(_, g *dev) error {
	const name = "desc-loop"
	if err := g.setup(); err != nil {
		return err
	}
	hdr, _ := g.header(blkTIn, 0)
	hdr.next = 1
	g.setDesc(0, hdr)
	g.setDesc(1, desc{addr: g.data[0].pa, len: pageSize, flags: descWrite | descNext, next: 0})
	g.submit(0)
	g.kick()
	s := g.waitStatus(stNeedsReset, brief)
	note(name, "0->1->0: devstatus %#x used=%d", s, g.wait(1, 10*time.Millisecond))
	if err := g.setup(); err != nil {
		return err
	}
	// A descriptor that is its own next.
	g.setDesc(5, desc{addr: g.req.pa, len: 16, flags: descNext, next: 5})
	g.submit(5)
	g.kick()
	s = g.waitStatus(stNeedsReset, brief)
	note(name, "5->5: devstatus %#x used=%d", s, g.wait(1, 10*time.Millisecond))
	g.reset()
	return nil
}

// stepIndirectLoop: an indirect table whose chain loops, and one whose
// entry is an indirect descriptor pointing to the table itself.
func stepIndirectLoop(_, g *dev) error {
	const name = "indirect-loop"
	hdr, _ := g.header(blkTIn, 0)
	tables := []struct {
		what string
		ds   []desc
	}{
		{"a chain looping inside the table", []desc{
			{addr: hdr.addr, len: 16, flags: descNext, next: 1},
			{addr: g.data[0].pa, len: pageSize, flags: descWrite | descNext, next: 0},
		}},
		{"an entry pointing to its own table", []desc{
			{addr: g.indirect.pa, len: 32, flags: descIndirect},
			{addr: g.indirect.pa, len: 32, flags: descIndirect},
		}},
	}
	for _, tc := range tables {
		if err := g.setup(); err != nil {
			return err
		}
		clear(g.indirect.b)
		for i, x := range tc.ds {
			putDesc(g.indirect.b, i, x)
		}
		g.setDesc(0, desc{addr: g.indirect.pa, len: uint32(16 * len(tc.ds)), flags: descIndirect})
		g.submit(0)
		g.kick()
		s := g.waitStatus(stNeedsReset, brief)
		note(name, "%s: devstatus %#x used=%d", tc.what, s, g.wait(1, 10*time.Millisecond))
	}
	// The top-level descriptor table as its own indirect table.
	if err := g.setup(); err != nil {
		return err
	}
	g.setDesc(0, desc{addr: g.descPA(), len: 16 * queueSize, flags: descIndirect})
	g.submit(0)
	g.kick()
	s := g.waitStatus(stNeedsReset, brief)
	note(name, "the descriptor table as an indirect table: devstatus %#x used=%d", s, g.wait(1, 10*time.Millisecond))
	g.reset()
	return nil
}

// stepROWrite: a well-formed write to the read-only disk must fail with
// IOERR.
func stepROWrite(_, g *dev) error {
	const name = "ro-write"
	if err := g.setup(); err != nil {
		return err
	}
	for i := range g.data[0].b {
		g.data[0].b[i] = 0xee
	}
	hdr, st := g.header(blkTOut, 0)
	g.submit(g.chain(0, hdr, desc{addr: g.data[0].pa, len: pageSize}, st))
	g.kick()
	used := g.wait(1, 2*time.Second)
	note(name, "write to the read-only disk: used=%d status=%d devstatus=%#x", used, g.status(), g.r(regStatus))
	fmt.Printf("HOSTILE-ROWRITE status=%d used=%d\n", g.status(), used)
	g.reset()
	return nil
}

// stepWildWrites: writes to both disks from buffers outside RAM, of huge
// lengths, and with the status byte outside RAM.
func stepWildWrites(s, g *dev) error {
	const name = "wild-writes"
	for _, d := range []*dev{g, s} {
		for _, c := range []struct {
			what string
			data desc
		}{
			{"data at 4 GiB", desc{addr: 0x1_0000_0000, len: pageSize}},
			{"data below RAM", desc{addr: 0x7fff_f000, len: pageSize}},
			{"data of 2 GiB from a RAM page", desc{addr: d.data[0].pa, len: 0x8000_0000}},
			{"data of 4 GiB-1 wrapping", desc{addr: 0xffff_ffff_ffff_f000, len: 0xffff_ffff}},
			{"data of all RAM", desc{addr: ramBase, len: ramSize}},
		} {
			if err := d.setup(); err != nil {
				return err
			}
			hdr, st := d.header(blkTOut, 0)
			d.submit(d.chain(0, hdr, c.data, st))
			d.kick()
			used := d.wait(1, brief)
			note(name, "%s: %s: used=%d status=%d devstatus=%#x", d.name, c.what, used, d.status(), d.r(regStatus))
		}
		// A good write whose status byte is outside RAM.
		if err := d.setup(); err != nil {
			return err
		}
		hdr, _ := d.header(blkTOut, 0)
		d.submit(d.chain(0, hdr, desc{addr: d.data[0].pa, len: pageSize}, desc{addr: 0x1_0000_0000, len: 1, flags: descWrite}))
		d.kick()
		used := d.wait(1, brief)
		note(name, "%s: status byte at 4 GiB: used=%d devstatus=%#x", d.name, used, d.r(regStatus))
		d.reset()
	}
	return nil
}

// stepResetTwoVcpus resets the scratch device from two threads pinned to
// CPU 0 and CPU 1 at once, each setting it up to DRIVER_OK, kicking, and
// writing 0 to its status, for two seconds.
func stepResetTwoVcpus(s, _ *dev) error {
	const name = "reset-two-vcpus"
	if err := s.setup(); err != nil {
		return err
	}
	// Megabytes of reads for the device to be busy with, each time it
	// is set up again.
	s.bigReads()
	counts, err := onBothCPUs(2*time.Second, func(int) {
		s.w(regStatus, 0)
		s.w(regStatus, stAck|stDriver)
		s.w(regDriverFeaturesSel, 0)
		s.w(regDriverFeatures, uint32(1<<featIndirect))
		if !s.legacy() {
			s.w(regDriverFeaturesSel, 1)
			s.w(regDriverFeatures, 1)
		}
		s.w(regStatus, s.okStatus())
		s.queue(queueSize, s.descPA(), s.availPA(), s.usedPA())
		s.w(regStatus, s.okStatus()|stDriverOK)
		s.kick()
		s.w(regStatus, 0)
		s.w(regStatus, 0)
	})
	if err != nil {
		return err
	}
	note(name, "cpu0 %d rounds, cpu1 %d rounds; devstatus %#x", counts[0], counts[1], s.r(regStatus))
	s.reset()
	note(name, "after one more reset: devstatus %#x", s.r(regStatus))
	return nil
}

// onBothCPUs runs round over and over for d on two threads at once,
// pinned to CPU 0 and CPU 1, and returns how many rounds each made.
func onBothCPUs(d time.Duration, round func(cpu int)) ([]int, error) {
	var wg sync.WaitGroup
	counts := make([]int, 2)
	errs := make([]error, 2)
	deadline := time.Now().Add(d)
	for cpu := 0; cpu < 2; cpu++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if errs[cpu] = unix.SchedSetaffinity(0, &set); errs[cpu] != nil {
				return
			}
			for time.Now().Before(deadline) {
				round(cpu)
				counts[cpu]++
			}
		}()
	}
	wg.Wait()
	for cpu, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("pinning to CPU %d: %v", cpu, err)
		}
	}
	return counts, nil
}
