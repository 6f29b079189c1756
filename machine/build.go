package machine

import (
	"io"
	"log"
	"runtime/debug"
	"time"

	"github.com/gokvm/gokvm/arch/arm"
	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/pci"
	"github.com/gokvm/gokvm/symbols"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/seccomp"
	"github.com/hashicorp/go-multierror"
)

// Options are how the built machine meets its caller: where the console
// goes, where diagnostics go.
type Options struct {
	// Stdout receives what the guest writes to its console (discarded
	// when nil); Stdin, when not nil, is fed to it while the guest runs.
	Stdout io.Writer
	Stdin  io.Reader
	// Log receives gokvm's own diagnostics; nil discards them.
	Log *log.Logger
	// Start is when the caller started, for --stats; now when zero.
	Start time.Time
	// StartupSteps are the caller's steps before Build, for --stats'
	// start-up timeline (vmm.Config.StartupSteps).
	StartupSteps []vmm.StartupStep
	// NoRNGSeed leaves the device tree's rng-seed out, so the same spec
	// gives the same device tree blob byte for byte.
	NoRNGSeed bool
	// Initrd, when not nil, is the initial ramdisk's contents, built in
	// memory by the caller (gokvm sandbox); the spec's Initrd must then
	// be empty.
	Initrd []byte
	// Devices are more devices, placed after the console UART (the
	// sandbox's second UART and status device).
	Devices []vmm.DeviceSpec
	// SystemCalls are more calls the run phase's seccomp filter allows,
	// for what the caller does while the guest runs (a control socket, a
	// CPU profile's timers).
	SystemCalls []seccomp.Call
	// Restore, when set, makes the machine from a saved state instead
	// of booting the spec's kernel: the spec must be Restore's
	// RestoreSpec. Build closes Restore.
	Restore *Saved
	// Stats makes Stats read gokvm's resident memory from
	// /proc/self/smaps (--stats), and the seccomp filter let it be
	// opened, for reading; without it those figures are -1.
	Stats bool
	// BatchHelperThreads puts the process's threads on SCHED_BATCH as
	// Run starts, but for the vcpus' (vmm.BatchHelperThreads): the
	// helpers then never preempt a vcpu when they wake. It changes the
	// whole process for good, and what it starts later: for a process
	// that runs virtual machines, as gokvm run and gokvm sandbox do.
	BatchHelperThreads bool
	// Recorder, when set, reads the guest's console (beside Stdout)
	// into a results document and gets each vcpu's backtrace when the
	// spec's timeout passes (--results, --bisect-status); the caller
	// calls its Finish once the run ended. With a results file, the
	// seccomp filter lets it be renamed into place after the run.
	Recorder *Recorder
	// Symbols is a System.map or an ELF vmlinux of the guest kernel
	// (--symbols), loaded by Build: vcpu dumps (DumpVcpus, a timeout,
	// SIGUSR1) name the functions of an AArch64 guest's kernel stack
	// with it, and DWARF line numbers when the vmlinux has them.
	// Without it they show the stack's addresses. An AArch32 guest
	// refuses it (a vmm.ConfigError): its dump has registers only.
	Symbols string
}

// Machine is a VM built from a Spec: the core machine and what the
// builder opened for it.
type Machine struct {
	*vmm.Machine
	spec    Spec
	timeout time.Duration
	log     *log.Logger
	// deviceStats are the devices with counters of their own.
	deviceStats []deviceStats
	// callerCalls are Options.SystemCalls.
	callerCalls []seccomp.Call
	// stats is Options.Stats.
	stats bool
	// batchHelpers is Options.BatchHelperThreads.
	batchHelpers bool
	// console is the console UART, for SysRq.
	console vmm.MMIODevice
	// backends are what the builder opened for devices; they are closed
	// here only when building fails (a device owns its backend once the
	// machine is built).
	backends []io.Closer
	// board is the mach-virt board, for backtraces.
	board *arm64.Board
	// syms is Options.Symbols loaded, nil without; closed by Close.
	syms *symbols.Table
	// rec is Options.Recorder.
	rec *Recorder
}

// Build checks the spec, opens what it names (kernel, initrd, disks,
// taps) and builds the machine. A problem with the spec or the files it
// names is a vmm.ConfigError; everything opened is closed again on error.
func Build(s Spec, o Options) (_ *Machine, err error) {
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.Restore != nil {
		// Closed on every return, a spec that does not resolve too:
		// the RAM file is mapped by then, when the build gets that far.
		defer o.Restore.Close()
	}
	r, err := s.resolve()
	if err != nil {
		return nil, err
	}
	m := &Machine{spec: r.spec, timeout: r.timeout, log: o.Log, callerCalls: o.SystemCalls, stats: o.Stats, rec: o.Recorder, batchHelpers: o.BatchHelperThreads}
	defer func() {
		if err != nil {
			if cerr := m.closeBackends(); cerr != nil {
				err = multierror.Append(err, cerr)
			}
			m.syms.Close()
		}
	}()
	var payload vmm.Payload
	release := func() {}
	if o.Restore == nil {
		payload, release, err = mapPayload(r)
		if err != nil {
			return nil, err
		}
		if r.spec.Firmware != "" && r.spec.Initrd != "" {
			o.Log.Printf("initrd %s ignored: a firmware image boots (--firmware), and kvmtool ignores an initrd then", r.spec.Initrd)
		}
	}
	defer release()
	if o.Symbols != "" {
		if r.spec.AArch32 {
			return nil, vmm.Configf("symbols %s: backtraces are for AArch64 guests; an AArch32 guest's vcpu dump shows its registers", o.Symbols)
		}
		if m.syms, err = symbols.Load(o.Symbols); err != nil {
			return nil, &vmm.ConfigError{Err: err}
		}
	}
	o.Stdout = consoleOut(o.Stdout, o.Recorder)

	if o.Initrd != nil {
		if r.spec.Initrd != "" {
			return nil, vmm.Configf("an initrd given twice: %s and one built in memory", r.spec.Initrd)
		}
		payload.Initrd = o.Initrd
	}
	console, virtioConsole := consoleDevices(r, o)
	console[0] = m.keepConsole(console[0])
	devices := append(console, o.Devices...)
	disks, err := m.openDisks(r)
	if err != nil {
		return nil, err
	}
	nics, err := m.openNICs(r)
	if err != nil {
		return nil, err
	}
	shares, err := m.openShares(r)
	if err != nil {
		return nil, err
	}
	flash, err := m.openFlash(r)
	if err != nil {
		return nil, err
	}
	devices = append(append(append(append(devices, flash...), disks...), nics...), shares...)
	vsockDev, err := m.openVsock(r)
	if err != nil {
		return nil, err
	}
	devices = append(devices, vsockDev...)
	// After the other virtio devices, whose addresses stay as they were.
	devices = append(append(devices, virtioConsole...), rngDevices(r, o)...)
	if r.pci {
		// The host bridge's configuration space, behind its functions.
		devices = append(devices, pci.HostSpec())
	}

	cfg := vmm.Config{
		KVMDevice:    r.spec.KVMDevice,
		CPUs:         r.spec.CPUs,
		MemSize:      r.mem.size,
		MemBase:      r.mem.base,
		MemBaseSet:   r.mem.baseSet,
		Payload:      payload,
		Devices:      devices,
		VcpuAffinity: r.affinity,
		Log:          o.Log,
		Start:        o.Start,
		StartupSteps: o.StartupSteps,
		ReadRSS:      o.Stats,
		KVMStats:     o.Stats,
	}
	if o.Restore != nil {
		h := o.Restore.File.Header.RAM
		cfg.Restore = &vmm.Restore{State: o.Restore.File, RAM: o.Restore.ram, WorkingSet: o.Restore.WorkingSet}
		cfg.MemBase, cfg.MemBaseSet = h.Base, true
	}
	boardOpts := arm64.Options{IRQChip: r.irqchip, NoRNGSeed: o.NoRNGSeed, Log: o.Log, PCI: r.pci, CPU: arm64.CPUFeatures{
		PMU: r.spec.PMU, DisableSVE: r.spec.DisableSVE, SVEMaxVL: r.spec.SVEMaxVL, DisablePtrAuth: r.spec.DisablePtrAuth,
	}}
	m.board = arm64.New(boardOpts)
	if r.spec.AArch32 {
		m.board = arm.New(boardOpts)
	}
	vm, err := vmm.New(cfg, m.board)
	release() // the payload is in guest RAM now, or not needed
	if o.Restore == nil {
		// Return a decompressed kernel's heap pages to the OS before
		// the guest runs: gokvm's own footprint stays small. A restore
		// loaded no payload, and a forced collection would only delay
		// its first KVM_RUN.
		debug.FreeOSMemory()
	}
	if err != nil {
		return nil, err
	}
	m.Machine = vm
	m.backends = nil // the devices own them now
	// Booted or restored, the guest's memory is the machine's now.
	m.board.SetBacktrace(vm.Memory(), m.syms)
	return m, nil
}

// Spec is the machine's spec with every default filled in.
func (m *Machine) Spec() Spec { return m.spec }

// Close stops the devices (disks flush what the guest wrote), closes
// everything the machine opened, and reports every error.
func (m *Machine) Close() error {
	var errs *multierror.Error
	if m.Machine != nil {
		if err := m.Machine.Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if err := m.syms.Close(); err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}

func (m *Machine) closeBackends() error {
	var errs *multierror.Error
	for i := len(m.backends) - 1; i >= 0; i-- {
		if err := m.backends[i].Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	m.backends = nil
	return errs.ErrorOrNil()
}

// DeviceStats describes each NIC's traffic and each 9p share's reads and
// writes, one line per device, for --stats.
func (m *Machine) DeviceStats() []string {
	var out []string
	for _, d := range m.deviceStats {
		out = append(out, d.name+": "+d.stats())
	}
	return out
}
