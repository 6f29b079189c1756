package blk

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// blockSpec opens the disk of opts and makes the machine's description
// of a block device over it (virtio.Spec), which closes the disk with the
// device.
func blockSpec(t *testing.T, v virtio.TransportVersion, opts DiskOptions) vmm.DeviceSpec {
	t.Helper()
	disk, err := OpenDisk(opts)
	if err != nil {
		t.Fatal(err)
	}
	return virtio.Spec("virtio-blk0", v, New(disk, nil))
}

// imageWithPattern is a 64 KiB image whose sector i is filled with byte
// i+1.
func imageWithPattern(t *testing.T) string {
	path := tempImage(t, 64<<10, 0)
	img := make([]byte, 64<<10)
	for i := range img {
		img[i] = byte(i/SectorSize + 1)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkRead checks that the read whose status byte is at st and data at
// in completed and read sectors from sector on.
func checkRead(t *testing.T, d *virtiotest.Driver, u virtiotest.Used, st, in uint64, sector, n int) {
	t.Helper()
	got := make([]byte, n)
	d.Mem.Read(in, got)
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(sector + i/SectorSize + 1)
	}
	if s := status(d, st); s != blkSOK || u.Len != uint32(n)+1 || !bytes.Equal(got, want) {
		t.Errorf("read of sector %d: status %d, used %d bytes, data right %v", sector, s, u.Len, bytes.Equal(got, want))
	}
}

// TestBlockStateReadAcrossRestore: a read the driver submitted and kicked
// just before the machine was saved, while it was paused, completes
// exactly once after the restore, with the right data and an interrupt,
// on a device restored over the same guest memory and image; the device
// goes on serving after it.
func TestBlockStateReadAcrossRestore(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			path := imageWithPattern(t)
			opts := DiskOptions{Path: path, Serial: "disk-1"}
			d := virtiotest.NewFromSpec(t, blockSpec(t, v, opts), nil)
			d.Setup(16, 0)
			if st, _, _ := request(d, blkTIn, 0, nil, 512, false); st != blkSOK {
				t.Fatalf("a read before the save: status %d", st)
			}
			d.SetUsedEvent(d.UsedIdx())
			d.Pause()
			st, in := submitRequest(d, blkTIn, 8, nil, 2048, v == virtio.Modern)
			d.Kick()
			state := d.MustSave()
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if d.UsedIdx() != 1 {
				t.Fatalf("the paused device served the read (used index %d)", d.UsedIdx())
			}
			n, err := d.RestoreFromSpec(blockSpec(t, v, opts), nil, state)
			if err != nil {
				t.Fatalf("restoring: %v", err)
			}
			checkRead(t, n, n.Wait(1)[0], st, in, 8, 2048)
			select {
			case <-n.IRQs:
			case <-time.After(5 * time.Second):
				t.Error("no interrupt for the read after the restore")
			}
			time.Sleep(50 * time.Millisecond)
			if n.UsedIdx() != 2 {
				t.Errorf("used index %d after the restore, want 2: the read was done again", n.UsedIdx())
			}
			n.SetUsedEvent(n.UsedIdx())
			st, in = submitRequest(n, blkTIn, 3, nil, 512, false)
			n.Kick()
			checkRead(t, n, n.Wait(1)[0], st, in, 3, 512)
		})
	}
}

// TestBlockStateKickRacesPause: a read kicked just as the machine pauses
// is served either by the saved device or by the restored one, never by
// both and never by neither.
func TestBlockStateKickRacesPause(t *testing.T) {
	path := imageWithPattern(t)
	opts := DiskOptions{Path: path}
	d := virtiotest.NewFromSpec(t, blockSpec(t, virtio.Modern, opts), nil)
	d.Setup(16, 0)
	for i := range 20 {
		st, in := submitRequest(d, blkTIn, uint64(i%16), nil, 512, false)
		d.Kick()
		if i%2 == 1 {
			time.Sleep(time.Duration(i) * 10 * time.Microsecond)
		}
		d.Pause()
		state := d.MustSave()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		n, err := d.RestoreFromSpec(blockSpec(t, virtio.Modern, opts), nil, state)
		if err != nil {
			t.Fatalf("round %d: restoring: %v", i, err)
		}
		checkRead(t, n, n.Wait(1)[0], st, in, i%16, 512)
		time.Sleep(5 * time.Millisecond)
		if n.UsedIdx() != uint16(i+1) {
			t.Fatalf("round %d: used index %d, want %d", i, n.UsedIdx(), i+1)
		}
		d = n
	}
}

// TestBlockStateOtherDisk: a state restores only onto the disk the guest
// knew: one of another size, or with another serial, is refused.
func TestBlockStateOtherDisk(t *testing.T) {
	d, _ := newBlockDriver(t, DiskOptions{Path: tempImage(t, 64<<10, 0), Serial: "a"}, virtio.Modern, 0)
	d.Pause()
	state := d.MustSave()
	d.Resume()
	for _, tc := range []struct {
		opts DiskOptions
		says string
	}{
		{DiskOptions{Path: tempImage(t, 128<<10, 0), Serial: "a"}, "sectors"},
		{DiskOptions{Path: tempImage(t, 64<<10, 0), Serial: "b"}, "serial"},
		{DiskOptions{Path: tempImage(t, 64<<10, 0), Serial: "a", ReadOnly: true}, "offered"},
	} {
		_, err := d.RestoreFromSpec(blockSpec(t, virtio.Modern, tc.opts), nil, state)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("restoring onto %+v: %v, want it to say %q", tc.opts, err, tc.says)
		}
	}
}

// TestBlockDeviceState: the device's own state is checked as strictly as
// the transport's.
func TestBlockDeviceState(t *testing.T) {
	disk, err := OpenDisk(DiskOptions{Path: tempImage(t, 4096, 0), Serial: "s"})
	if err != nil {
		t.Fatal(err)
	}
	b := New(disk, nil)
	defer b.Close()
	st, err := b.SaveDeviceState()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RestoreDeviceState(st); err != nil {
		t.Errorf("its own state refused: %v", err)
	}
	for _, bad := range []string{"", "{", `{"Sectors":8,"Serial":"s","More":1}`, `{"Sectors":9,"Serial":"s"}`, `[]`} {
		if err := b.RestoreDeviceState([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
}
