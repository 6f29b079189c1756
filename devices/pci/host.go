package pci

import "github.com/gokvm/gokvm/vmm"

// HostSpec is the PCI host bridge: the board's whole configuration space
// (ECAM), behind its functions' windows, where every function that is
// not there reads as all-ones (vendor ID 0xffff: no device), as a bus
// with nothing on it answers, and writes are dropped. Its description
// is the host bridge's node (vmm.DeviceTree.PCIHost); it has no state.
func HostSpec() vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name:       "pci-host",
		Area:       vmm.AreaPCIHost,
		Background: true,
		New:        func(vmm.DeviceEnv) (vmm.MMIODevice, error) { return absent{}, nil },
		Describe:   func(dt vmm.DeviceTree, p vmm.Placement) { dt.PCIHost(p) },
	}
}

// absent is configuration space with no function behind it.
type absent struct{}

var (
	_ vmm.MMIODevice  = absent{}
	_ vmm.StateDevice = absent{}
)

func (absent) ReadMMIO(_ uint64, data []byte) {
	for i := range data {
		data[i] = 0xff
	}
}

func (absent) WriteMMIO(uint64, []byte) {}

// SaveState implements vmm.StateDevice: nothing to save.
func (absent) SaveState() ([]byte, error) { return []byte("{}"), nil }

// RestoreState implements vmm.StateDevice.
func (absent) RestoreState([]byte) error { return nil }

// DescribeFunction is a function's description: its INTA wired to its
// interrupt in the host bridge's node (vmm.DeviceTree.PCIFunction).
func DescribeFunction(dt vmm.DeviceTree, p vmm.Placement) { dt.PCIFunction(p) }
