package virtio_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// drainDevice is an echo device that is a Drainer and a vmm.Pauser, and
// records what the transport calls and whether its gate was open then.
type drainDevice struct {
	*echoDevice
	mu       sync.Mutex
	gate     *virtio.Gate
	restored []bool
	calls    []string
}

func (d *drainDevice) Activate(env virtio.ActivateEnv) error {
	d.mu.Lock()
	d.gate = env.Gate
	d.restored = append(d.restored, env.Restored)
	d.mu.Unlock()
	return d.echoDevice.Activate(env)
}

// gateOpen reports whether a goroutine gets through the gate at once.
func (d *drainDevice) gateOpen() bool {
	d.mu.Lock()
	g := d.gate
	d.mu.Unlock()
	in := make(chan bool, 1)
	stop := make(chan struct{})
	go func() {
		ok := g.Enter(stop)
		if ok {
			g.Leave()
		}
		in <- ok
	}()
	select {
	case ok := <-in:
		return ok
	case <-time.After(100 * time.Millisecond):
		close(stop)
		<-in
		return false
	}
}

func (d *drainDevice) record(call string) {
	if d.gateOpen() {
		call += " (gate open)"
	} else {
		call += " (gate closed)"
	}
	d.mu.Lock()
	d.calls = append(d.calls, call)
	d.mu.Unlock()
}

func (d *drainDevice) Drain()   { d.record("Drain") }
func (d *drainDevice) Undrain() { d.record("Undrain") }
func (d *drainDevice) Pause()   { d.record("Pause") }
func (d *drainDevice) Resume()  { d.record("Resume") }

// TestDrainBeforeGate: a Drainer is drained while its gate is still open
// (the answers it waits for go through it), before the transport holds
// its goroutines, and undrained once they go again; a restore's
// activation says it is one.
func TestDrainBeforeGate(t *testing.T) {
	dev := &drainDevice{echoDevice: &echoDevice{}}
	d := virtiotest.New(t, virtio.Modern, dev)
	d.Setup(16, 0)
	echo(t, d, "before", false)
	d.Pause()
	d.Resume()
	want := []string{"Drain (gate open)", "Pause (gate closed)", "Resume (gate closed)", "Undrain (gate open)"}
	dev.mu.Lock()
	got := append([]string(nil), dev.calls...)
	dev.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %q, want %q", i, got[i], want[i])
		}
	}
	d.Pause()
	st := d.MustSave()
	d.Close()
	n, err := d.Restore(virtio.Modern, dev, st)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, n, "after", false)
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if len(dev.restored) != 2 || dev.restored[0] || !dev.restored[1] {
		t.Errorf("ActivateEnv.Restored: %v, want false for the driver's activation, true for the restore's", dev.restored)
	}
}
