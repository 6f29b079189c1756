package blk

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestBlockPause: a write kicked while the device is paused is neither
// performed nor returned until Resume; then it completes.
func TestBlockPause(t *testing.T) {
	path := tempImage(t, 64<<10, 0)
	d, _ := newBlockDriver(t, DiskOptions{Path: path}, virtio.Modern, 0)
	d.Pause()
	data := bytes.Repeat([]byte{0xee}, 512)
	st, _ := submitRequest(d, blkTOut, 2, data, 0, false)
	d.Kick()
	time.Sleep(50 * time.Millisecond)
	if d.UsedIdx() != 0 {
		t.Errorf("a paused device returned a request")
	}
	if file, _ := os.ReadFile(path); !bytes.Equal(file, make([]byte, 64<<10)) {
		t.Errorf("a paused device wrote the disk")
	}
	d.Resume()
	d.Wait(1)
	if s := status(d, st); s != blkSOK {
		t.Errorf("the write after Resume: status %d", s)
	}
	if file, _ := os.ReadFile(path); !bytes.Equal(file[2*512:3*512], data) {
		t.Errorf("the write after Resume is not in the file")
	}
}

// TestBlockCloseWhilePaused: the machine's Close of a paused device with a
// kicked request returns promptly, and closes the disk.
func TestBlockCloseWhilePaused(t *testing.T) {
	path := tempImage(t, 64<<10, 0)
	disk, err := OpenDisk(DiskOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-blk0", virtio.Modern, New(disk, nil)), nil)
	d.Setup(16, 0)
	d.Pause()
	submitRequest(d, blkTIn, 0, nil, 512, false)
	d.Kick()
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Close() }) {
		t.Fatal("Close of a paused device does not return")
	}
	if disk.f != nil {
		t.Errorf("Close left the disk open")
	}
	// The image is free again.
	again, err := OpenDisk(DiskOptions{Path: path})
	if err != nil {
		t.Fatalf("the image after Close: %v", err)
	}
	again.Close()
}

// TestBlockIdentity: the transport presents a block device.
func TestBlockIdentity(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		d, b := newBlockDriver(t, DiskOptions{Path: tempImage(t, 4096, 0)}, v, 0)
		if id := d.Read32(virtio.RegDeviceID); id != virtio.DeviceIDBlock {
			t.Errorf("v%d: device ID %d", v, id)
		}
		d.Write32(virtio.RegDeviceFeaturesSel, 0)
		if f := d.Read32(virtio.RegDeviceFeatures); uint64(f) != b.Features()&0xffffffff {
			t.Errorf("v%d: features %#x, want %#x", v, f, b.Features()&0xffffffff)
		}
	}
}
