package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/machine"
)

// `make compat` runs each case below once under kvmtool's `lkvm run` and
// once under `gokvm run`, with the same options, in one emulated arm64 host
// (or directly on an arm64 host with /dev/kvm): a script that swaps lkvm for
// gokvm, which is what issue 20 asks gokvm to survive. Each run is judged by
// the lines its guest printed and its exit status (compat_table.go).

// compatCase is one payload and the kvmtool-style options that boot it.
type compatCase struct {
	name string
	// args follow `lkvm run` and `gokvm run` alike; $GUEST is the
	// directory of the payloads, $WORK the run's scratch directory.
	args []string
	// before prepares $WORK (a disk image) with the host's helper tool.
	before [][]string
	expect compatExpect
	note   string
}

// compatDiskSeed and compatDiskMiB make the disk image of the virtio-blk
// case: pattern data whose SHA-256 the guest must print.
const (
	compatDiskSeed = 20
	compatDiskMiB  = 4
)

// compatBase are the options every case starts with, so that both VMMs
// build the same machine. --nodefaults keeps kvmtool from adding
// `console=ttyS0 root=/dev/vda rw` and its 9p root; -n mode=none from
// adding the user-mode NIC it makes even then (virtio/net.c); virtio over
// MMIO (the virtio-pci case says so itself); the irqchip the emulated host
// has, so neither VMM guesses.
func compatBase(gic int) []string {
	return []string{"--nodefaults", "-n", "mode=none", "--virtio-transport", "mmio", "--irqchip", fmt.Sprintf("gicv%d", gic)}
}

// compatPCIBase is compatBase with virtio over PCI, kvmtool's arm64
// default, and the host's MSI controller: the GICv3's ITS or a GICv2m
// frame.
func compatPCIBase(gic int) []string {
	return []string{"--nodefaults", "-n", "mode=none", "--virtio-transport", "pci", "--irqchip", harness.MSIIRQChip(gic)}
}

// compatLinuxParams is the kernel command line for guestinit actions.
// quiet keeps kernel messages from splitting the init's lines; the
// emergency-level ones still print (reboot's "Restarting system"), and
// printk.time=0 starts them at the line's start, where judgeRun looks.
func compatLinuxParams(actions string) string {
	return "console=ttyS0 quiet printk.time=0 panic=-1 gokvm.do=" + actions
}

// compatCases is every case, for an emulated host with GIC version gic;
// tool is the host's helper command (hostinit) as the runs see it.
func compatCases(gic int, tool string) []compatCase {
	base := compatBase(gic)
	linux := func(actions string, extra ...string) []string {
		args := append(append([]string{}, base...), "-m", "256")
		args = append(args, extra...)
		return append(args, "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-p", compatLinuxParams(actions))
	}
	poweroff := compatExpect{markers: []string{"GOKVM-GUEST-MARKER", "GUEST-POWEROFF"}}
	diskSHA := pattern.SHA256(pattern.Bytes(compatDiskSeed, compatDiskMiB<<20))
	cases := []compatCase{
		{name: "arm64 Image, initramfs", args: linux("marker,poweroff", "-c", "1"), expect: poweroff,
			note: "Debian's arm64 kernel; its init prints a marker and powers off"},
		{name: "arm64 Image, initramfs, 2 vcpus", args: linux("marker,cpus,poweroff", "-c", "2"),
			expect: compatExpect{markers: []string{"GOKVM-GUEST-MARKER", "GUEST-CPUS-ONLINE 0-1 "}},
			note:   "the guest sees both vcpus online"},
		{name: "arm64 Image, virtio-blk disk", args: linux("modules,sha:vda,poweroff", "-c", "1", "-d", "$WORK/disk.img"),
			before: [][]string{{tool, "mkrand", "$WORK/disk.img", fmt.Sprint(compatDiskSeed), fmt.Sprint(compatDiskMiB)}},
			expect: compatExpect{markers: []string{fmt.Sprintf("GUEST-SHA vda %s %d", diskSHA, compatDiskMiB<<20)}},
			note:   "the guest reads the whole disk over virtio-mmio and prints its SHA-256"},
		{name: "arm64 Image, virtio-blk disk over PCI with MSIs",
			args: append(append(compatPCIBase(gic), "-m", "256", "-c", "1", "-d", "$WORK/disk.img"),
				"-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-p", compatLinuxParams("modules,sha:vda,poweroff")),
			before: [][]string{{tool, "mkrand", "$WORK/disk.img", fmt.Sprint(compatDiskSeed), fmt.Sprint(compatDiskMiB)}},
			expect: compatExpect{markers: []string{fmt.Sprintf("GUEST-SHA vda %s %d", diskSHA, compatDiskMiB<<20)}},
			note:   "the same over virtio-pci (kvmtool's default on arm64), MSI-X through the ITS or GICv2m"},
		{name: "arm64 Image, guest reboots", args: linux("marker,reboot", "-c", "1"),
			expect: compatExpect{markers: []string{"GUEST-REBOOTING", "reboot: Restarting system"},
				gokvmExit: machine.ExitReset},
			note: fmt.Sprintf("PSCI SYSTEM_RESET: kvmtool exits 0 as on a power-off, gokvm %d (docs/kvmtool.md)", machine.ExitReset)},
		{name: "AArch32 zImage, initramfs", args: append(append(append([]string{}, base...), "-m", "256", "-c", "1", "--aarch32"),
			"-k", "$GUEST/zImage", "-i", "$GUEST/initrd32.cpio", "-p", compatLinuxParams("marker,uname,poweroff")),
			expect: compatExpect{markers: []string{"GOKVM-GUEST-MARKER", "GUEST-UNAME armv7l"}},
			note:   "Debian's armhf kernel; needs a host CPU with AArch32 at EL1, else both fail"},
	}
	for _, p := range harness.HelloPayloads {
		c := compatCase{
			name: "flat payload " + p.File,
			args: append(append(append([]string{}, base...), harness.HelloRunArgs...), p.Args...),
			expect: compatExpect{markers: []string{tinyguest.HelloLine(p.Tag, "vcpu0 ok"), tinyguest.HelloLine(p.Tag, "vcpu1 up")},
				forbidden: tinyguest.HelloLine(p.Tag, "FAIL")},
			note: fmt.Sprintf("entered at %#x with the device tree at %#x; prints, starts vcpu 1 by PSCI CPU_ON, powers off", p.Load, p.FDT),
		}
		if p.A32 {
			c.note = "A32: " + c.note
		}
		cases = append(cases, c)
	}
	return cases
}

// cmdline is the case's options as a shell would show them, for the table.
func (c compatCase) cmdline() string {
	var words []string
	for _, a := range c.args {
		if strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// compatRunner turns cases into the scenarios the host runs.
type compatRunner struct {
	tool    string        // the helper tool (hostinit) as scenarios run it
	peerBin string        // lkvm's path as scenarios run it
	timeout time.Duration // a run still going after this is killed and fails
}

// scenarioName is the scenario of case i under a VMM ("kvmtool", "gokvm").
func scenarioName(vmm string, i int) string { return fmt.Sprintf("compat-%s-%d", vmm, i) }

// scenarios are each case under kvmtool, then under gokvm: the same
// options after `run`, only the program differs.
func (r compatRunner) scenarios(cases []compatCase) []scenario.Scenario {
	var ss []scenario.Scenario
	for i, c := range cases {
		args := append([]string{"run"}, c.args...)
		peer := scenario.Scenario{Name: scenarioName("kvmtool", i), Timeout: r.timeout, Before: c.before}
		peer.Program, peer.Args = peerCommand(r.tool, r.peerBin, args)
		ss = append(ss, peer, scenario.Scenario{Name: scenarioName("gokvm", i), Timeout: r.timeout, Before: c.before, Args: args})
	}
	return ss
}

// peerCommand is how a scenario runs kvmtool with args: the binary itself
// on an arm64 host, or through the emulated host's helper tool, which
// gives it a HOME for its state (hostinit's execPeer).
func peerCommand(tool, peerBin string, args []string) (program string, argv []string) {
	if harness.Direct() {
		return peerBin, args
	}
	return tool, append([]string{"lkvm"}, args...)
}

// compatRows judges every case's two runs; a run missing from res (the host
// stopped early) counts as a failure with no output.
func compatRows(cases []compatCase, res map[string]scenario.Result) []compatRow {
	var rows []compatRow
	for i, c := range cases {
		judge := func(vmm string) compatOutcome {
			r, ok := res[scenarioName(vmm, i)]
			if !ok {
				return compatOutcome{exit: -1, lost: true}
			}
			return judgeRun(r.Output(), r.Exit, r.TimedOut, c.expect, vmm == "kvmtool")
		}
		rows = append(rows, compatRow{name: c.name, cmdline: c.cmdline(), note: c.note,
			kvmtool: judge("kvmtool"), gokvm: judge("gokvm")})
	}
	return rows
}

// runCompat runs every case under both VMMs, writes the table to out and
// prints it, with each failed run's console and stderr on stderr. It
// returns how many cases gokvm fails that kvmtool passes.
func runCompat(b *harness.Build, host harness.Host, peer string, timeout time.Duration, out string) (int, error) {
	r := compatRunner{tool: "/init", peerBin: peer, timeout: timeout}
	if harness.Direct() {
		r.tool = b.HostInit // hostinit is the helper tool when it is not pid 1
	} else {
		if b.HostFiles == nil {
			b.HostFiles = map[string]string{}
		}
		b.HostFiles["bin/lkvm"] = peer
	}
	if err := harness.WriteHelloPayloads(b); err != nil {
		return 0, err
	}
	cases := compatCases(host.GIC, r.tool)
	ss := r.scenarios(cases)
	// Every run may take its whole time limit, and the host boots first.
	res, where, err := runScenarios(b, host, ss, time.Duration(len(ss))*(timeout+15*time.Second)+10*time.Minute)
	if err != nil {
		if res == nil {
			return 0, err
		}
		// Some runs came back: the table shows the rest as lost.
		fmt.Fprintf(os.Stderr, "emuhost: %v\n", err)
	}
	rows := compatRows(cases, res)
	for i, row := range rows {
		for _, vmm := range []struct {
			name string
			o    compatOutcome
		}{{"kvmtool", row.kvmtool}, {"gokvm", row.gokvm}} {
			if !vmm.o.passed() && !vmm.o.lost {
				run := res[scenarioName(vmm.name, i)]
				fmt.Fprintf(os.Stderr, "--- %s under %s failed (%s)\nconsole:\n%s\nstderr:\n%s\nnotes:\n%s\n",
					row.name, vmm.name, vmm.o, tailLines(run.Output(), 40), run.Stderr, notes(run))
			}
		}
	}
	doc := fmt.Sprintf("kvmtool's lkvm (%s) and gokvm with the same `run` options, %s, %s; a run still going after %s is killed and fails\n\n%s",
		filepath.Base(peer), where, time.Now().Format("2006-01-02"), timeout, compatTable(rows))
	fmt.Print(doc)
	if out != "" {
		if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
			return 0, err
		}
	}
	regressions := 0
	for _, row := range rows {
		if row.gokvmRegresses() {
			regressions++
		}
	}
	return regressions, nil
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
