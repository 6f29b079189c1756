package arm64

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/pci"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
)

// pciFDTConfig is a machine with virtio-pci functions (two, or none) on
// the host bridge, placed as PlaceDevice places them: slot n at
// PCIConfigBase + n*PCISlotSize, SPIs after the UART's.
func pciFDTConfig(ncpus int, gic GICVersion, msi *MSINode, functions int) FDTConfig {
	c := testFDTConfig(ncpus, gic)
	c.Devices = []vmm.PlacedDevice{
		{Name: "uart0", Placement: vmm.Placement{Base: PlatformBase, Size: uart.Size, IRQ: 0}, Describe: uart.DescribeConsole},
	}
	for i := 0; i < functions; i++ {
		c.Devices = append(c.Devices, vmm.PlacedDevice{Name: "virtio-pci", Describe: pci.DescribeFunction, Placement: vmm.Placement{
			Base: PCIConfigBase + uint64(i)*PCISlotSize, Size: PCISlotSize, IRQ: uint32(1 + i),
			DynamicBase: PCIMemBase, DynamicSize: PCIMemSize,
		}})
	}
	h := pci.HostSpec()
	c.Devices = append(c.Devices, vmm.PlacedDevice{Name: h.Name, Describe: h.Describe,
		Placement: vmm.Placement{Base: PCIConfigBase, Size: PCIConfigSize, IRQ: vmm.NoIRQ}})
	c.MSI = msi
	return c
}

// TestDeviceTreePCIGolden: the host bridge as kvmtool describes it, with
// each function's INTA in its interrupt-map, and the MSI controller
// below the GIC, named by the bridge's msi-parent.
func TestDeviceTreePCIGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  FDTConfig
	}{
		{"gicv3-its-2cpu-pci", pciFDTConfig(2, GICv3, &MSINode{Compatible: "arm,gic-v3-its", Base: GICv3ITSBase(2), Size: GICv3ITSSize}, 2)},
		{"gicv2m-1cpu-pci", pciFDTConfig(1, GICv2, &MSINode{Compatible: "arm,gic-v2m-frame", Base: GICv2mBase, Size: GICv2mSize}, 2)},
		{"gicv3-1cpu-pci-intx", pciFDTConfig(1, GICv3, nil, 1)},
		{"gicv3-1cpu-pci-empty", pciFDTConfig(1, GICv3, nil, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			blob, err := BuildFDT(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			dtctest.Golden(t, c.name, dtctest.Decode(t, blob), *update)
			checkDTCWarnings(t, blob)
		})
	}
}

// checkDTCWarnings fails on what dtc's checks (its PCI bridge, interrupt
// map and unit address checks among them) find wrong in the blob.
func checkDTCWarnings(t *testing.T, blob []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.dtb")
	if err := os.WriteFile(f, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dtc", "-I", "dtb", "-O", "dts", "-o", os.DevNull, f).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("dtc: %v\n%s", err, out)
	}
}

// TestDeviceTreePCIWithoutHost: functions need their host bridge.
func TestDeviceTreePCIWithoutHost(t *testing.T) {
	c := pciFDTConfig(1, GICv3, nil, 1)
	c.Devices = c.Devices[:len(c.Devices)-1]
	if _, err := BuildFDT(c); err == nil || !strings.Contains(err.Error(), "host bridge") {
		t.Errorf("PCI functions without a host bridge: %v", err)
	}
}
