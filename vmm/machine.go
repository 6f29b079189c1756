// Package vmm is gokvm's generic VM core: it assembles a machine from a
// board (an architecture's memory map, interrupt controller, vcpu setup and
// boot protocol) and device specs, routes MMIO exits to devices, and runs,
// pauses, dumps and stops the vcpus. It knows no device and no
// architecture; the KVM handles are in vmm/kvm, guest RAM in vmm/memory.
package vmm

import (
	"errors"
	"fmt"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/memory"
	"github.com/hashicorp/go-multierror"
)

// Config is what the generic core needs to build a VM. The board (an
// architecture's machine) supplies everything architecture specific.
type Config struct {
	// KVMDevice is the KVM device path; kvm.DefaultDevice when empty.
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
	// Devices are placed on the board in order (the first virtio-blk is
	// the guest's vda; the console goes first).
	Devices []DeviceSpec
	// VcpuAffinity, when not empty, pins every vcpu thread to these host
	// CPUs (on big.LITTLE hosts, all vcpus on one kind of core).
	VcpuAffinity []int
	// Log receives gokvm's own diagnostics; nil discards them.
	Log *log.Logger
	// Start is when the caller started, for the time-to-first-KVM_RUN
	// figure; the call to New when zero.
	Start time.Time
	// StartupSteps are the caller's own steps before New, after Start,
	// which begin the machine's start-up timeline (MarkStartup).
	StartupSteps []StartupStep
	// Restore, when set, makes the machine from a saved state instead
	// of booting Payload (which must be empty): the board must be a
	// StateBoard, and CPUs, MemBase, MemSize and Devices those of the
	// saved machine.
	Restore *Restore
	// ReadRSS makes Stats read gokvm's resident memory from
	// /proc/self/smaps (--stats). Without it those figures are -1 and
	// Stats opens nothing: the run phase's seccomp filter allows that
	// open only for a machine that asks for the figures.
	ReadRSS bool
	// KVMStats makes Stats read what KVM counted for this VM (exits by
	// reason, halts) and gokvm's CPU times and context switches
	// (--stats): the VM's and vcpus' statistics files are opened while
	// the VM is built.
	KVMStats bool
}

// MinMemSize is the smallest RAM the core accepts; boards check that the
// payload fits.
const MinMemSize = 16 << 20

// ErrUnsupported says the host's KVM lacks a fast path (irqfd,
// ioeventfd); callers fall back to the slow one.
var ErrUnsupported = kvm.ErrUnsupported

// Machine is a built VM, ready to Run.
type Machine struct {
	cfg   Config
	board Board
	log   *log.Logger

	sys     *kvm.System
	vm      *kvm.VM
	mem     *memory.GuestMemory
	vcpus   []*vcpu
	bus     MMIOBus
	placed  []PlacedDevice
	devices []MMIODevice
	dtb     []byte
	closers []io.Closer

	// stateNames name each device's section in a state file
	// (DeviceSpec.StateName), in the order of devices.
	stateNames []string

	// nextSlot is the last KVM memory slot taken; guest RAM is slot 0,
	// devices that map their windows (MapReadOnly) take the next ones.
	nextSlot atomic.Uint32

	firstRun  atomic.Int64 // unix nanoseconds of the first KVM_RUN
	runEnd    atomic.Int64 // unix nanoseconds when Run had stopped the vcpus
	mmioExits atomic.Uint64
	unclaimed atomic.Uint64
	// pulses counts device interrupts raised (DeviceEnv.Pulse: irqfd
	// writes), wakeups the returns of a wait for a guest notification.
	pulses   atomic.Uint64
	wakeups  atomic.Uint64
	counters *kvmCounters // with Config.KVMStats

	runMu   sync.Mutex
	ran     bool           // Run was called
	closing bool           // Close was called
	running sync.WaitGroup // a Run in progress

	faultMu sync.Mutex
	faults  *multierror.Error // device faults (DeviceEnv.Fault)

	// routing is the interrupt routing table of devices' MSIs.
	routing routing

	stopOnce sync.Once
	stopped  chan struct{} // closed when the vcpus must stop
	control  sync.Mutex    // one dump, pause or resume at a time
	pause    pauseState
	startup  startupLog
	prefault *prefaulter // a restore's working set, being prefaulted
}

// New validates cfg, then builds the VM: KVM handles, RAM, irqchip, vcpus,
// devices, and the loaded payload. Problems with cfg come back as
// ConfigError; host problems name what is missing.
func New(cfg Config, board Board) (_ *Machine, err error) {
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.KVMDevice == "" {
		cfg.KVMDevice = kvm.DefaultDevice
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
	if cfg.Restore == nil {
		if err := board.Prepare(cfg.Payload, cfg.MemBase, cfg.MemSize, cfg.CPUs); err != nil {
			return nil, err
		}
	} else if err := prepareRestore(board, cfg); err != nil {
		return nil, err
	}

	m := &Machine{cfg: cfg, board: board, log: cfg.Log, stopped: make(chan struct{})}
	m.startup.steps = append(m.startup.steps, cfg.StartupSteps...)
	defer func() {
		if err != nil {
			if cerr := m.Close(); cerr != nil {
				err = multierror.Append(err, cerr)
			}
		}
	}()
	m.MarkStartup("checked") // the config, and a restore's state file against the board
	if m.sys, err = kvm.OpenSystem(cfg.KVMDevice); err != nil {
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
	m.MarkStartup("VM created")
	if cfg.Restore != nil {
		m.mem, err = memory.NewGuestMemoryFromFile(cfg.MemBase, cfg.MemSize, cfg.Restore.RAM)
	} else {
		m.mem, err = memory.NewGuestMemory(cfg.MemBase, cfg.MemSize)
	}
	if err != nil {
		if errors.Is(err, memory.ErrBadSize) {
			return nil, &ConfigError{Err: err}
		}
		return nil, err
	}
	if err = m.vm.MapMemory(0, m.mem.Base(), m.mem.Bytes()); err != nil {
		return nil, err
	}
	m.MarkStartup("RAM mapped")
	if cfg.Restore != nil && cfg.Restore.WorkingSet != nil {
		m.startPrefault(cfg.Restore.WorkingSet)
	}
	if err = board.CreateIRQChip(m.vm, cfg.CPUs); err != nil {
		return nil, err
	}
	for i := 0; i < cfg.CPUs; i++ {
		v, err := m.vm.CreateVcpu(i)
		if err != nil {
			return nil, err
		}
		m.vcpus = append(m.vcpus, newVcpu(v))
		if err := board.InitVcpu(m.vm, v); err != nil {
			return nil, err
		}
	}
	if cfg.KVMStats {
		m.counters = openKVMCounters(m.vm, m.kvmVcpus())
	}
	if err = board.FinalizeIRQChip(); err != nil {
		return nil, err
	}
	m.MarkStartup("vcpus and GIC made")
	if err = m.addBoardDevices(); err != nil {
		return nil, err
	}
	for _, spec := range cfg.Devices {
		if err = m.addDevice(spec); err != nil {
			return nil, err
		}
	}
	m.MarkStartup("devices made")
	if cfg.Restore != nil {
		// The device tree, kernel and all are in the saved RAM.
		if err = m.restoreState(cfg.Restore); err != nil {
			return nil, err
		}
		m.cfg.Restore = nil
		m.MarkStartup("state restored")
		return m, nil
	}
	if m.dtb, err = board.Boot(m.mem, m.kvmVcpus(), m.placed); err != nil {
		return nil, err
	}
	m.MarkStartup("payload loaded")
	// The payload is in guest RAM now; the caller may release it.
	m.cfg.Payload = Payload{}
	return m, nil
}

func (m *Machine) kvmVcpus() []*kvm.Vcpu {
	out := make([]*kvm.Vcpu, len(m.vcpus))
	for i, v := range m.vcpus {
		out[i] = v.Vcpu
	}
	return out
}

// DeviceTree is the device tree blob handed to the guest.
func (m *Machine) DeviceTree() []byte { return m.dtb }

// Memory is the guest's RAM.
func (m *Machine) Memory() *memory.GuestMemory { return m.mem }

// Devices lists where the board placed each device, in Config order.
func (m *Machine) Devices() []PlacedDevice { return m.placed }

// Close releases everything the machine holds, collecting every error.
// A Run still going is stopped first (it returns OutcomeStopped): the
// vcpus' kvm_run pages must outlive their threads. Devices close next
// (disks flush what the guest wrote), in reverse order of creation.
func (m *Machine) Close() error {
	m.runMu.Lock()
	m.closing = true
	m.stopOnce.Do(func() { close(m.stopped) })
	m.runMu.Unlock()
	m.running.Wait()
	var errs *multierror.Error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i].Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	m.closers = nil
	if m.counters != nil {
		if err := m.counters.close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("closing KVM's statistics: %w", err))
		}
		m.counters = nil
	}
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
		m.vm = nil
	}
	if c, ok := m.board.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("closing the board: %w", err))
		}
	}
	m.awaitPrefault() // it touches RAM until it ends
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
		m.sys = nil
	}
	return errs.ErrorOrNil()
}
