package sandbox

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox/guestinit"
	"github.com/gokvm/gokvm/vmm"
	"github.com/u-root/u-root/pkg/cpio"
)

// writeTree makes a /lib/modules/VERSION tree with the given modules.dep
// lines, every module file in it, and modules.builtin.
func writeTree(t *testing.T, dep string, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, line := range strings.Split(dep, "\n") {
		k, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, p := range append(strings.Fields(rest), k) {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(dir, p), []byte("module "+p), 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(strings.Join(builtin, "\n")), 0o644)
	return dir
}

// debianDep is what depmod writes for Debian 12's arm64 kernel (the lines
// the sandbox needs).
const debianDep = `kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/overlayfs/overlay.ko:
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/drivers/virtio/virtio_mmio.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko
kernel/fs/nfs/nfs.ko: kernel/fs/lockd/lockd.ko`

func names(mods []Module) string {
	var n []string
	for _, m := range mods {
		n = append(n, m.Name)
	}
	return strings.Join(n, " ")
}

func TestResolveModulesInDependencyOrder(t *testing.T) {
	dir := writeTree(t, debianDep)
	mods, err := ResolveModules(dir, NeededModules)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(mods), "virtio_mmio 9pnet 9pnet_virtio netfs fscache 9p overlay"; got != want {
		t.Errorf("modules %q, want %q", got, want)
	}
	for _, m := range mods {
		if !strings.HasPrefix(m.Path, dir) {
			t.Errorf("%s: path %s outside the tree", m.Name, m.Path)
		}
	}
}

// TestModulesForPCI: a virtio-pci sandbox loads virtio_pci and what it
// needs in place of virtio_mmio.
func TestModulesForPCI(t *testing.T) {
	dir := writeTree(t, debianDep)
	mods, err := ResolveModules(dir, neededModules(machine.TransportPCI))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(mods), "virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay"; got != want {
		t.Errorf("modules %q, want %q", got, want)
	}
	if got := neededModules(machine.TransportMMIO); got[0] != "virtio_mmio" {
		t.Errorf("an mmio sandbox loads %v", got)
	}
	_, err = New(Options{Command: []string{"true"}, Warm: t.TempDir(), Spec: machine.Spec{Kernel: "Image", Transport: machine.TransportPCI}})
	var ce *vmm.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--warm") {
		t.Errorf("a warm virtio-pci sandbox: %v", err)
	}
}

func TestResolveModulesBuiltinAndMissing(t *testing.T) {
	dep := "kernel/net/9p/9pnet.ko:\nkernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\nkernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko"
	dir := writeTree(t, dep, "kernel/drivers/virtio/virtio_mmio.ko", "kernel/fs/overlayfs/overlay.ko")
	mods, err := ResolveModules(dir, NeededModules)
	if err != nil || names(mods) != "9pnet 9pnet_virtio 9p" {
		t.Errorf("with built-in virtio_mmio and overlay: %q, %v", names(mods), err)
	}
	dir = writeTree(t, dep, "kernel/drivers/virtio/virtio_mmio.ko")
	if _, err := ResolveModules(dir, NeededModules); err == nil || !strings.Contains(err.Error(), "module overlay") {
		t.Errorf("a missing overlay: %v", err)
	}
	os.Remove(filepath.Join(dir, "kernel/net/9p/9pnet.ko"))
	if _, err := ResolveModules(dir, []string{"9p"}); err == nil || !strings.Contains(err.Error(), "module 9pnet") {
		t.Errorf("a module file gone: %v", err)
	}
	if _, err := ResolveModules(t.TempDir(), NeededModules); err == nil || !strings.Contains(err.Error(), "depmod") {
		t.Errorf("no modules.dep: %v", err)
	}
}

// TestInputFraming: what gokvm sends for a non-terminal stdin is decoded
// by the guest init back into the same bytes, then the end of input.
func TestInputFraming(t *testing.T) {
	data := []byte("hello\xff\x00world\xff\xff\x00\n")
	ready := make(chan struct{})
	close(ready)
	g := &gatedInput{ready: ready, stop: make(chan struct{}), r: bytes.NewReader(data), framed: true}
	wire, err := io.ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(pr); got <- b }()
	guestinit.RelayInput(bytes.NewReader(append(wire, "after the end"...)), pw)
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("the guest read %q, want %q", b, data)
	}
	// No input at all: the end comes at once.
	g = &gatedInput{ready: ready, stop: make(chan struct{}), framed: true}
	if wire, _ := io.ReadAll(g); !bytes.Equal(wire, []byte{guestinit.InputEscape, guestinit.InputEOF}) {
		t.Errorf("no input: sent %q", wire)
	}
}

func TestInputWaitsForTheGuest(t *testing.T) {
	ready, stop := make(chan struct{}), make(chan struct{})
	g := &gatedInput{ready: ready, stop: stop, r: strings.NewReader("x"), framed: true}
	done := make(chan int)
	go func() { n, _ := g.Read(make([]byte, 8)); done <- n }()
	select {
	case <-done:
		t.Fatal("input was sent before the guest was ready")
	default:
	}
	close(stop)
	if n := <-done; n != 0 {
		t.Errorf("read %d bytes after the sandbox stopped", n)
	}
}

func TestInitramfs(t *testing.T) {
	dir := writeTree(t, debianDep)
	mods, err := ResolveModules(dir, NeededModules)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &guestinit.Config{Command: []string{"true"}, Dir: "/", RootTag: RootTag}
	b, err := buildInitramfs([]byte("\x7fELF init"), cfg, mods)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]cpio.Record{}
	for _, r := range recs {
		files[r.Name] = r
	}
	if r, ok := files["init"]; !ok || r.Mode&0o111 == 0 {
		t.Errorf("no executable /init: %+v", r.Info)
	}
	if _, ok := files["dev/console"]; !ok {
		t.Errorf("no /dev/console")
	}
	if len(cfg.Modules) != 7 || cfg.Modules[0] != "/modules/00-virtio_mmio.ko" || cfg.Modules[6] != "/modules/06-overlay.ko" {
		t.Errorf("modules in the config: %v", cfg.Modules)
	}
	for _, m := range cfg.Modules {
		if _, ok := files[strings.TrimPrefix(m, "/")]; !ok {
			t.Errorf("%s not in the initramfs", m)
		}
	}
	if _, ok := files[strings.TrimPrefix(guestinit.ConfigPath, "/")]; !ok {
		t.Errorf("no %s", guestinit.ConfigPath)
	}
}

// TestRootMountsLeaveKernelOut: the root share's list of mounts holds the
// command's directory and never a kernel file system, even when the
// command runs in one.
func TestRootMountsLeaveKernelOut(t *testing.T) {
	dir := t.TempDir()
	got := sharedRootMounts("/", dir)
	if len(got) == 0 || got[len(got)-1] != dir {
		t.Errorf("sharedRootMounts(/, %s) = %v: the command's directory is missing", dir, got)
	}
	for _, p := range append(got, sharedRootMounts("/", "/proc/self")...) {
		if typ, err := ninep.MountFSType(p); err != nil || ninep.PseudoFS(typ) {
			t.Errorf("%s (%s, %v) is in the root share's mounts", p, typ, err)
		}
	}
	if got := sharedRootMounts("/", "/proc/self"); len(got) > 0 && got[len(got)-1] == "/proc/self" {
		t.Errorf("the root share enters /proc: %v", got)
	}
}

// TestKernelParams: the kernel runs quiet only when nobody reads its
// console: a console log or a results recorder needs its warnings.
func TestKernelParams(t *testing.T) {
	rec, err := machine.NewRecorder(machine.RecorderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := machine.Spec{Cmdline: "nokaslr"}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "console=ttyS0 panic=-1 quiet nokaslr"},
		{Options{ConsoleLog: io.Discard}, "console=ttyS0 panic=-1 nokaslr"},
		{Options{Recorder: rec}, "console=ttyS0 panic=-1 nokaslr"},
	} {
		if got := kernelParams(tc.o, spec); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}
