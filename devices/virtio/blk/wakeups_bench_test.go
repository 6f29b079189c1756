package blk

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// voluntarySwitches is the process's voluntary context switches so far.
func voluntarySwitches(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return int64(ru.Nvcsw) // int32 on 32-bit ARM
}

// BenchmarkNotifiedRead drives a disk as KVM does: the "vcpu" signals the
// queue's ioeventfd (a real eventfd, as machine.WatchWrite makes it), the
// device is created through Spec so its serving goroutine waits on that
// eventfd as the machine's does (virtio.Kick), a 4 KiB read is served from a real
// file, and the "vcpu" waits for the interrupt. It reports the host's
// voluntary context switches per request, the wakeups make bench counts.
//
// Between requests the vcpu runs guest code for a while (gap, spent
// spinning on its own thread): long enough for the Go scheduler's idle
// threads to stop spinning and park, as they do under a real guest, so
// each request pays for waking them.
func BenchmarkNotifiedRead(b *testing.B) {
	for _, gap := range []time.Duration{0, 50 * time.Microsecond} {
		b.Run("gap="+gap.String(), func(b *testing.B) { benchNotifiedRead(b, gap) })
	}
}

func benchNotifiedRead(b *testing.B, gap time.Duration) {
	disk, err := OpenDisk(DiskOptions{Path: benchImage(b)})
	if err != nil {
		b.Fatal(err)
	}
	dev := New(disk, nil)
	var efd *kvm.EventFD
	watch := func(off uint64, v uint32) (vmm.Notification, error) {
		if efd != nil {
			return nil, vmm.ErrUnsupported
		}
		efd, err = kvm.NewEventFD()
		return efd, err
	}
	d := virtiotest.NewFromSpec(b, virtio.Spec("disk", virtio.Modern, dev), watch)
	d.Setup(16, 1<<virtio.FeatureEventIdx)        // an interrupt per request
	irq, err := unix.Eventfd(0, unix.EFD_CLOEXEC) // blocking: the vcpu sleeps in it
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(irq)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	d.OnPulse = func() { unix.Write(irq, one) }
	// The vcpu is an OS thread of its own that sleeps in the kernel
	// between requests, as one in KVM_RUN does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var got [8]byte
	request := func() {
		if _, err := unix.Write(efd.FD(), one); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(irq, got[:]); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := submitRequest(d, blkTIn, 8, nil, 4096, false)
	request()
	if s := status(d, st); s != blkSOK {
		b.Fatalf("read failed: status %d", s)
	}
	// Every later request reuses the first one's descriptors (head 0).
	b.ResetTimer()
	before := voluntarySwitches(b)
	var busy time.Duration // spent in requests, gaps left out
	for range b.N {
		for t := time.Now(); time.Since(t) < gap; {
		}
		t := time.Now()
		d.Publish(0)
		request()
		busy += time.Since(t)
	}
	b.StopTimer()
	b.ReportMetric(float64(voluntarySwitches(b)-before)/float64(b.N), "vcsw/req")
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "ns/req")
	if s := status(d, st); s != blkSOK {
		b.Fatalf("read failed: status %d", s)
	}
}

func benchImage(b *testing.B) string {
	p := filepath.Join(b.TempDir(), "disk.img")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}
