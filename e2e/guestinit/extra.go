package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/e2e/pattern"
	"golang.org/x/sys/unix"
)

// runExtra handles actions with arguments, written NAME:ARG:ARG.
func runExtra(action string) error {
	f := strings.Split(action, ":")
	switch f[0] {
	case "modules":
		return loadModules(f[1:])
	case "sha": // sha:DEV
		return shaDevice(f[1])
	case "write": // write:DEV:SEED:MiB
		seed, _ := strconv.ParseUint(f[2], 10, 64)
		mb, _ := strconv.Atoi(f[3])
		return writeDevice(f[1], seed, mb)
	case "rowrite": // rowrite:DEV
		return roWrite(f[1])
	case "discard": // discard:DEV
		return discard(f[1])
	case "phase", "phase-end": // see phase.go
		return phaseAction(f)
	case "bench-seqwrite", "bench-seqread", "bench-randread":
		return benchAction(f)
	case "netup", "ping", "tcpsend", "tcprecv", "mac":
		return netAction(f)
	case "tcprr":
		return rrAction(f)
	case "statbench":
		return statBench(f)
	case "dhcp", "tcpxchg", "tcpserve":
		return userNetAction(f)
	case "vsocksend", "vsockrecv":
		return vsockAction(f)
	case "kmsg": // kmsg:TEXT: is TEXT (with _ for spaces) in the kernel log?
		return kmsg(strings.ReplaceAll(strings.Join(f[1:], ":"), "_", " "))
	case "sve", "pmu":
		return cpuAction(f)
	case "mount9p", "fsha", "fwrite", "trywrite", "trymodify", "ls", "readlink", "cat", "readbench":
		return ninepAction(f)
	case "counter": // counter:N: N lines GUEST-COUNT i mono=MS, one every 100 ms
		n, _ := strconv.Atoi(f[1])
		for i := 1; i <= n; i++ {
			time.Sleep(100 * time.Millisecond)
			// The guest's monotonic clock, for a restore to show that
			// guest time went on from where it was saved.
			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			fmt.Printf("GUEST-COUNT %d mono=%d\n", i, ts.Nano()/1e6)
		}
		return nil
	case "tap": // a kselftest-style TAP run: a pass, a failure, a skip
		fmt.Print(kselftestTAP)
		return nil
	case "say": // say:WORD: a marker for the host to act on
		fmt.Printf("GUEST-SAY %s\n", f[1])
		return nil
	case "hvc0", "hwrng":
		return consoleAction(f)
	case "serial": // serial:DEV
		b, err := os.ReadFile("/sys/block/" + f[1] + "/serial")
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-SERIAL %s %s\n", f[1], strings.TrimSpace(string(b)))
		return nil
	}
	return fmt.Errorf("unknown action %q", action)
}

// loadModules loads the named modules (default: the virtio transports
// and the block driver) from /modules, in order. virtio_mmio stands for
// both transports: after it, virtio-pci's driver and the libraries it
// needs are loaded where the initramfs has them (the arm64 kernel's; a
// kernel without them runs virtio-mmio scenarios only), so that a
// scenario's module list serves its virtio-pci variant too.
func loadModules(names []string) error {
	if len(names) == 0 {
		names = []string{"virtio_mmio", "virtio_blk"}
	}
	for _, n := range names {
		if err := loadModule(n); err != nil {
			return err
		}
		if n != "virtio_mmio" {
			continue
		}
		for _, p := range pciTransportModules {
			if _, err := os.Stat(modulePath(p)); err != nil {
				break
			}
			if err := loadModule(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// pciTransportModules are virtio-pci's driver and what it needs, in load
// order (Debian's arm64 kernel has them as modules).
var pciTransportModules = []string{"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"}

func modulePath(name string) string { return filepath.Join("/modules", name+".ko") }

// loadModule loads /modules/NAME.ko; one already loaded is fine.
func loadModule(n string) error {
	f, err := os.Open(modulePath(n))
	if err != nil {
		return err
	}
	err = unix.FinitModule(int(f.Fd()), "", 0)
	f.Close()
	if err != nil && err != unix.EEXIST {
		return fmt.Errorf("loading %s: %v", n, err)
	}
	return nil
}

// device waits for /dev/NAME: drivers probe asynchronously.
func device(name string) (string, error) {
	p := "/dev/" + name
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("%s did not appear", p)
}

// openDevice waits for /dev/name and opens it with flag.
func openDevice(name string, flag int) (*os.File, error) {
	p, err := device(name)
	if err != nil {
		return nil, err
	}
	return os.OpenFile(p, flag, 0)
}

func shaDevice(name string) error {
	p, err := device(name)
	if err != nil {
		return err
	}
	// Streamed, not read whole: a 64 MiB disk read into one growing
	// buffer, beside the page cache, once ran a 256 MiB guest out of
	// memory.
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	fmt.Printf("GUEST-SHA %s %s %d\n", name, hex.EncodeToString(h.Sum(nil)), n)
	return nil
}

func writeDevice(name string, seed uint64, mb int) error {
	f, err := openDevice(name, os.O_WRONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	data := pattern.Bytes(seed, mb<<20)
	if _, err := f.Write(data); err != nil {
		return err
	}
	// fsync on a block device sends the device a flush.
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("GUEST-WROTE %s %s %d\n", name, pattern.SHA256(data), len(data))
	return nil
}

func roWrite(name string) error {
	p, err := device(name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.Write(make([]byte, 4096))
		if err == nil {
			err = f.Sync()
		}
		f.Close()
	}
	fmt.Printf("GUEST-ROWRITE %s %v\n", name, err)
	return nil
}

func discard(name string) error {
	f, err := openDevice(name, os.O_WRONLY)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	rng := [2]uint64{0, uint64(size)}
	const blkDiscard = 0x1277 // _IO(0x12, 119)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkDiscard, uintptr(unsafe.Pointer(&rng))); e != 0 {
		fmt.Printf("GUEST-DISCARD %s error %v\n", name, e)
		return nil
	}
	if err := f.Sync(); err != nil {
		return err
	}
	fmt.Printf("GUEST-DISCARD %s ok %d\n", name, size)
	return nil
}

// kmsg looks for text in the kernel's log (without printing the log to the
// slow console) and says whether it is there.
func kmsg(text string) error {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE {
			continue // a record was overwritten; go on with the next
		}
		if err != nil || n == 0 {
			fmt.Printf("GUEST-KMSG absent %s\n", text)
			return nil
		}
		if line := string(buf[:n]); strings.Contains(line, text) {
			_, msg, _ := strings.Cut(line, ";")
			fmt.Printf("GUEST-KMSG found %s\n", strings.TrimSpace(msg))
			return nil
		}
	}
}

// kselftestTAP is what a kselftest run prints (TAP 13, its "selftests:"
// names, a diagnostic line kept with its test, a SKIP directive).
const kselftestTAP = `TAP version 13
1..3
# selftests: gokvm: e2e
ok 1 selftests: gokvm: passes
# the next one fails on purpose
not ok 2 selftests: gokvm: fails # exit=1
ok 3 selftests: gokvm: skipped # SKIP not on this machine
`
