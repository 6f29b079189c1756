package vmm

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/memory"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

// A machine's state is saved while it is paused and restored into a
// machine built from the same spec, before it runs: the vcpus' registers,
// the in-kernel interrupt controller and every device, each a section of
// a state file (vmm/snapshot), and guest RAM in a file of its own. The
// architecture saves its part (StateBoard), each device its own
// (StateDevice); the core knows neither.

// StateDevice is a device whose state can be saved while the machine is
// paused, and restored into a device made from the same spec before the
// machine runs. A machine with a device that is not one cannot be saved.
type StateDevice interface {
	SaveState() ([]byte, error)
	RestoreState(state []byte) error
}

// StateBoard is a board that can save and restore the architecture's
// part of a machine.
type StateBoard interface {
	// HostState is what a restore needs to find again on the host (the
	// interrupt controller, the vcpu features).
	HostState() snapshot.Host
	// PrepareRestore is Prepare for a machine restored from a state
	// saved on host h, instead of booted: it fails, naming what differs,
	// when h's machine cannot be made here (another interrupt
	// controller, a vcpu feature this host lacks), and readies the board
	// to make vcpus as they were made (the same features).
	PrepareRestore(h snapshot.Host, ramBase, ramSize uint64, cpus int) error
	// SaveVcpu returns a vcpu's state; RestoreVcpu puts it back into a
	// vcpu made the same way. Both run while the vcpu is out of the
	// guest.
	SaveVcpu(v *kvm.Vcpu) ([]byte, error)
	RestoreVcpu(v *kvm.Vcpu, state []byte) error
	// SaveIRQChip and RestoreIRQChip do the same for the interrupt
	// controller, after every vcpu's registers (a GICv3's redistributors
	// and CPU interfaces are per vcpu).
	SaveIRQChip(vcpus []*kvm.Vcpu) ([]byte, error)
	RestoreIRQChip(vcpus []*kvm.Vcpu, state []byte) error
}

// Restore is the saved machine a Config restores instead of booting a
// payload.
type Restore struct {
	// State is the state file, read and checked.
	State *snapshot.File
	// RAM is the saved RAM file, mapped copy-on-write.
	RAM *os.File
	// WorkingSet, when set, are the pages an earlier run of the same
	// saved machine touched: prefaulted beside the restore, before the
	// vcpus run (Prefaulted says how it went).
	WorkingSet memory.WorkingSet
}

// ErrNotSaveable says the machine has a part that cannot be saved.
var ErrNotSaveable = errors.New("this machine cannot be saved")

// Section names.
func vcpuSection(i int) string         { return fmt.Sprintf("vcpu%d", i) }
func deviceSection(name string) string { return "device/" + name }

const irqchipSection = "irqchip"

// stateWait is how long a paused vcpu's thread has to answer.
const stateWait = 5 * time.Second

// SaveState saves the paused machine: it writes RAM to ram and returns
// what the host must have and the sections of the state file.
func (m *Machine) SaveState(ram *os.File) (snapshot.Host, []snapshot.Section, error) {
	sb, ok := m.board.(StateBoard)
	if !ok {
		return snapshot.Host{}, nil, fmt.Errorf("%w: the %s board has no saved state", ErrNotSaveable, m.board.Name())
	}
	if !m.Paused() {
		return snapshot.Host{}, nil, errors.New("saving a machine's state: the machine is not paused")
	}
	var devs []StateDevice
	for i, d := range m.devices {
		sd, ok := d.(StateDevice)
		if !ok {
			return snapshot.Host{}, nil, fmt.Errorf("%w: device %s has no saved state yet", ErrNotSaveable, m.placed[i].Name)
		}
		devs = append(devs, sd)
	}
	var sections []snapshot.Section
	states := make([][]byte, len(m.vcpus))
	errs := make([]error, len(m.vcpus))
	save := func(v *kvm.Vcpu) { states[v.ID], errs[v.ID] = sb.SaveVcpu(v) }
	if m.vcpusStarted() {
		// On each vcpu's thread, its last exit completed first.
		err := m.OnVcpus(func(v *kvm.Vcpu) {
			if errs[v.ID] = v.CompletePending(); errs[v.ID] == nil {
				save(v)
			}
		}, stateWait)
		if err != nil {
			return snapshot.Host{}, nil, err
		}
	} else {
		// Paused before Run: no vcpu has an exit to complete.
		for _, v := range m.vcpus {
			save(v.Vcpu)
		}
	}
	for i := range m.vcpus {
		if errs[i] != nil {
			return snapshot.Host{}, nil, fmt.Errorf("saving vcpu %d: %w", i, errs[i])
		}
		sections = append(sections, snapshot.Section{Name: vcpuSection(i), Data: states[i]})
	}
	gic, err := sb.SaveIRQChip(m.kvmVcpus())
	if err != nil {
		return snapshot.Host{}, nil, fmt.Errorf("saving the interrupt controller: %w", err)
	}
	sections = append(sections, snapshot.Section{Name: irqchipSection, Data: gic})
	for i, d := range devs {
		st, err := d.SaveState()
		if err != nil {
			return snapshot.Host{}, nil, fmt.Errorf("saving device %s: %w", m.placed[i].Name, err)
		}
		sections = append(sections, snapshot.Section{Name: deviceSection(m.stateNames[i]), Data: st})
	}
	if err := m.mem.WriteRAM(ram); err != nil {
		return snapshot.Host{}, nil, fmt.Errorf("saving guest RAM to %s: %w", ram.Name(), err)
	}
	return sb.HostState(), sections, nil
}

// restoreState puts a saved machine's state into this one, built from the
// same spec with RAM mapped from the saved file, before it runs.
func (m *Machine) restoreState(r *Restore) error {
	sb, ok := m.board.(StateBoard)
	if !ok {
		return fmt.Errorf("%w: the %s board has no saved state", ErrNotSaveable, m.board.Name())
	}
	section := func(name string) ([]byte, error) {
		d, ok := r.State.Section(name)
		if !ok {
			return nil, &ConfigError{Err: fmt.Errorf("the state file has no section %s (saved from another machine?)", name)}
		}
		return d, nil
	}
	for _, v := range m.vcpus {
		st, err := section(vcpuSection(v.ID))
		if err != nil {
			return err
		}
		if err := sb.RestoreVcpu(v.Vcpu, st); err != nil {
			return fmt.Errorf("restoring vcpu %d: %w", v.ID, err)
		}
	}
	if _, extra := r.State.Section(vcpuSection(len(m.vcpus))); extra {
		return &ConfigError{Err: fmt.Errorf("the state file has more vcpus than the machine's %d", len(m.vcpus))}
	}
	gic, err := section(irqchipSection)
	if err != nil {
		return err
	}
	if err := sb.RestoreIRQChip(m.kvmVcpus(), gic); err != nil {
		return fmt.Errorf("restoring the interrupt controller: %w", err)
	}
	for i, d := range m.devices {
		name := m.placed[i].Name
		sd, ok := d.(StateDevice)
		if !ok {
			return fmt.Errorf("%w: device %s has no saved state yet", ErrNotSaveable, name)
		}
		st, err := section(deviceSection(m.stateNames[i]))
		if err != nil {
			return err
		}
		if err := sd.RestoreState(st); err != nil {
			return fmt.Errorf("restoring device %s: %w", name, err)
		}
	}
	return nil
}

// prepareRestore checks a restore's config against its state file and
// readies the board.
func prepareRestore(board Board, cfg Config) error {
	sb, ok := board.(StateBoard)
	if !ok {
		return fmt.Errorf("%w: the %s board has no saved state", ErrNotSaveable, board.Name())
	}
	h := cfg.Restore.State.Header
	switch {
	case len(cfg.Payload.Kernel) > 0 || len(cfg.Payload.Initrd) > 0 || len(cfg.Payload.Firmware) > 0:
		return Configf("a restored machine boots no kernel, initrd or firmware: it goes on from its saved state")
	case h.RAM.Base != cfg.MemBase || h.RAM.Size != cfg.MemSize:
		return Configf("the state file's RAM is %d MiB at %#x, the machine's %d MiB at %#x", h.RAM.Size>>20, h.RAM.Base, cfg.MemSize>>20, cfg.MemBase)
	}
	return sb.PrepareRestore(h.Host, cfg.MemBase, cfg.MemSize, cfg.CPUs)
}

// vcpusStarted reports whether the vcpus have threads, or are about to
// (Run was called).
func (m *Machine) vcpusStarted() bool {
	for _, v := range m.vcpus {
		if v.hasThread() {
			return true
		}
	}
	return false
}
