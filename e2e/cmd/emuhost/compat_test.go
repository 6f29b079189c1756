package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// TestCompatScenariosSwapOnlyTheVMM: each case runs twice, under kvmtool and
// under gokvm, with the same `run` options, the same preparation and the
// same time limit.
func TestCompatScenariosSwapOnlyTheVMM(t *testing.T) {
	cases := compatCases(3, "/init")
	r := compatRunner{tool: "/init", peerBin: "/bin/lkvm", timeout: 42 * time.Second}
	ss := r.scenarios(cases)
	if len(ss) != 2*len(cases) {
		t.Fatalf("%d scenarios for %d cases", len(ss), len(cases))
	}
	for i, c := range cases {
		peer, gokvm := ss[2*i], ss[2*i+1]
		if peer.Name != scenarioName("kvmtool", i) || gokvm.Name != scenarioName("gokvm", i) {
			t.Errorf("case %d: names %q, %q", i, peer.Name, gokvm.Name)
		}
		if gokvm.Program != "" || gokvm.Args[0] != "run" || !slices.Equal(gokvm.Args[1:], c.args) {
			t.Errorf("%s: gokvm runs %q %q", c.name, gokvm.Program, gokvm.Args)
		}
		wantProg, wantArgs := "/init", append([]string{"lkvm"}, gokvm.Args...)
		if harness.Direct() {
			wantProg, wantArgs = "/bin/lkvm", gokvm.Args
		}
		if peer.Program != wantProg || !slices.Equal(peer.Args, wantArgs) {
			t.Errorf("%s: kvmtool runs %q %q, want %q %q", c.name, peer.Program, peer.Args, wantProg, wantArgs)
		}
		for _, s := range []scenario.Scenario{peer, gokvm} {
			if s.Timeout != r.timeout {
				t.Errorf("%s: timeout %v", s.Name, s.Timeout)
			}
			if len(s.Before) != len(c.before) {
				t.Errorf("%s: %d commands before, the case has %d", s.Name, len(s.Before), len(c.before))
			}
		}
	}
}

// TestCompatCasesCoverTheBrief: the cases issue 20 names are there, each
// with the irqchip of the host and markers to look for.
func TestCompatCasesCoverTheBrief(t *testing.T) {
	cases := compatCases(2, "/init")
	want := map[string][]string{
		"arm64 Image, initramfs":                          {"-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio"},
		"arm64 Image, initramfs, 2 vcpus":                 {"-c", "2"},
		"arm64 Image, virtio-blk disk":                    {"-d", "$WORK/disk.img"},
		"arm64 Image, virtio-blk disk over PCI with MSIs": {"--virtio-transport", "pci", "--irqchip", "gicv2m"},
		"arm64 Image, guest reboots":                      {"-k", "$GUEST/Image"},
		"AArch32 zImage, initramfs":                       {"--aarch32", "-k", "$GUEST/zImage"},
		"flat payload hello.flat":                         {"-k", "$GUEST/hello.flat"},
		"flat payload hello32.flat":                       {"--aarch32", "-k", "$GUEST/hello32.flat"},
		"flat payload hello.fw":                           {"--firmware", "$GUEST/hello.fw"},
	}
	for _, c := range cases {
		if a := " " + strings.Join(c.args, " ") + " "; !strings.Contains(a, " --irqchip gicv2 ") && !strings.Contains(a, " --irqchip gicv2m ") {
			t.Errorf("%s: no --irqchip gicv2 or gicv2m in %q", c.name, c.args)
		}
		if len(c.expect.markers) == 0 {
			t.Errorf("%s: nothing to look for", c.name)
		}
		if words, ok := want[c.name]; ok {
			if !strings.Contains(strings.Join(c.args, " "), strings.Join(words, " ")) {
				t.Errorf("%s: %q lacks %q", c.name, c.args, words)
			}
			delete(want, c.name)
		}
		if c.expect.kvmtoolExit != 0 || (c.expect.gokvmExit != 0) != strings.Contains(c.name, "reboot") {
			t.Errorf("%s: expected statuses kvmtool %d gokvm %d", c.name, c.expect.kvmtoolExit, c.expect.gokvmExit)
		}
	}
	for name := range want {
		t.Errorf("no case %q", name)
	}
}

// TestCompatOptionsAreKvmtools: every option the cases give is one of
// kvmtool's, as docs/kvmtool.md's option table (checked against gokvm's
// parser by cmd/gokvm's TestLkvmOptionDocs) lists them, so the command
// lines are ones lkvm takes.
func TestCompatOptionsAreKvmtools(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/kvmtool.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "<!-- lkvm-options:")
	table, _, ok2 := strings.Cut(table, "<!-- end of lkvm-options -->")
	if !ok || !ok2 {
		t.Fatal("docs/kvmtool.md has no lkvm-options table")
	}
	known := map[string]bool{}
	// The first cell names the option and its forms: `-c`, `--cpus N`.
	option := regexp.MustCompile("(?:^|[ `])(-{1,2}[a-z0-9][a-z0-9-]*)")
	for _, line := range strings.Split(table, "\n") {
		cell, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		if !strings.HasPrefix(line, "| `") || !ok {
			continue
		}
		for _, m := range option.FindAllStringSubmatch(cell, -1) {
			known[m[1]] = true
		}
	}
	if !known["--nodefaults"] || !known["-k"] {
		t.Fatalf("read no options from the table: %v", known)
	}
	for _, c := range compatCases(3, "/init") {
		for _, a := range c.args {
			if strings.HasPrefix(a, "-") && !known[a] {
				t.Errorf("%s: %s is not a kvmtool option", c.name, a)
			}
		}
	}
}

// TestCompatCasesParseUnderGokvm: gokvm takes every case's command line
// (--print-config reads the options and opens nothing).
func TestCompatCasesParseUnderGokvm(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "gokvm")
	build := exec.Command(gobin, "build", "-o", bin, "github.com/gokvm/gokvm/cmd/gokvm")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building gokvm: %v\n%s", err, out)
	}
	for _, c := range compatCases(3, "/init") {
		args := append(append([]string{"run"}, c.args...), "--print-config")
		for i, a := range args {
			args[i] = strings.NewReplacer("$GUEST", "/guest", "$WORK", "/work").Replace(a)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("%s: gokvm %q: %v\n%s", c.name, args, err, out)
		}
	}
}

func TestCompatRowsJudgeEachVMM(t *testing.T) {
	cases := []compatCase{
		{name: "a", args: []string{"-p", "console=ttyS0 quiet"}, expect: compatExpect{markers: []string{"OK"}, gokvmExit: 3}},
		{name: "b", expect: compatExpect{markers: []string{"OK"}}},
	}
	res := map[string]scenario.Result{
		scenarioName("kvmtool", 0): {Exit: 0, Lines: []scenario.Line{{Text: "OK"}}},
		scenarioName("gokvm", 0):   {Exit: 3, Lines: []scenario.Line{{Text: "OK"}}},
		scenarioName("kvmtool", 1): {Exit: 0, Lines: []scenario.Line{{Text: "OK"}}},
		// gokvm's run of b never came back.
	}
	rows := compatRows(cases, res)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	if !rows[0].kvmtool.passed() || !rows[0].gokvm.passed() || rows[0].gokvmRegresses() {
		t.Errorf("row a: %+v", rows[0])
	}
	if rows[0].cmdline != `-p "console=ttyS0 quiet"` {
		t.Errorf("row a's command line %s", rows[0].cmdline)
	}
	if !rows[1].gokvm.lost || !rows[1].gokvmRegresses() {
		t.Errorf("row b: %+v", rows[1])
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines("a\nb\nc\n", 2); got != "...\nb\nc" {
		t.Errorf("tailLines = %q", got)
	}
	if got := tailLines("a\nb", 5); got != "a\nb" {
		t.Errorf("tailLines = %q", got)
	}
}
