package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// lkvmHandling is what gokvm run does with one of kvmtool's lkvm run
// options.
type lkvmHandling int

const (
	// lkvmImplemented: gokvm does what kvmtool does; parseRunFlags
	// defines the flag with the rest of gokvm's.
	lkvmImplemented lkvmHandling = iota
	// lkvmAccepted: taken and ignored, since gokvm needs to do nothing
	// for it (with a note on stderr where a user would be surprised).
	lkvmAccepted
	// lkvmRefused: gokvm does not do it; the run stops with status 2 and
	// a message naming the option.
	lkvmRefused
)

func (h lkvmHandling) String() string {
	switch h {
	case lkvmImplemented:
		return "implemented"
	case lkvmAccepted:
		return "accepted, ignored"
	}
	return "refused"
}

// lkvmOption is one option of kvmtool's lkvm run.
type lkvmOption struct {
	long  string // without the dashes
	short string // kvmtool's one-letter form, if it has one
	arg   string // the argument it takes, as kvmtool's help names it; "" for a switch
	how   lkvmHandling
	// doc is the docs' line: for an implemented option how gokvm's
	// differs, for an accepted one why nothing needs doing, for a refused
	// one what kvmtool does with it.
	doc string
	// note, for an accepted option, is printed on stderr when it is
	// given, where its user would expect something to happen.
	note string
}

// lkvmOptions are kvmtool's lkvm run options for arm64 guests, in the
// order of its help: builtin-run.c's BUILD_OPTIONS and
// arm64/include/kvm/kvm-config-arch.h's OPT_ARCH_RUN, as of kvmtool's
// master in June 2026. docs/kvmtool.md and the README's table are made
// from it (TestLkvmOptionDocs), so they cannot say otherwise.
var lkvmOptions = []lkvmOption{
	// Basic options.
	{long: "name", arg: "NAME", how: lkvmImplemented, doc: "the VM's name for `gokvm list`, `stop`... (1-48 letters, digits, `.`, `_`, `-`); kvmtool's default name is `guest-PID`, gokvm's is none (no control socket)"},
	{long: "cpus", short: "c", arg: "N", how: lkvmImplemented, doc: "kvmtool's default is every online host CPU, gokvm's is 1"},
	{long: "mem", short: "m", arg: "SIZE[@ADDR]", how: lkvmImplemented, doc: "kvmtool's units (`B`, `K`, `M`, `G`, `T`, `P`; MiB without one) for SIZE and ADDR; a hex ADDR without a unit is a byte address. kvmtool's default is 64 MiB per vcpu plus 192 MiB, gokvm's is 256 MiB"},
	{long: "disk", short: "d", arg: "IMAGE[,ro][,direct]", how: lkvmImplemented, doc: "raw images (kvmtool also reads qcow1 and qcow2); kvmtool's `-d DIR` (a 9p root directory) and `-d scsi:WWPN` (vhost-scsi) are refused; gokvm adds `serial=ID`"},
	{long: "balloon", how: lkvmRefused, doc: "a virtio-balloon device"},
	{long: "vnc", how: lkvmRefused, doc: "a framebuffer shown over VNC"},
	{long: "gtk", how: lkvmRefused, doc: "a framebuffer shown in a GTK window"},
	{long: "sdl", how: lkvmRefused, doc: "a framebuffer shown in an SDL window"},
	{long: "rng", how: lkvmImplemented, doc: "a virtio-rng device"},
	{long: "nodefaults", how: lkvmAccepted, doc: "gokvm has no implicit configuration to turn off: it never adds to the kernel command line, boots no default 9p root file system and makes no NIC unless asked, as kvmtool does with `--nodefaults`"},
	{long: "9p", arg: "DIR[,TAG]", how: lkvmImplemented, doc: "TAG defaults to kvmtool's `kvm_9p`; gokvm adds `ro` and `mounts=`"},
	{long: "console", arg: "serial|virtio|hv", how: lkvmImplemented, doc: "`serial` and `virtio`, and gokvm's `pl011`; `hv` (a POWER hypervisor console, nothing on arm64) is refused"},
	{long: "vsock", arg: "CID", how: lkvmImplemented, doc: "a vhost-vsock device"},
	{long: "dev", arg: "FILE", how: lkvmImplemented, doc: "the KVM device (default `/dev/kvm`), as gokvm's `--kvm-device`"},
	{long: "tty", arg: "N", how: lkvmRefused, doc: "serial port N on a host pseudo-terminal"},
	{long: "sandbox", arg: "SCRIPT", how: lkvmRefused, doc: "run SCRIPT in kvmtool's default root file system; gokvm's is `gokvm sandbox -- CMD`"},
	{long: "hugetlbfs", arg: "PATH", how: lkvmRefused, doc: "guest RAM from a hugetlbfs mount"},
	{long: "virtio-legacy", how: lkvmRefused, doc: "legacy virtio over PCI (deprecated for `--virtio-transport pci-legacy`)"},
	{long: "virtio-transport", arg: "pci|pci-legacy|mmio|mmio-legacy", how: lkvmImplemented, doc: "`mmio` (gokvm's default), `mmio-legacy` and `pci` (kvmtool's default on arm64: modern virtio-pci functions on a PCI host bridge at kvmtool's addresses); `pci-legacy` is refused"},
	{long: "loglevel", arg: "error|warning|info|debug", how: lkvmImplemented, doc: "at `error` and `warning` gokvm leaves out kvmtool's `Info:` line at the end (its own messages stay)"},
	// Kernel options.
	{long: "kernel", short: "k", arg: "FILE", how: lkvmImplemented, doc: "also given, as kvmtool takes it, as the first argument that is not an option; kvmtool without one looks for a kernel in `./bzImage` and `/boot`, gokvm does not"},
	{long: "initrd", short: "i", arg: "FILE", how: lkvmImplemented, doc: "the initial RAM disk"},
	{long: "params", short: "p", arg: "PARAMS", how: lkvmImplemented, doc: "the command line as given; kvmtool without `--nodefaults` adds `console=ttyS0` (or `hvc0`) and `root=/dev/vda rw` to it, gokvm never does"},
	{long: "firmware", short: "f", arg: "FILE", how: lkvmImplemented, doc: "loaded as it is at the start of RAM and entered there, the device tree at the next 2 MiB boundary after it; `-i` is ignored with a warning and `-k` with it refused, as in kvmtool"},
	{long: "flash", short: "F", arg: "FILE", how: lkvmImplemented, doc: "a CFI flash at 0x2000000 over FILE's first power-of-two bytes (64 KiB to 16 MiB); a program clears bits and never sets one, as on a real flash (kvmtool copies the data over)"},
	// Networking options.
	{long: "network", short: "n", arg: "PARAMS", how: lkvmImplemented, doc: "`mode=tap\\|user\\|none`, `tapif`, `guest_mac`, `vhost`, and `-n` alone (a tap NIC); the keys `script`, `downscript`, `guest_ip`, `host_ip`, `fd`, `mq` and `trans` are refused by name. gokvm's user mode has QEMU's addresses (10.0.2.15) and `hostfwd`; kvmtool's has 192.168.33.15. Without `-n`, kvmtool makes a user-mode NIC and gokvm none"},
	{long: "no-dhcp", how: lkvmAccepted, doc: "it only changes the command line kvmtool writes for its default root file system, which gokvm does not have"},
	// VFIO options.
	{long: "vfio-pci", arg: "[DOMAIN:]BUS:DEV.FN", how: lkvmRefused, doc: "give the guest a host PCI device"},
	// Debug options.
	{long: "debug", how: lkvmImplemented, doc: "as `--loglevel debug`"},
	{long: "debug-single-step", how: lkvmRefused, doc: "single-step the guest, printing its registers at each step"},
	{long: "debug-ioport", how: lkvmAccepted, doc: "an arm64 guest makes no port I/O"},
	{long: "debug-mmio", how: lkvmAccepted, doc: "gokvm always logs MMIO accesses that hit no device (the first ten, then every thousandth)"},
	{long: "debug-iodelay", arg: "MS", how: lkvmRefused, doc: "delay each I/O by MS milliseconds"},
	// Arch-specific options (arm64).
	{long: "aarch32", how: lkvmImplemented, doc: "a 32-bit guest"},
	{long: "pmu", how: lkvmImplemented, doc: "a PMUv3 per vcpu"},
	{long: "disable-mte", how: lkvmAccepted, doc: "gokvm gives no guest MTE (kvmtool does where the host has it)"},
	{long: "vcpu-affinity", arg: "CPULIST", how: lkvmImplemented, doc: "pin the vcpu threads"},
	{long: "kaslr-seed", arg: "N", how: lkvmRefused, doc: "a fixed `/chosen/kaslr-seed` (gokvm gives every boot a random `rng-seed`)"},
	{long: "no-pvtime", how: lkvmAccepted, doc: "gokvm gives no stolen-time (pvtime) device"},
	{long: "sve-max-vl", arg: "BITS", how: lkvmImplemented, doc: "kvmtool wants a power of 2, gokvm any multiple of 128"},
	{long: "dump-dtb", arg: "FILE", how: lkvmImplemented, doc: "gokvm writes it and exits 0 without running the guest; kvmtool runs the guest too"},
	{long: "override-bad-firmware-cntfrq", arg: "HZ", how: lkvmRefused, doc: "a `clock-frequency` in the timer's device tree node, for hosts whose firmware left CNTFRQ wrong"},
	{long: "force-pci", how: lkvmRefused, doc: "virtio over PCI (deprecated for `--virtio-transport pci`, which gokvm takes)"},
	{long: "irqchip", arg: "gicv2|gicv2m|gicv3|gicv3-its", how: lkvmImplemented, doc: "all four, and gokvm's `auto` (the default: GICv3, else GICv2; with `--virtio-transport pci` each with its MSI controller, an ITS or a GICv2m frame)"},
	{long: "firmware-address", arg: "ADDR", how: lkvmImplemented, doc: "an address in RAM, 4-byte aligned; without `--firmware` refused (kvmtool ignores it)"},
	{long: "psci", how: lkvmAccepted, doc: "kvmtool handles PSCI calls itself with it; the guest sees the same PSCI from KVM's in-kernel implementation, which gokvm always uses", note: "--psci: PSCI stays in KVM (gokvm has no PSCI of its own); the guest sees the same calls"},
	{long: "counter-offset", arg: "N", how: lkvmRefused, doc: "offset the guest's counter (KVM_ARM_SET_COUNTER_OFFSET)"},
	{long: "nested", how: lkvmRefused, doc: "start the vcpus at EL2, for nested virtualisation"},
	{long: "e2h0", how: lkvmRefused, doc: "with `--nested`, a guest EL2 without VHE"},
	{long: "protected", how: lkvmRefused, doc: "a protected VM under pKVM"},
}

// lkvmRefusedValues are kvmtool's values of implemented options that
// gokvm does not implement, refused by name (the docs of the option name
// them too; TestLkvmOptionDocs checks).
var lkvmRefusedValues = map[string]map[string]string{
	"virtio-transport": {"pci-legacy": "legacy virtio over PCI"},
	"console":          {"hv": "a POWER hypervisor console, which kvmtool has on no ARM machine"},
}

// checkLkvmValues refuses, by name, the values in lkvmRefusedValues.
func checkLkvmValues(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		v := fl.Value.String()
		if what, ok := lkvmRefusedValues[fl.Name][v]; ok && err == nil {
			err = fmt.Errorf("--%s %s is a kvmtool option value gokvm does not implement: %s", fl.Name, v, what)
		}
	})
	return err
}

// errLkvmRefused stops the flag parser at a refused option; lkvmState
// says which.
var errLkvmRefused = errors.New("a kvmtool option gokvm does not implement")

// lkvmState records the accepted and refused options a command line gave.
type lkvmState struct {
	refusedName string // the refused option given first, as given
	refusedOpt  *lkvmOption
	accepted    []*lkvmOption
}

// lkvmFlag is the flag.Value of an accepted or refused option. Refused
// ones are switches whatever their argument, so that they are refused by
// name even when their argument is missing.
type lkvmFlag struct {
	name string
	opt  *lkvmOption
	st   *lkvmState
}

func (f lkvmFlag) String() string { return "" }

func (f lkvmFlag) IsBoolFlag() bool { return f.opt.arg == "" || f.opt.how == lkvmRefused }

func (f lkvmFlag) Set(string) error {
	if f.opt.how == lkvmRefused {
		if f.st.refusedOpt == nil {
			f.st.refusedName, f.st.refusedOpt = f.name, f.opt
		}
		return errLkvmRefused
	}
	f.st.accepted = append(f.st.accepted, f.opt)
	return nil
}

// defineLkvmFlags defines kvmtool's accepted and refused options in fs;
// implemented ones are gokvm's own flags.
func defineLkvmFlags(fs *flag.FlagSet, st *lkvmState) {
	for i := range lkvmOptions {
		o := &lkvmOptions[i]
		if o.how == lkvmImplemented {
			continue
		}
		for _, name := range o.names() {
			fs.Var(lkvmFlag{name: name, opt: o, st: st}, name, "")
		}
	}
}

// names are the option's spellings without dashes.
func (o *lkvmOption) names() []string {
	if o.short != "" {
		return []string{o.short, o.long}
	}
	return []string{o.long}
}

// refusal is the usage error for the refused option a command line gave.
func (st *lkvmState) refusal() error {
	o := st.refusedOpt
	name := "--" + st.refusedName
	if o.short == st.refusedName {
		name = "-" + o.short + " (--" + o.long + ")"
	}
	return fmt.Errorf("%s is a kvmtool option gokvm does not implement: %s", name, strings.TrimSuffix(stripMarkdown(o.doc), "."))
}

// notes are the stderr lines for the accepted options given that need
// one, each once.
func (st *lkvmState) notes() []string {
	var out []string
	seen := map[*lkvmOption]bool{}
	for _, o := range st.accepted {
		if o.note != "" && !seen[o] {
			seen[o] = true
			out = append(out, o.note)
		}
	}
	return out
}

// stripMarkdown drops the docs' backquotes and table escapes for a
// message on a terminal.
func stripMarkdown(s string) string {
	return strings.NewReplacer("`", "", `\|`, "|").Replace(s)
}

// lkvmShortWithValue are kvmtool's one-letter options that take a value,
// which kvmtool's parser also takes attached (-m512, -kImage).
func lkvmShortWithValue(c byte) bool {
	for _, o := range lkvmOptions {
		if o.short != "" && o.short[0] == c && o.arg != "" {
			return true
		}
	}
	return false
}

// flagLookup says whether name is one of gokvm run's flags, and whether
// it takes a value.
type flagLookup func(name string) (known, takesValue bool)

// kvmtoolArgs rewrites the forms of kvmtool's option parser (git's
// parse-options) that Go's flag package reads otherwise: a one-letter
// option's value attached to it (-m512, -c2, -kImage: only where the
// whole word is not one of gokvm's flags, so -pmu stays --pmu), and -n
// without a value (last, or before another option), which is a tap NIC
// with kvmtool's defaults. Arguments after -- are left alone.
func kvmtoolArgs(args []string, lookup flagLookup) []string {
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		known, takesValue := lookup(name)
		switch {
		case !known && a[1] != '-' && lkvmShortWithValue(a[1]):
			out = append(out, a[:2], a[2:])
		case (name == "n" || name == "network") && !hasValue && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")):
			out = append(out, a, "mode=tap")
		case known && takesValue && !hasValue && i+1 < len(args):
			out = append(out, a, args[i+1])
			i++
		default:
			out = append(out, a)
		}
	}
	return out
}
