package vmm_test

import (
	"context"
	"encoding/binary"
	"log"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// testDevCompatible names the test device in the device tree.
const testDevCompatible = "gokvm,test-device"

// testDevBase is where the board puts the first platform device, and so
// the test device (the only device): the tiny guests have it as a
// constant, and newTinyVM checks the board agrees.
const testDevBase = arm64.PlatformBase

// mmioWrite is one guest store the test device saw.
type mmioWrite struct {
	Off   uint64
	Size  int
	Value uint64
}

// testDevice is an MMIO device that exists only in these tests, added as
// any device is, through a vmm.DeviceSpec. It records the guest's stores;
// a load from any offset returns how many stores it has seen, which lets
// a guest wait for another vcpu.
type testDevice struct {
	mu     sync.Mutex
	count  uint64
	writes []mmioWrite // the first maxKept
	last   uint64      // the value of the last store
}

const maxKept = 64

func (d *testDevice) WriteMMIO(off uint64, data []byte) {
	var buf [8]byte
	copy(buf[:], data)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.count++
	d.last = binary.LittleEndian.Uint64(buf[:])
	if len(d.writes) < maxKept {
		d.writes = append(d.writes, mmioWrite{Off: off, Size: len(data), Value: binary.LittleEndian.Uint64(buf[:])})
	}
}

func (d *testDevice) ReadMMIO(off uint64, data []byte) {
	var buf [8]byte
	d.mu.Lock()
	binary.LittleEndian.PutUint64(buf[:], d.count)
	d.mu.Unlock()
	copy(data, buf[:])
}

// Writes returns how many stores arrived and the first maxKept of them.
func (d *testDevice) Writes() (uint64, []mmioWrite) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count, append([]mmioWrite(nil), d.writes...)
}

func (d *testDevice) Count() uint64 { n, _ := d.Writes(); return n }

// Last is the value of the last store.
func (d *testDevice) Last() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// spec is the device as the core sees it: a 4 KiB platform window and a
// node of its own, written by its own Describe.
func (d *testDevice) spec() vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: "test-device",
		Area: vmm.AreaPlatform,
		Size: 0x1000,
		New:  func(vmm.DeviceEnv) (vmm.MMIODevice, error) { return d, nil },
		Describe: func(dt vmm.DeviceTree, p vmm.Placement) {
			n := dt.AddDevice("test-device", p, vmm.TriggerLevel)
			n.Strings("compatible", testDevCompatible)
		},
	}
}

// needKVM skips a test that needs KVM on an arm64 host, saying why.
func needKVM(t testing.TB) {
	t.Helper()
	if runtime.GOARCH != "arm64" {
		t.Skipf("tiny guests run on KVM/arm64 only; this test binary is %s (the e2e run executes them inside the emulated arm64 host)", runtime.GOARCH)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("tiny guests need KVM: %v", err)
	}
	f.Close()
}

// tinyVM is a machine running a tiny guest, with its test device.
type tinyVM struct {
	m     *vmm.Machine
	board *arm64.Board
	dev   *testDevice
	// code is the guest-physical address of the code's first byte (just
	// above an Image header).
	code uint64
	// stop ends a Run that start began; ran is closed once it returned.
	stop context.CancelFunc
	ran  chan struct{}
	// closed: close has closed the machine.
	closed bool
}

// newTinyVM builds a machine with cpus vcpus running a's code as its
// kernel, and the test device. It is closed when the test ends.
func newTinyVM(t testing.TB, cpus int, a *tinyguest.Asm) *tinyVM {
	t.Helper()
	return newTinyVMWith(t, cpus, a, func(*vmm.Config) {})
}

// newTinyVMWith is newTinyVM with the configuration changed by adjust.
func newTinyVMWith(t testing.TB, cpus int, a *tinyguest.Asm, adjust func(*vmm.Config)) *tinyVM {
	t.Helper()
	needKVM(t)
	code, err := a.Code()
	if err != nil {
		t.Fatal(err)
	}
	tv := newTinyVMPayload(t, cpus, vmm.Payload{Kernel: tinyguest.Image(code)}, adjust)
	tv.code += tinyguest.HeaderSize
	return tv
}

// newTinyVMPayload builds a machine with cpus vcpus booting p, and the
// test device, its configuration changed by adjust (when not nil). It is
// closed when the test ends.
func newTinyVMPayload(t testing.TB, cpus int, p vmm.Payload, adjust func(*vmm.Config)) *tinyVM {
	t.Helper()
	return newTinyVMBoard(t, cpus, p, arm64.Options{}, adjust)
}

// newTinyVMBoard is newTinyVMPayload on a board made with opts.
func newTinyVMBoard(t testing.TB, cpus int, p vmm.Payload, opts arm64.Options, adjust func(*vmm.Config)) *tinyVM {
	t.Helper()
	needKVM(t)
	opts.NoRNGSeed = true
	tv := &tinyVM{board: arm64.New(opts), dev: &testDevice{}}
	cfg := vmm.Config{
		CPUs:    cpus,
		MemSize: 32 << 20,
		Payload: p,
		Devices: []vmm.DeviceSpec{tv.dev.spec()},
		// The core's own diagnostics (an access that hits no device)
		// show with a failure.
		Log: log.New(testLog{t}, "", 0),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	var err error
	tv.m, err = vmm.New(cfg, tv.board)
	if err != nil {
		t.Fatalf("vmm.New: %v", err)
	}
	t.Cleanup(func() { tv.close(t) })
	if got := tv.m.Devices()[0].Placement.Base; got != testDevBase {
		t.Fatalf("the board put the test device at %#x; the tiny guests expect it at %#x", got, uint64(testDevBase))
	}
	tv.code = tv.board.Placement().KernelAddr
	return tv
}

// close closes the machine once: a test may close it before it ends, as
// the fault benchmark does with each of its many machines.
func (tv *tinyVM) close(t testing.TB) {
	t.Helper()
	if tv.closed {
		return
	}
	// A test that failed half-way may leave Run going: stop it first,
	// since closing the vcpus under a running loop would crash the
	// whole test binary.
	if tv.ran != nil {
		tv.stop()
		select {
		case <-tv.ran:
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of being stopped; the machine is left open")
			return
		}
	}
	tv.closed = true
	if err := tv.m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// runResult is what Run returned, and when.
type runResult struct {
	outcome vmm.Outcome
	err     error
	at      time.Time
}

// start runs the machine in the background.
func (tv *tinyVM) start(ctx context.Context) <-chan runResult {
	ctx, tv.stop = context.WithCancel(ctx)
	tv.ran = make(chan struct{})
	ch := make(chan runResult, 1)
	go func() {
		defer close(tv.ran)
		o, err := tv.m.Run(ctx)
		ch <- runResult{o, err, time.Now()}
	}()
	return ch
}

// run runs the machine to its end, with a safety deadline that gives
// OutcomeTimeout should the guest never get where the test expects.
func (tv *tinyVM) run(t testing.TB) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return <-tv.start(ctx)
}

// wait waits for Run to return, failing the test after within.
func wait(t *testing.T, ch <-chan runResult, within time.Duration) runResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("Run did not return within %v", within)
		return runResult{}
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect fails the test unless the run ended with want and no error.
func expect(t testing.TB, r runResult, want vmm.Outcome) {
	t.Helper()
	if r.err != nil || r.outcome != want {
		t.Fatalf("Run: outcome %q, error %v; want %q", r.outcome, r.err, want)
	}
}

// testLog writes the core's log lines into the test's log.
type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
