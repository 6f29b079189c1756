package vmm

import (
	"fmt"
	"io"
	"log"
	"sync"
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
	// Devices are placed on the board after the console, in order (the
	// first virtio-blk is the guest's vda).
	Devices []DeviceSpec
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
	closers []io.Closer

	firstRun  atomic.Int64 // unix nanoseconds of the first KVM_RUN
	mmioExits atomic.Uint64
	unclaimed atomic.Uint64
	dumpMu    sync.Mutex // one DumpVcpus at a time
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
	for _, spec := range cfg.Devices {
		if _, err = m.addDevice(spec); err != nil {
			return nil, err
		}
	}
	if m.dtb, err = board.Boot(m.mem, m.vcpus, m.devices); err != nil {
		return nil, err
	}
	// The payload is in guest RAM now; the caller may release it.
	m.cfg.Payload = Payload{}
	return m, nil
}

// DeviceSpec describes a device for the machine to place and create.
type DeviceSpec struct {
	Name string
	Kind DeviceKind
	Size uint64
	// New creates the device once its window and interrupt are known. A
	// device that is an io.Closer is closed with the machine.
	New func(env DeviceEnv) (MMIODevice, error)
}

// DeviceEnv is what a device is created with.
type DeviceEnv struct {
	Name      string
	Mem       *GuestMemory
	Placement DevicePlacement
	Log       *log.Logger
	// SetLevel drives a level-triggered interrupt line.
	SetLevel func(high bool)
	// Pulse raises one edge-triggered interrupt: through an irqfd where
	// the host has them, so it costs no ioctl.
	Pulse func()
	// WatchWrite asks KVM to signal efd, without an exit, when the guest
	// writes the 32-bit value at offset in the device's window. It
	// returns ErrUnsupported where the host cannot.
	WatchWrite func(offset uint64, value uint32, efd *EventFD) error
}

// addDevice places a device with the board, creates it and puts it on the
// MMIO bus.
func (m *Machine) addDevice(spec DeviceSpec) (MMIODevice, error) {
	p, err := m.board.PlaceDevice(spec.Kind, spec.Size)
	if err != nil {
		return nil, fmt.Errorf("placing %s: %w", spec.Name, err)
	}
	line := m.board.IRQLine(p.IRQ)
	setLevel := func(level bool) {
		if err := m.vm.SetIRQLine(line, level); err != nil {
			m.log.Printf("%s: %v", spec.Name, err)
		}
	}
	pulse := func() { setLevel(true); setLevel(false) }
	if efd, err := NewEventFD(); err == nil {
		if m.vm.IRQFD(p.IRQ, efd.FD()) == nil {
			m.closers = append(m.closers, efd)
			pulse = func() {
				if err := efd.Signal(); err != nil {
					m.log.Printf("%s: irqfd: %v", spec.Name, err)
				}
			}
		} else {
			efd.Close()
		}
	}
	env := DeviceEnv{
		Name: spec.Name, Mem: m.mem, Placement: p, Log: m.log,
		SetLevel: setLevel,
		Pulse:    pulse,
		WatchWrite: func(off uint64, value uint32, efd *EventFD) error {
			return m.vm.IOEventFD(p.Base+off, 4, uint64(value), efd.FD())
		},
	}
	d, err := spec.New(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	if c, ok := d.(io.Closer); ok {
		m.closers = append(m.closers, c)
	}
	if err := m.bus.Register(spec.Name, p.Base, p.Size, d); err != nil {
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
	d, err := m.addDevice(DeviceSpec{Name: "uart0", Kind: DeviceUART, Size: uart.Size,
		New: func(env DeviceEnv) (MMIODevice, error) { return uart.New(out, env.SetLevel), nil }})
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
	// Devices first: disks flush what the guest wrote.
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i].Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	m.closers = nil
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
