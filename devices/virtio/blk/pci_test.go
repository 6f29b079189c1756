package blk

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestBlockOverPCI: the block device, unchanged, behind the virtio-pci
// transport, with MSI-X and with INTx: a write reaches the file, reads
// come back, each used buffer is an interrupt.
func TestBlockOverPCI(t *testing.T) {
	for _, msix := range []bool{true, false} {
		t.Run(fmt.Sprintf("msix=%v", msix), func(t *testing.T) {
			path := tempImage(t, 64<<10, 0xaa)
			disk, err := OpenDisk(DiskOptions{Path: path, Serial: "pci"})
			if err != nil {
				t.Fatal(err)
			}
			b := New(disk, nil)
			d, m := virtiotest.NewPCI(t, b, msix)
			t.Cleanup(func() { b.Close() })
			d.Setup(16, 0)
			data := bytes.Repeat([]byte("over pci"), 64)
			if st, _, _ := request(d, blkTOut, 2, data, 0, false); st != blkSOK {
				t.Fatalf("write status %d", st)
			}
			st, n, gpa := request(d, blkTIn, 2, nil, len(data), true)
			got := make([]byte, len(data))
			d.Mem.Read(gpa, got)
			if st != blkSOK || n != uint32(len(data))+1 || !bytes.Equal(got, data) {
				t.Fatalf("read back status %d len %d", st, n)
			}
			file, _ := os.ReadFile(path)
			if !bytes.Equal(file[2*512:2*512+len(data)], data) {
				t.Errorf("the file does not hold the guest's write")
			}
			if len(d.IRQs) == 0 {
				t.Errorf("no interrupt")
			}
			if msix && m.Signals(1) == 0 {
				t.Errorf("the request queue's vector was never signalled")
			}
		})
	}
}
