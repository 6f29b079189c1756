package vmm

import (
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"time"

	"github.com/gokvm/gokvm/devices/uart"
	"github.com/hashicorp/go-multierror"
)

// Config is what the generic core needs to build a VM. The board (an
// architecture's machine) supplies everything architecture specific.
type Config struct {
	// KVMDevice is the KVM device path; DefaultDevice when empty.
	KVMDevice string
	// CPUs is the number of vcpus.
	CPUs int
	// MemSize is the guest RAM size in bytes.
	MemSize uint64
	// MemBase is the guest-physical start of RAM; the board's default
	// when MemBaseSet is false.
	MemBase    uint64
	MemBaseSet bool
	// Payload is the kernel, initrd and command line.
	Payload Payload
	// Console receives what the guest writes to its serial port.
	Console io.Writer
	// ConsoleInput, when not nil, is fed to the guest's serial port.
	ConsoleInput io.Reader
	// Log receives gokvm's own diagnostics; nil discards them.
	Log *log.Logger
	// Start is when the caller started, for the time-to-first-KVM_RUN
	// figure; the call to New when zero.
	Start time.Time
}

// MinMemSize is the smallest RAM the core accepts; boards check that the
// payload fits.
const MinMemSize = 16 << 20

// Machine is a built VM, ready to Run.
type Machine struct {
	cfg   Config
	board Board
	log   *log.Logger

	sys     *System
	vm      *VM
	mem     *GuestMemory
	vcpus   []*Vcpu
	bus     MMIOBus
	devices []DevicePlacement
	console *uart.UART
	dtb     []byte

	firstRun  atomic.Int64 // unix nanoseconds of the first KVM_RUN
	mmioExits atomic.Uint64
	unclaimed atomic.Uint64
}

// New validates cfg, then builds the VM: KVM handles, RAM, irqchip, vcpus,
// devices, and the loaded payload. Problems with cfg come back as
// ConfigError; host problems name what is missing.
func New(cfg Config, board Board) (_ *Machine, err error) {
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.KVMDevice == "" {
		cfg.KVMDevice = DefaultDevice
	}
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	if cfg.CPUs < 1 {
		return nil, Configf("%d vcpus asked for: a guest needs at least 1", cfg.CPUs)
	}
	if cfg.MemSize < MinMemSize {
		return nil, Configf("%d MiB of guest memory is too little: gokvm needs at least %d MiB", cfg.MemSize>>20, MinMemSize>>20)
	}
	if !cfg.MemBaseSet {
		cfg.MemBase = board.DefaultRAMBase()
	}
	if err := board.Prepare(cfg.Payload, cfg.MemBase, cfg.MemSize, cfg.CPUs); err != nil {
		return nil, err
	}

	m := &Machine{cfg: cfg, board: board, log: cfg.Log}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.sys, err = OpenSystem(cfg.KVMDevice); err != nil {
		return nil, err
	}
	if err = board.CheckHost(m.sys); err != nil {
		return nil, err
	}
	if max := m.sys.MaxVcpus(); cfg.CPUs > max {
		return nil, Configf("%d vcpus asked for, but this host's KVM allows at most %d per VM", cfg.CPUs, max)
	}
	typ, err := board.MachineType(m.sys)
	if err != nil {
		return nil, err
	}
	if m.vm, err = m.sys.CreateVM(typ); err != nil {
		return nil, err
	}
	if m.mem, err = NewGuestMemory(cfg.MemBase, cfg.MemSize); err != nil {
		return nil, err
	}
	if err = m.vm.MapMemory(0, m.mem); err != nil {
		return nil, err
	}
	if err = board.CreateIRQChip(m.vm, cfg.CPUs); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.CPUs; i++ {
		v, err := m.vm.CreateVcpu(i)
		if err != nil {
			return nil, err
		}
		m.vcpus = append(m.vcpus, v)
		if err := board.InitVcpu(m.vm, v); err != nil {
			return nil, err
		}
	}
	if err = board.FinalizeIRQChip(); err != nil {
		return nil, err
	}
	if err = m.addConsole(); err != nil {
		return nil, err
	}
	if m.dtb, err = board.Boot(m.mem, m.vcpus, m.devices); err != nil {
		return nil, err
	}
	// The payload is in guest RAM now; the caller may release it.
	m.cfg.Payload = Payload{}
	return m, nil
}

// addDevice places dev with the board and puts it on the MMIO bus.
func (m *Machine) addDevice(name string, kind DeviceKind, size uint64, dev func(irq func(bool)) MMIODevice) (MMIODevice, error) {
	p, err := m.board.PlaceDevice(kind, size)
	if err != nil {
		return nil, fmt.Errorf("placing %s: %w", name, err)
	}
	line := m.board.IRQLine(p.IRQ)
	d := dev(func(level bool) {
		if err := m.vm.SetIRQLine(line, level); err != nil {
			m.log.Printf("%s: %v", name, err)
		}
	})
	if err := m.bus.Register(name, p.Base, p.Size, d); err != nil {
		return nil, err
	}
	m.devices = append(m.devices, p)
	return d, nil
}

func (m *Machine) addConsole() error {
	out := m.cfg.Console
	if out == nil {
		out = io.Discard
	}
	d, err := m.addDevice("uart0", DeviceUART, uart.Size, func(irq func(bool)) MMIODevice {
		return uart.New(out, irq)
	})
	if err != nil {
		return err
	}
	m.console = d.(*uart.UART)
	return nil
}

// DeviceTree is the device tree blob handed to the guest.
func (m *Machine) DeviceTree() []byte { return m.dtb }

// Memory is the guest's RAM.
func (m *Machine) Memory() *GuestMemory { return m.mem }

// Devices lists where the board placed each device.
func (m *Machine) Devices() []DevicePlacement { return m.devices }

// Close releases everything the machine holds, collecting every error.
func (m *Machine) Close() error {
	var errs *multierror.Error
	for _, v := range m.vcpus {
		if err := v.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("closing vcpu %d: %w", v.ID, err))
		}
	}
	m.vcpus = nil
	if m.vm != nil {
		if err := m.vm.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("closing VM: %w", err))
		}
	}
	if m.mem != nil {
		if err := m.mem.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("unmapping guest RAM: %w", err))
		}
		m.mem = nil
	}
	if m.sys != nil {
		if err := m.sys.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("closing %s: %w", m.cfg.KVMDevice, err))
		}
	}
	return errs.ErrorOrNil()
}
