// Package harness builds what the end-to-end tests boot (gokvm for arm64,
// the guest initramfs, the emulated host's initramfs) and runs scenarios:
// inside an emulated arm64 host under qemu-system-aarch64 on other machines,
// or directly on an arm64 host with /dev/kvm.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/u-root/u-root/pkg/cpio"
)

// Kernels is where testdata/kernels/fetch.sh put the guest kernels.
func Kernels() string {
	if d := os.Getenv("GOKVM_KERNELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "gokvm", "kernels")
}

// RepoRoot finds the module root from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Direct reports whether this machine can run gokvm itself: an arm64 host
// with /dev/kvm.
func Direct() bool {
	if runtime.GOARCH != "arm64" {
		return false
	}
	_, err := os.Stat("/dev/kvm")
	return err == nil
}

// Build holds the built artifacts.
type Build struct {
	Dir        string // scratch directory holding everything below
	Gokvm      string // gokvm for linux/arm64
	GuestDir   string // Image, initrd.cpio, and other guest payloads
	HostInit   string // the emulated host's /init
	HostKernel string // the emulated host's kernel
	// HostModules are kernel modules for the emulated host (tun), by
	// file name.
	HostModules map[string]string
	// HostFiles are more files for the emulated host's initramfs, by
	// their path in it (e.g. bin/busybox, lib/modules/...), and
	// HostLinks its symlinks (path -> target).
	HostFiles map[string]string
	HostLinks map[string]string
}

// GoBuild cross-compiles a package of this module for goarch.
func GoBuild(root, pkg, goarch, out string) error {
	// -s -w as `make build` does: no symbol table or DWARF (stack traces
	// and profiles use the pclntab), so the binaries are what ships.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if goarch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %v\n%s", pkg, goarch, err, b)
	}
	return nil
}

// AddTestBinary builds package pkg's test binary (GoTestBuild, pkg
// relative to the repository) into the guest directory as name, where a
// scenario runs it as $GUEST/name.
func (b *Build) AddTestBinary(pkg, name string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	return GoTestBuild(root, pkg, filepath.Join(b.GuestDir, name))
}

// GoTestBuild cross-compiles a package's test binary (go test -c) for
// linux/arm64, to run where KVM/arm64 is: in the emulated host, or here.
func GoTestBuild(root, pkg, out string) error {
	cmd := exec.Command("go", "test", "-c", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c %s for arm64: %v\n%s", pkg, err, b)
	}
	return nil
}

// Prepare builds gokvm, the inits and the guest initramfs into dir.
func Prepare(dir string) (*Build, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	kernels := Kernels()
	image := filepath.Join(kernels, "arm64", "Image")
	if _, err := os.Stat(image); err != nil {
		return nil, fmt.Errorf("no guest kernel at %s: run `make kernels` (testdata/kernels/fetch.sh) first", image)
	}
	b := &Build{
		Dir:        dir,
		Gokvm:      filepath.Join(dir, "gokvm"),
		GuestDir:   filepath.Join(dir, "guest"),
		HostInit:   filepath.Join(dir, "hostinit"),
		HostKernel: image,
	}
	if err := os.MkdirAll(b.GuestDir, 0o755); err != nil {
		return nil, err
	}
	guestInit := filepath.Join(dir, "guestinit")
	for _, x := range []struct{ pkg, out string }{
		{"./cmd/gokvm", b.Gokvm},
		{"./e2e/guestinit", guestInit},
		{"./e2e/hostinit", b.HostInit},
	} {
		if err := GoBuild(root, x.pkg, "arm64", x.out); err != nil {
			return nil, err
		}
	}
	if err := copyFile(image, filepath.Join(b.GuestDir, "Image")); err != nil {
		return nil, err
	}
	// The guest kernel's symbols (fetch.sh rebuilds a System.map from
	// the Image's kallsyms), for --symbols.
	if err := copyFile(filepath.Join(kernels, "arm64", "System.map"), filepath.Join(b.GuestDir, "System.map")); err != nil {
		return nil, err
	}
	files := map[string]string{"init": guestInit}
	mods, _ := filepath.Glob(filepath.Join(kernels, "arm64", "modules", "*.ko"))
	b.HostModules = map[string]string{}
	for _, m := range mods {
		if filepath.Base(m) == "tun.ko" {
			b.HostModules["tun.ko"] = m
			continue
		}
		if vhostHostModules[filepath.Base(m)] {
			b.HostModules[filepath.Base(m)] = m // and the guest's too
		}
		files["modules/"+filepath.Base(m)] = m
	}
	if err := WriteInitramfs(filepath.Join(b.GuestDir, "initrd.cpio"), files); err != nil {
		return nil, err
	}
	if err := prepare32(root, kernels, b); err != nil {
		return nil, err
	}
	return b, nil
}

// prepare32 builds the 32-bit guest: Debian's armhf zImage and an armhf
// initramfs with the same init, built for GOARCH=arm.
func prepare32(root, kernels string, b *Build) error {
	zimage := filepath.Join(kernels, "armhf", "zImage")
	if _, err := os.Stat(zimage); err != nil {
		return fmt.Errorf("no 32-bit guest kernel at %s: run `make kernels` first", zimage)
	}
	if err := copyFile(zimage, filepath.Join(b.GuestDir, "zImage")); err != nil {
		return err
	}
	init32 := filepath.Join(b.Dir, "guestinit32")
	if err := GoBuild(root, "./e2e/guestinit", "arm", init32); err != nil {
		return err
	}
	files := map[string]string{"init": init32}
	mods, _ := filepath.Glob(filepath.Join(kernels, "armhf", "modules", "*.ko"))
	for _, m := range mods {
		files["modules/"+filepath.Base(m)] = m
	}
	return WriteInitramfs(filepath.Join(b.GuestDir, "initrd32.cpio"), files)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// WriteInitramfs writes a newc cpio archive: the standard directories,
// /dev/console and /dev/null nodes (the kernel opens the console before
// any devtmpfs is mounted),
// and files, keyed by their path in the archive.
func WriteInitramfs(out string, files map[string]string) error {
	return writeInitramfs(out, files, nil)
}

// writeInitramfs is WriteInitramfs with symlinks (path -> target) too.
func writeInitramfs(out string, files, links map[string]string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := cpio.Newc.Writer(f)
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		// An init started with no console (console=hvc0 before
		// virtio_console loads) has no fds 0-2; the Go runtime then
		// opens /dev/null for them, or dies.
		cpio.CharDev("dev/null", 0o666, 1, 3),
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := os.ReadFile(files[name])
		if err != nil {
			return err
		}
		mode := uint64(0o644)
		if name == "init" || name == "gokvm" || strings.HasSuffix(name, "/init") {
			mode = 0o755
		}
		// Other programs (a test binary in /guest) stay executable.
		if st, err := os.Stat(files[name]); err == nil && st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		recs = append(recs, cpio.StaticFile(name, string(b), mode))
	}
	linkNames := make([]string, 0, len(links))
	for name := range links {
		linkNames = append(linkNames, name)
	}
	sort.Strings(linkNames)
	for _, name := range linkNames {
		recs = append(recs, cpio.Symlink(name, links[name]))
	}
	for i := range recs {
		recs[i] = cpio.MakeReproducible(recs[i])
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		return err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return err
	}
	return f.Close()
}

// Host is one emulated arm64 host configuration.
type Host struct {
	GIC  int // 3 or 2
	CPUs int
	// CPU is QEMU's CPU model; see CPUModel.
	CPU string
}

// CPUModel is the -cpu argument: CPU, or by default "max,pauth=off" (a VHE
// host; pointer authentication emulated costs 4-5x).
func (h Host) CPUModel() string {
	if h.CPU == "" {
		return "max,pauth=off"
	}
	return h.CPU
}

// HostInitramfs writes the emulated host's initramfs: its init, gokvm, the
// guest payloads, its kernel modules, and a job file (name, contents) that
// tells its init what to do. It returns the archive's path.
func (b *Build) HostInitramfs(tag, jobName string, job []byte) (string, error) {
	jobPath := filepath.Join(b.Dir, tag+"-"+jobName)
	if err := os.WriteFile(jobPath, job, 0o644); err != nil {
		return "", err
	}
	files := map[string]string{"init": b.HostInit, "gokvm": b.Gokvm, jobName: jobPath}
	entries, err := os.ReadDir(b.GuestDir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		files["guest/"+e.Name()] = filepath.Join(b.GuestDir, e.Name())
	}
	for name, path := range b.HostModules {
		files["modules/"+name] = path
	}
	for name, path := range b.HostFiles {
		files[name] = path
	}
	initrd := filepath.Join(b.Dir, tag+".cpio")
	return initrd, writeInitramfs(initrd, files, b.HostLinks)
}

// QEMUArgs is the command line of the emulated arm64 host: EL2 (so KVM
// works inside), no pointer authentication (4-5x faster), no network.
func QEMUArgs(h Host, kernel, initrd string) []string {
	if h.CPUs == 0 {
		h.CPUs = 2
	}
	return []string{
		"-M", fmt.Sprintf("virt,virtualization=on,gic-version=%d", h.GIC),
		"-cpu", h.CPUModel(),
		"-smp", fmt.Sprint(h.CPUs), "-m", "2048",
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyAMA0 rdinit=/init panic=-1 quiet",
	}
}

// QEMUVersion is the first line of qemu-system-aarch64 --version, for logs
// (the emulation layer's version matters to what the tests see).
func QEMUVersion() string {
	out, err := exec.Command("qemu-system-aarch64", "--version").Output()
	if err != nil {
		return fmt.Sprintf("qemu-system-aarch64 --version: %v", err)
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// RunEmulated boots the emulated arm64 host with the scenarios and returns
// their results and the host's whole console.
func RunEmulated(ctx context.Context, b *Build, h Host, scenarios []scenario.Scenario, console io.Writer) (map[string]scenario.Result, error) {
	js, err := json.Marshal(scenarios)
	if err != nil {
		return nil, err
	}
	initrd, err := b.HostInitramfs(fmt.Sprintf("l1-gicv%d", h.GIC), "scenarios.json", js)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "qemu-system-aarch64", QEMUArgs(h, b.HostKernel, initrd)...)
	var out bytes.Buffer
	w := io.Writer(&out)
	if console != nil {
		w = io.MultiWriter(&out, console)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Stdin = nil
	runErr := cmd.Run()
	// The scenarios that finished keep their results even when the host
	// was stopped (by ctx's deadline): only the one running then, and
	// those after it, are lost.
	res, err := scenario.Decode(out.String())
	if runErr != nil {
		return res, fmt.Errorf("qemu-system-aarch64 (GICv%d host): %v %s; console:\n%s", h.GIC, runErr, stoppedAt(out.String(), len(res)), tail(scenario.ElideResults(out.String()), 4000))
	}
	if err != nil {
		return res, err
	}
	if !strings.Contains(out.String(), "L1-DONE") {
		return res, fmt.Errorf("the emulated host did not finish its scenarios %s; console:\n%s", stoppedAt(out.String(), len(res)), tail(scenario.ElideResults(out.String()), 4000))
	}
	return res, nil
}

// stoppedAt says where an emulated host's run of scenarios stopped: the
// scenario it had started last (its init prints L1-SCENARIO NAME before
// each), and how many had finished.
func stoppedAt(console string, finished int) string {
	last := "none"
	for _, line := range strings.Split(console, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "L1-SCENARIO "); ok {
			last = name
		}
	}
	return fmt.Sprintf("(in scenario %s, after %d had finished)", last, finished)
}

// RunDirect runs the scenarios with gokvm on this arm64 host.
func RunDirect(b *Build, scenarios []scenario.Scenario) map[string]scenario.Result {
	res := map[string]scenario.Result{}
	for _, s := range scenarios {
		work, err := os.MkdirTemp(b.Dir, "work")
		if err != nil {
			res[s.Name] = scenario.Result{Name: s.Name, Exit: -1, Notes: []string{err.Error()}}
			continue
		}
		res[s.Name] = scenario.Run(b.Gokvm, b.GuestDir, work, s)
	}
	return res
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Elapsed is a helper for logs.
func Elapsed(start time.Time) string { return time.Since(start).Round(100 * time.Millisecond).String() }

// MSIIRQChip is the --irqchip with an MSI controller for an emulated
// host's GIC version, as kvmtool and gokvm both spell it: the GICv3's ITS,
// or a GICv2m frame on a GICv2.
func MSIIRQChip(gic int) string {
	if gic == 2 {
		return "gicv2m"
	}
	return "gicv3-its"
}
