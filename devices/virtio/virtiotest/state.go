package virtiotest

import (
	"sync"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
)

// NeedsReset reports whether the device stopped serving until a reset:
// DEVICE_NEEDS_RESET on a modern transport. A legacy transport has no
// such bit; the transport is asked instead (virtio.MMIO.NeedsReset).
func (d *Driver) NeedsReset() bool {
	if !d.tr.legacy() {
		return d.Status()&virtio.StatusDeviceNeedsReset != 0
	}
	t, ok := d.Dev.(interface{ NeedsReset() bool })
	if !ok {
		d.T.Fatalf("%T cannot tell whether it needs a reset", d.Dev)
	}
	return t.NeedsReset()
}

// WaitNeedsReset waits (up to 5 seconds, then fails the test) until
// NeedsReset.
func (d *Driver) WaitNeedsReset() {
	deadline := time.Now().Add(5 * time.Second)
	for !d.NeedsReset() {
		if time.Now().After(deadline) {
			d.T.Fatalf("the device never needed a reset (status %#x)", d.Status())
		}
		time.Sleep(time.Millisecond)
	}
}

// TryWait waits up to timeout until the device has used n more chains of
// the selected queue, and returns their elements; false if it did not.
func (d *Driver) TryWait(n int, timeout time.Duration) ([]Used, bool) {
	deadline := time.Now().Add(timeout)
	for d.Pending() < n {
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(time.Millisecond)
	}
	return d.Wait(n), true
}

// FreeBufs makes Buf allocate from the start of the buffer area again.
// Only for a device with no request outstanding (just reset).
func (d *Driver) FreeBufs() { d.alloc = bufBase }

// Faults are what the device reported through its Fault (a recovered
// panic): every driver records them.
func (d *Driver) Faults() []error { return d.faults.get() }

// faultLog records a device's faults; the device's goroutines add to it.
type faultLog struct {
	mu   sync.Mutex
	errs []error
}

func (f *faultLog) add(err error) {
	f.mu.Lock()
	f.errs = append(f.errs, err)
	f.mu.Unlock()
}

func (f *faultLog) get() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}
