package blk

import (
	"fmt"
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

// voluntarySwitches is the voluntary context switches so far of the
// process (who is unix.RUSAGE_SELF) or the calling thread
// (unix.RUSAGE_THREAD).
func voluntarySwitches(b *testing.B, who int) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
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
//
// procs=+1 raises GOMAXPROCS by one for the vcpu thread, as Machine.Run
// does (vmm/procs.go); other-vcsw/req counts the switches of every thread
// but the vcpu's, the ones the device's side costs.
func BenchmarkNotifiedRead(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, extra := range []int{0, 1} {
			for _, gap := range []time.Duration{0, 50 * time.Microsecond} {
				b.Run(fmt.Sprintf("size=%dK/procs=+%d/gap=%v", size>>10, extra, gap), func(b *testing.B) {
					was := runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + extra)
					defer runtime.GOMAXPROCS(was)
					benchNotifiedRead(b, size, gap)
				})
			}
		}
	}
}

func benchNotifiedRead(b *testing.B, size int, gap time.Duration) {
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
	st, _ := submitRequest(d, blkTIn, 8, nil, size, false)
	request()
	if s := status(d, st); s != blkSOK {
		b.Fatalf("read failed: status %d", s)
	}
	// Every later request reuses the first one's descriptors (head 0).
	b.ResetTimer()
	before := voluntarySwitches(b, unix.RUSAGE_SELF)
	vcpuBefore := voluntarySwitches(b, unix.RUSAGE_THREAD)
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
	all := voluntarySwitches(b, unix.RUSAGE_SELF) - before
	vcpu := voluntarySwitches(b, unix.RUSAGE_THREAD) - vcpuBefore
	b.ReportMetric(float64(all)/float64(b.N), "vcsw/req")
	b.ReportMetric(float64(all-vcpu)/float64(b.N), "other-vcsw/req")
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "ns/req")
	if s := status(d, st); s != blkSOK {
		b.Fatalf("read failed: status %d", s)
	}
}

func benchImage(b *testing.B) string {
	p := filepath.Join(b.TempDir(), "disk.img")
	if err := os.WriteFile(p, make([]byte, 2<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}
