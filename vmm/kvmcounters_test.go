package vmm

import (
	"sync/atomic"
	"testing"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// TestCountedNotification: a guest notification counts each wait that
// returned, and stays an EventFDNotification whose descriptor is the
// eventfd's, for vhost to take.
func TestCountedNotification(t *testing.T) {
	efd, err := kvm.NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	var wakeups atomic.Uint64
	var n Notification = countedNotification{efd: efd, wakeups: &wakeups}
	raw, ok := n.(EventFDNotification)
	if !ok || raw.EventFD() != efd.FD() {
		t.Fatalf("not an EventFDNotification with the eventfd's descriptor (%v)", ok)
	}
	for i := 0; i < 2; i++ {
		if err := efd.Signal(); err != nil {
			t.Fatal(err)
		}
		if err := n.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Wait(); err == nil {
		t.Error("a wait on a closed notification returned no error")
	}
	if got := wakeups.Load(); got != 2 {
		t.Errorf("%d wakeups counted, want 2", got)
	}
}
