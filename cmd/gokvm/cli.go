package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/arch/arm"
	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
	"golang.org/x/sys/unix"
)

// Env is the process environment Main works in, so tests can drive it.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals, when not nil, delivers signals; Main subscribes to SIGINT,
	// SIGTERM (stop) and SIGUSR1 (vcpu dump) itself when nil.
	Signals <-chan os.Signal
}

const usageText = `gokvm boots Linux guest kernels on KVM/ARM hosts.

Usage:
  gokvm run -k KERNEL [flags]   boot a guest; its serial console is this terminal
  gokvm version                 print the version
  gokvm help                    print this help

Flags of gokvm run (kvmtool's lkvm run spellings):
  -k, --kernel FILE      arm64 Image to boot, raw or gzip-compressed (required);
                         with --aarch32, a 32-bit ARM zImage
      --aarch32          boot a 32-bit ARM (AArch32) guest kernel: a zImage with
                         Cortex-A15 cpus, RAM below 4 GiB. gokvm does not guess:
                         a zImage given without --aarch32 is refused, saying so.
                         Implied on 32-bit ARM hosts
  -i, --initrd FILE      initial ramdisk
  -p, --params STRING    kernel command line
  -c, --cpus N           number of vcpus (default 1)
  -m, --mem SIZE[@ADDR]  guest RAM in MiB, or with a K/M/G/T suffix, optionally at
                         guest-physical ADDR (default 256, at 0x80000000)
      --irqchip CHIP     auto, gicv3 or gicv2 (default auto: GICv3, else GICv2)
      --dump-dtb FILE    write the generated device tree blob to FILE and exit
      --timeout DUR      stop the guest after DUR (e.g. 90s, 5m) with status 5,
                         first printing where each vcpu was
      --stats            print boot and exit figures to stderr when the guest stops
      --kvm-device PATH  the KVM device (default /dev/kvm)
  -d, --disk FILE[,ro][,direct][,serial=ID]
                         a raw disk image as a virtio-blk device; repeat for more
                         (the guest's vda, vdb, ... in order). ro: read-only;
                         direct: O_DIRECT; serial: the GET_ID answer (default:
                         the file name). Images are locked against a second
                         writer.
  -n, --network mode=tap[,tapif=NAME][,guest_mac=MAC] | mode=none
                         a virtio-net device on a tap interface; repeat for more
                         NICs. An existing tap is attached; one that does not
                         exist is created, brought up, and removed on exit.
                         Default tapif: gokvmN; default MAC: 52:54:00 and a hash
                         of the tap name. Needs CAP_NET_ADMIN to create taps.
      --virtio-transport T
                         mmio (virtio-mmio version 2, default) or mmio-legacy
                         (version 1, for old guest kernels)

The console: the guest's first serial port (ttyS0) is gokvm's standard output,
and standard input goes to it. When standard input is a terminal it is put in
raw mode; type Ctrl-A x to stop the guest, Ctrl-A Ctrl-A to send a Ctrl-A.

Signals: SIGINT and SIGTERM stop the guest (status 6). SIGUSR1 prints to
stderr where each vcpu is (its power state, pc, lr and mode) and the guest
runs on: for a guest that seems stuck.

`

// Main runs gokvm with args (without the program name) and returns its exit
// status.
func Main(args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usageText+exitStatusHelp)
		return ExitUsage
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], env)
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "gokvm %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	fmt.Fprintf(env.Stderr, "gokvm: unknown command %q (want run, version or help)\n", args[0])
	return ExitUsage
}

// runOptions are gokvm run's parsed flags.
type runOptions struct {
	kernel, initrd, params string
	cpus                   int
	mem                    memSpec
	irqchip                arm64.IRQChip
	dumpDTB                string
	timeout                time.Duration
	stats                  bool
	kvmDevice              string
	aarch32                bool
	disks                  diskFlags
	nets                   netFlags
	transport              virtio.TransportVersion
}

func parseRunFlags(args []string, stderr io.Writer) (*runOptions, error) {
	o := &runOptions{}
	fs := flag.NewFlagSet("gokvm run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	str := func(p *string, def string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, "")
		}
	}
	str(&o.kernel, "", "k", "kernel")
	str(&o.initrd, "", "i", "initrd")
	str(&o.params, "", "p", "params")
	var mem, irqchip string
	str(&mem, "256", "m", "mem")
	str(&irqchip, string(arm64.IRQChipAuto), "irqchip")
	str(&o.dumpDTB, "", "dump-dtb")
	str(&o.kvmDevice, vmm.DefaultDevice, "kvm-device")
	fs.IntVar(&o.cpus, "c", 1, "")
	fs.IntVar(&o.cpus, "cpus", 1, "")
	fs.DurationVar(&o.timeout, "timeout", 0, "")
	fs.BoolVar(&o.stats, "stats", false, "")
	fs.BoolVar(&o.aarch32, "aarch32", false, "")
	fs.Var(&o.disks, "d", "")
	fs.Var(&o.disks, "disk", "")
	fs.Var(&o.nets, "n", "")
	fs.Var(&o.nets, "network", "")
	var transport string
	str(&transport, "mmio", "virtio-transport")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%v (see gokvm help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see gokvm help)", fs.Arg(0))
	}
	if o.kernel == "" {
		return nil, errors.New("no kernel given: use -k/--kernel FILE")
	}
	if o.cpus < 1 {
		return nil, fmt.Errorf("-c %d: a guest needs at least 1 vcpu", o.cpus)
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("--timeout %v is negative", o.timeout)
	}
	var err error
	if o.mem, err = parseMem(mem); err != nil {
		return nil, err
	}
	if o.irqchip, err = arm64.ParseIRQChip(irqchip); err != nil {
		return nil, err
	}
	if o.transport, err = parseTransport(transport); err != nil {
		return nil, err
	}
	// A 32-bit ARM host runs only 32-bit guests.
	o.aarch32 = o.aarch32 || runtime.GOARCH == "arm"
	return o, nil
}

func runCommand(args []string, env Env) int {
	start := time.Now()
	logger := log.New(env.Stderr, "gokvm: ", 0)
	o, err := parseRunFlags(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	if err != nil {
		logger.Print(errorLine(err))
		return ExitUsage
	}
	payload, release, err := readPayload(o)
	if err != nil {
		logger.Print(errorLine(err))
		return ExitUsage
	}
	defer release()

	devices, closeDisks, err := openDisks(o, logger)
	if err != nil {
		logger.Print(errorLine(err))
		return ExitUsage
	}
	// The machine flushes and closes the disks; this catches the paths
	// where no machine was built.
	defer closeDisks()
	nets, nics, closeTaps, err := openNetworks(o, logger)
	if err != nil {
		logger.Print(errorLine(err))
		var tce *virtio.TapConfigError
		if errors.As(err, &tce) {
			return ExitUsage
		}
		return ExitFailure
	}
	// Runs after the machine's Close has stopped the devices; a tap gokvm
	// created disappears here.
	defer closeTaps()
	devices = append(devices, nets...)

	console := newConsole(env.Stdin, env.Stdout)
	cfg := vmm.Config{
		KVMDevice:    o.kvmDevice,
		CPUs:         o.cpus,
		MemSize:      o.mem.size,
		MemBase:      o.mem.base,
		MemBaseSet:   o.mem.baseSet,
		Payload:      payload,
		Console:      env.Stdout,
		ConsoleInput: console.input(),
		Devices:      devices,
		Log:          logger,
		Start:        start,
	}
	boardOpts := arm64.Options{IRQChip: o.irqchip, NoRNGSeed: o.dumpDTB != ""}
	var board vmm.Board = arm64.New(boardOpts)
	if o.aarch32 {
		board = arm.New(boardOpts)
	}
	m, err := vmm.New(cfg, board)
	release() // the payload is in guest RAM now, or not needed
	// Return a decompressed kernel's heap pages to the OS before the
	// guest runs: gokvm's own footprint stays small.
	debug.FreeOSMemory()
	if err != nil {
		logger.Print(errorLine(err))
		if vmm.IsConfigError(err) {
			return ExitUsage
		}
		return ExitFailure
	}
	defer func() {
		if err := m.Close(); err != nil {
			logger.Print(errorLine(err))
		}
	}()
	if o.dumpDTB != "" {
		if err := os.WriteFile(o.dumpDTB, m.DeviceTree(), 0o644); err != nil {
			logger.Printf("--dump-dtb: %v", err)
			return ExitFailure
		}
		return 0
	}

	sigs := env.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
		defer signal.Stop(ch)
		sigs = ch
	}
	var timeout <-chan time.Time
	if o.timeout > 0 {
		t := time.NewTimer(o.timeout)
		defer t.Stop()
		timeout = t.C
	}
	// Cancelling with DeadlineExceeded as the cause makes Run report a
	// timeout; a nil cause, a stop.
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					m.DumpVcpus(logWriter{logger})
					continue
				}
				logger.Printf("%v: stopping the guest", s)
				stop(nil)
			case <-timeout:
				// Where the vcpus were is what a timed-out boot test
				// needs to know first.
				logger.Printf("timeout: the guest ran for %v", o.timeout)
				m.DumpVcpus(logWriter{logger})
				stop(context.DeadlineExceeded)
			case <-console.escaped():
				stop(nil)
			case <-ctx.Done():
			}
			return
		}
	}()
	// A console reader that goes away (gokvm ... | head) must not kill
	// gokvm before it flushes the guest's disks: the UART drops the bytes.
	signal.Ignore(syscall.SIGPIPE)
	restore := console.makeRaw()
	outcome, err := m.Run(ctx)
	restore()
	if o.stats {
		s := m.Stats()
		logger.Printf("stats: first KVM_RUN %.1f ms after start; %d MMIO exits; RSS without guest RAM %d KiB",
			float64(s.ToFirstRun.Microseconds())/1000, s.MMIOExits, s.RSSWithoutGuestKiB)
		for i, n := range nics {
			logger.Printf("stats: nic%d: %s", i, &n.Stats)
		}
	}
	if err != nil {
		logger.Print(errorLine(err))
		return ExitFailure
	}
	if outcome != vmm.OutcomePowerOff {
		logger.Printf("guest %s", outcome)
	}
	return exitFor(outcome)
}

// openDisks opens every -d image (so a bad one fails before KVM is
// touched) and describes a virtio-blk device for each, in order.
func openDisks(o *runOptions, logger *log.Logger) ([]vmm.DeviceSpec, func(), error) {
	var disks []*virtio.Disk
	closeAll := func() {
		for _, d := range disks {
			d.Close()
		}
	}
	var specs []vmm.DeviceSpec
	for i, opts := range o.disks {
		d, err := virtio.OpenDisk(opts)
		if err != nil {
			closeAll()
			return nil, func() {}, err
		}
		if d.Size()%virtio.SectorSize != 0 {
			logger.Printf("disk %s: %d bytes is not a multiple of %d; the guest sees %d sectors and not the last %d bytes",
				opts.Path, d.Size(), virtio.SectorSize, d.Sectors(), d.Size()%virtio.SectorSize)
		}
		disks = append(disks, d)
		specs = append(specs, virtio.Spec(fmt.Sprintf("virtio-blk%d", i), o.transport, virtio.NewBlock(d, logger)))
	}
	return specs, closeAll, nil
}

// readPayload maps the kernel and initrd files named on the command line.
// They are mapped, not read, so that once copied into guest RAM they stop
// counting against gokvm's own memory; release unmaps them.
func readPayload(o *runOptions) (p vmm.Payload, release func(), err error) {
	var maps [][]byte
	release = func() {
		for _, m := range maps {
			unix.Munmap(m)
		}
		maps = nil
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	if p.Kernel, err = mapInput("kernel", o.kernel); err != nil {
		return p, release, err
	}
	maps = append(maps, p.Kernel)
	if o.initrd != "" {
		if p.Initrd, err = mapInput("initrd", o.initrd); err != nil {
			return p, release, err
		}
		maps = append(maps, p.Initrd)
	}
	p.Cmdline = o.params
	return p, release, nil
}

// mapInput maps a whole input file read-only.
func mapInput(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s %s: no such file", what, path)
		}
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s %s: is a directory", what, path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s %s: not a regular file", what, path)
	case fi.Size() == 0:
		return nil, fmt.Errorf("%s %s: the file is empty", what, path)
	case fi.Size() > 1<<40:
		return nil, fmt.Errorf("%s %s: %d bytes is too large", what, path, fi.Size())
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s %s: mapping: %v", what, path, err)
	}
	return b, nil
}

// errorLine flattens a multi-line error into one line for the log.
func errorLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
