package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
	"github.com/hashicorp/go-multierror"
)

// runCLI runs Main in-process and returns its status and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

// ownLines counts stderr's lines that are gokvm's own, leaving out the
// kvmtool lines it prints besides them (lkvmlines.go).
func ownLines(stderr string) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, kvmtoolFatalPrefix) && l != kvmtoolEndedNormally {
			n++
		}
	}
	return n
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInput: each mistake gets a one-line message naming the problem and
// the usage status, before KVM is touched (these run on any machine).
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	empty := writeFile(t, dir, "empty", nil)
	gzNothing := writeFile(t, dir, "nothing.gz", testimage.Gzip(nil))
	gz := testimage.Gzip(testimage.Arm64(1<<20, 0, 20<<20))
	truncGz := writeFile(t, dir, "Image.gz", gz[:len(gz)-100])
	zimage := writeFile(t, dir, "zImage", testimage.Zimage(8192))
	truncZ := writeFile(t, dir, "zImage.trunc", testimage.Zimage(8192)[:4096])
	bigInitrd := writeFile(t, dir, "big.cpio", make([]byte, 70<<20))
	initrd := writeFile(t, dir, "initrd.cpio", make([]byte, 30<<20))
	absurd := writeFile(t, dir, "Image.absurd", testimage.Arm64(1<<20, 0, ^uint64(0)&^0xfff))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing kernel", []string{"run", "-k", filepath.Join(dir, "nope")}, "kernel " + filepath.Join(dir, "nope") + ": no such file"},
		{"no kernel flag", []string{"run"}, "no kernel given"},
		{"kernel is a directory", []string{"run", "-k", dir}, "is a directory"},
		{"empty kernel", []string{"run", "-k", empty}, "the file is empty"},
		{"gzip of nothing", []string{"run", "-k", gzNothing}, "decompresses to nothing"},
		{"truncated gzip Image", []string{"run", "-k", truncGz}, "gzip stream is truncated"},
		{"zImage without --aarch32", []string{"run", "-k", zimage}, "32-bit ARM zImage (boot it with --aarch32)"},
		{"Image with --aarch32", []string{"run", "--aarch32", "-k", kernel}, "found an arm64 Image; boot it without --aarch32"},
		{"truncated zImage", []string{"run", "--aarch32", "-k", truncZ}, "the zImage is truncated"},
		{"32-bit RAM above 4 GiB", []string{"run", "--aarch32", "-k", zimage, "-m", "4G"}, "must end below 4 GiB"},
		{"initrd larger than RAM", []string{"run", "-k", kernel, "-i", bigInitrd, "-m", "64"}, "does not fit in the guest's 64 MiB"},
		{"missing initrd", []string{"run", "-k", kernel, "-i", filepath.Join(dir, "no.cpio")}, "initrd"},
		{"-m too small", []string{"run", "-k", kernel, "-i", initrd, "-m", "48"}, "-m 48 MiB is too small"},
		{"absurd image_size", []string{"run", "-k", absurd}, "image_size 0xfffffffffffff000 is absurd"},
		{"-m below minimum", []string{"run", "-k", kernel, "-m", "8"}, "too little"},
		{"-m garbage", []string{"run", "-k", kernel, "-m", "lots"}, "not a positive number"},
		{"-m bad address", []string{"run", "-k", kernel, "-m", "256@zz"}, "not a number"},
		{"-m in the device area", []string{"run", "-k", kernel, "-m", "256@0x10000000"}, "overlap the device area"},
		{"-c 0", []string{"run", "-k", kernel, "-c", "0"}, "at least 1 vcpu"},
		{"-c -3", []string{"run", "-k", kernel, "-c", "-3"}, "at least 1 vcpu"},
		{"unknown flag", []string{"run", "-k", kernel, "--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{"bad irqchip", []string{"run", "-k", kernel, "--irqchip", "gicv4"}, "want auto, gicv3, gicv3-its, gicv2 or gicv2m"},
		{"bad sve-max-vl", []string{"run", "-k", kernel, "--sve-max-vl", "100"}, "multiple of 128"},
		{"zero sve-max-vl", []string{"run", "-k", kernel, "--sve-max-vl", "0"}, "multiple of 128"},
		{"sve-max-vl and disable-sve", []string{"run", "-k", kernel, "--sve-max-vl", "256", "--disable-sve"}, "contradict"},
		{"empty vcpu-affinity", []string{"run", "-k", kernel, "--vcpu-affinity", ""}, "empty CPU list"},
		{"bad vcpu-affinity", []string{"run", "-k", kernel, "--vcpu-affinity", "one"}, "is not a CPU number"},
		{"vcpu-affinity beyond the host", []string{"run", "-k", kernel, "--vcpu-affinity", "0,1000"}, "CPU 1000 is not one gokvm may run on"},
		{"stray argument", []string{"run", "-k", kernel, "extra"}, "unexpected argument"},
		{"unknown command", []string{"boot"}, "unknown command"},
		{"missing disk", []string{"run", "-k", kernel, "-d", filepath.Join(dir, "none.img")}, "disk " + filepath.Join(dir, "none.img") + ": no such file"},
		{"disk is a directory", []string{"run", "-k", kernel, "-d", dir}, "is a directory"},
		{"bad disk option", []string{"run", "-k", kernel, "-d", initrd + ",rw"}, "unknown option \"rw\""},
		{"unknown transport", []string{"run", "-k", kernel, "--virtio-transport", "ccw"}, "want mmio, mmio-legacy or pci"},
		{"legacy virtio-pci", []string{"run", "-k", kernel, "--virtio-transport", "pci-legacy"}, "legacy virtio over PCI"},
		{"disk locked", []string{"run", "-k", kernel, "-d", initrd, "-d", initrd}, "in use by another process"},
		{"tap name too long", []string{"run", "-k", kernel, "-n", "mode=tap,tapif=a-very-long-tap-name"}, "interface names have at most 15"},
		{"tap name invalid", []string{"run", "-k", kernel, "-n", "mode=tap,tapif=ta/p"}, "not a valid interface name"},
		{"malformed MAC", []string{"run", "-k", kernel, "-n", "mode=tap,guest_mac=52:54:00:zz:00:01"}, "is not a MAC address"},
		{"multicast MAC", []string{"run", "-k", kernel, "-n", "mode=tap,guest_mac=01:00:5e:00:00:01"}, "multicast"},
		{"bad network mode", []string{"run", "-k", kernel, "-n", "mode=bridge"}, "want tap, user or none"},
		{"bad hostfwd", []string{"run", "-k", kernel, "-n", "mode=user,hostfwd=tcp::99999-:22"}, "nics[0].hostfwd[0]"},
		{"bad network key", []string{"run", "-k", kernel, "-n", "mode=tap,colour=red"}, "unknown key \"colour\""},
		{"kvmtool's network key", []string{"run", "-k", kernel, "-n", "mode=tap,script=/bin/true"}, "script= is a kvmtool key gokvm does not implement"},
		{"kvmtool's scsi disk", []string{"run", "-k", kernel, "-d", "scsi:naa.5001405"}, "vhost-scsi disks (scsi:WWPN) are not implemented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != machine.ExitUsage {
				t.Errorf("exit status %d, want %d", code, machine.ExitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
			if n := ownLines(stderr); n != 1 {
				t.Errorf("the error takes %d lines, want one:\n%s", n, stderr)
			}
		})
	}
}

// TestNoKVM: a host problem is gokvm's failure status, and names the device.
func TestNoKVM(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, tc := range []struct {
		dev, want string
	}{
		{filepath.Join(dir, "kvm"), filepath.Join(dir, "kvm") + " does not exist"},
		{"/dev/null", "/dev/null is not a KVM device"},
	} {
		code, _, stderr := runCLI(t, "run", "-k", kernel, "--kvm-device", tc.dev)
		if code != machine.ExitFailure || !strings.Contains(stderr, tc.want) {
			t.Errorf("--kvm-device %s: status %d, stderr %q; want %d and %q", tc.dev, code, stderr, machine.ExitFailure, tc.want)
		}
	}
}

func TestHelpListsEveryFlagAndStatus(t *testing.T) {
	code, stdout, _ := runCLI(t, "help")
	if code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, want := range []string{"--aarch32", "--firmware", "--firmware-address", "--flash", "--network", "--disk", "--virtio-transport", "--kernel", "--initrd", "--params", "--cpus", "--mem", "--irqchip", "--dump-dtb", "--timeout", "--stats", "--kvm-device", "--config", "--print-config", "--pmu", "--disable-sve", "--sve-max-vl", "--disable-ptrauth", "--vcpu-affinity", "Ctrl-A x"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %s", want)
		}
	}
	for _, code := range []int{machine.ExitPowerOff, machine.ExitFailure, machine.ExitUsage, machine.ExitReset, machine.ExitCrash, machine.ExitTimeout, machine.ExitStopped} {
		if !strings.Contains(stdout, "\n  "+string(rune('0'+code))+"  ") {
			t.Errorf("help does not explain exit status %d", code)
		}
	}
	// Every flag the parser knows is in the help (kvmtool's accepted
	// and refused options are in docs/kvmtool.md, which it names).
	newRunFlags().fs.VisitAll(func(fl *flag.Flag) {
		if _, lkvm := fl.Value.(lkvmFlag); lkvm {
			return
		}
		name := "--" + fl.Name
		if len(fl.Name) == 1 {
			name = "-" + fl.Name + ","
		}
		if !strings.Contains(stdout, name) {
			t.Errorf("help lacks %s", name)
		}
	})
	if !strings.Contains(stdout, "docs/kvmtool.md") {
		t.Errorf("help does not point to docs/kvmtool.md")
	}
	if _, err := parseRunFlags([]string{"-k", "x", "--help"}); err == nil {
		t.Errorf("--help not recognised")
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "gokvm ") {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestEscapeFilter(t *testing.T) {
	quit := 0
	f := &escapeFilter{r: strings.NewReader("ab\x01\x01c\x01zd\x01x"), quit: func() { quit++ }}
	var out bytes.Buffer
	buf := make([]byte, 2)
	for {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if out.String() != "ab\x01c\x01zd" || quit != 1 {
		t.Errorf("filtered %q, quit %d times; want %q and 1", out.String(), quit, "ab\x01c\x01zd")
	}
}

func TestErrorLineJoinsCollectedErrors(t *testing.T) {
	err := multierror.Append(errors.New("disk a.img: flush: input/output error"),
		multierror.Append(errors.New("closing vcpu 1: bad file descriptor"), errors.New("two\nlines")))
	if got, want := errorLine(err), "disk a.img: flush: input/output error; closing vcpu 1: bad file descriptor; two lines"; got != want {
		t.Errorf("errorLine = %q, want %q", got, want)
	}
	if got := errorLine(multierror.Append(nil, errors.New("only one"))); got != "only one" {
		t.Errorf("errorLine of one collected error = %q", got)
	}
}

// TestShareFlag: --9p DIR[,TAG][,ro] is repeatable, reaches the spec (and
// --print-config), and each mistake is a one-line usage error naming it.
func TestShareFlag(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	o, err := parseRunFlags([]string{"-k", kernel, "--9p", a + ",host", "--9p", b + ",ro_share,ro,mounts=/usr:/home"})
	if err != nil {
		t.Fatal(err)
	}
	want := []machine.Share{{Dir: a, Tag: "host"}, {Dir: b, Tag: "ro_share", ReadOnly: true, Mounts: []string{"/usr", "/home"}}}
	if !reflect.DeepEqual(o.spec.Shares, want) {
		t.Errorf("shares %+v, want %+v", o.spec.Shares, want)
	}
	// kvmtool's DIR alone: its default tag.
	if o, err := parseRunFlags([]string{"-k", kernel, "--9p", a}); err != nil || len(o.spec.Shares) != 1 || o.spec.Shares[0].Tag != "kvm_9p" {
		t.Errorf("--9p DIR: %+v, %v; want the tag kvm_9p", o, err)
	}
	code, stdout, _ := runCLI(t, "run", "-k", kernel, "--9p", b+",t,ro", "--print-config")
	if code != 0 || !strings.Contains(stdout, `"shares": [`) || !strings.Contains(stdout, `"tag": "t"`) || !strings.Contains(stdout, `"read_only": true`) {
		t.Errorf("--print-config: status %d\n%s", code, stdout)
	}
	if _, stdout, _ := runCLI(t, "help"); !strings.Contains(stdout, "--9p DIR[,TAG][,ro]") {
		t.Errorf("help lacks --9p")
	}
	for _, tc := range []struct {
		name, arg, want string
	}{
		{"empty tag", a + ",", "want DIR[,TAG][,ro]"},
		{"bad option", a + ",t,rw", `unknown option "rw"`},
		{"relative mount", a + ",t,mounts=usr", `shares[0].mounts[0]: "usr" is not an absolute path`},
		{"empty mount", a + ",t,mounts=/usr:", "an empty path in mounts="},
		{"missing dir", filepath.Join(dir, "none") + ",t", "shares[0].dir"},
		{"a file", kernel + ",t", "is not a directory"},
		{"long tag", a + "," + strings.Repeat("x", 32), "longer than 31 bytes"},
	} {
		code, _, stderr := runCLI(t, "run", "-k", kernel, "--9p", tc.arg)
		if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("--9p %s (%s): status %d, stderr %q; want %d and %q", tc.arg, tc.name, code, stderr, machine.ExitUsage, tc.want)
		}
	}
	code, _, stderr := runCLI(t, "run", "-k", kernel, "--9p", a+",same", "--9p", b+",same")
	if code != machine.ExitUsage || !strings.Contains(stderr, "shares[1].tag") {
		t.Errorf("two shares with one tag: status %d, stderr %q", code, stderr)
	}
}

// TestRestoreFlag: --restore takes only the flags that say how the
// restored machine runs, and a file that is not a usable state is a usage
// error naming what is wrong, before anything runs.
func TestRestoreFlag(t *testing.T) {
	dir := t.TempDir()
	junk := writeFile(t, dir, "junk.state", []byte("not a state file at all"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a machine flag", []string{"--restore", junk, "-c", "2"}, "--restore: -c cannot be given"},
		{"a kernel", []string{"--restore", junk, "--kernel", "Image"}, "--restore: --kernel cannot be given"},
		{"missing", []string{"--restore", filepath.Join(dir, "none")}, "no such file"},
		{"not a state", []string{"--restore", junk}, "not a gokvm state file"},
	} {
		code, _, stderr := runCLI(t, append([]string{"run"}, tc.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: status %d, stderr %q; want %d and %q", tc.name, code, stderr, machine.ExitUsage, tc.want)
		}
	}
}
