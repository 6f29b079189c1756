package virtio_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestHandlerPanicIsDeviceFault: a handler that panics (a bug in gokvm)
// fails that device, with its stack logged, and is reported to the
// machine (vmm.DeviceEnv.Fault) rather than ending gokvm; the gate is
// left, so the machine still pauses; after a reset the device works.
func TestHandlerPanicIsDeviceFault(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			e := &echoDevice{}
			e.panics.Store(true)
			d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-echo", v, e), nil)
			d.Setup(16, 0)
			submitEcho(d, "boom", false)
			d.Kick()
			d.WaitNeedsReset()
			faults := d.Faults()
			var pe *virtio.PanicError
			var re runtime.Error
			if len(faults) != 1 || !errors.As(faults[0], &pe) || !errors.As(faults[0], &re) {
				t.Fatalf("faults %v, want one *virtio.PanicError of a runtime.Error", faults)
			}
			if pe.Where != "echo queue" || !strings.Contains(string(pe.Stack), "echoDevice).handle") {
				t.Errorf("the panic in %q, stack:\n%s", pe.Where, pe.Stack)
			}
			if log := d.Log(); !strings.Contains(log, "echo queue: panic: runtime error: index out of range") || !strings.Contains(log, "echoDevice).handle") {
				t.Errorf("the log lacks the panic and its stack: %q", log)
			}
			if !virtiotest.ReturnsWithin(time.Second, d.Pause) {
				t.Fatal("Pause waits for the goroutine that panicked")
			}
			d.Resume()
			e.panics.Store(false)
			d.Setup(16, 0)
			if !echo(t, d, "after reset", false) {
				t.Errorf("the device does not work after a reset")
			}
		})
	}
}

// TestQueueWithoutActivateReturnsErrors: a queue the device uses without
// a good layout (size 0, no memory) returns errors, never panics.
func TestQueueWithoutActivateReturnsErrors(t *testing.T) {
	q := &virtio.Queue{MaxSize: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	var c virtio.Chain
	if ok, err := q.Pop(&c); ok || err != nil {
		t.Errorf("Pop: %v, %v", ok, err)
	}
	if err := q.Push(0, 0); err == nil {
		t.Errorf("Push on a queue never activated succeeded")
	}
	if err := q.AddUsed(0, 0); err == nil {
		t.Errorf("AddUsed on a queue never activated succeeded")
	}
	if _, err := q.EnableNotifications(); err == nil {
		t.Errorf("EnableNotifications on a queue never activated succeeded")
	}
	if q.HasAvailable() {
		t.Errorf("a queue never activated has chains")
	}
	q.ShouldInterrupt()
}

// TestConcurrentResetsAndClose: any number of vcpus resetting a device at
// once, while it serves and while the machine closes it, neither panics
// nor hangs (the race detector checks the rest).
func TestConcurrentResetsAndClose(t *testing.T) {
	for _, v := range transports {
		e := &echoDevice{}
		d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-echo", v, e), nil)
		for round := range 20 {
			d.Setup(16, 0)
			for range 4 {
				submitEcho(d, "racing", round%2 == 0)
			}
			d.Kick()
			fns := []func(){}
			for range 8 {
				fns = append(fns, func() { d.Write32(virtio.RegStatus, 0) })
			}
			if !virtiotest.ReturnsWithin(5*time.Second, func() { parallel(fns...) }) {
				t.Fatalf("v%d: concurrent resets hang", v)
			}
			d.FreeBufs()
		}
		d.Setup(16, 0)
		submitEcho(d, "closing", false)
		d.Kick()
		fns := []func(){func() { d.Close() }, func() { d.Close() }}
		for range 6 {
			fns = append(fns, func() { d.Write32(virtio.RegStatus, 0) })
		}
		if !virtiotest.ReturnsWithin(5*time.Second, func() { parallel(fns...) }) {
			t.Fatalf("v%d: Close racing resets hangs", v)
		}
		if !e.closed.Load() {
			t.Errorf("v%d: Close left the device open", v)
		}
		// A closed device never starts again.
		d.Setup(16, 0)
		submitEcho(d, "after close", false)
		d.Kick()
		time.Sleep(20 * time.Millisecond)
		if d.Pending() != 0 {
			t.Errorf("v%d: a closed device served a request", v)
		}
	}
}

// parallel runs fns at once and waits for them.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	wg.Wait()
}
