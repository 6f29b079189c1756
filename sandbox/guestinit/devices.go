package guestinit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/devices/exitdev"
	"golang.org/x/sys/unix"
)

// dtBase is the device tree as the kernel shows it.
const dtBase = "/sys/firmware/devicetree/base"

// StdioProperty marks the device-tree node of the UART that carries the
// command's input and output.
const StdioProperty = "gokvm,sandbox-stdio"

// dtCells reads the root's #address-cells and #size-cells.
func dtCells() (addr, size int) {
	read := func(name string, def int) int {
		b, err := os.ReadFile(filepath.Join(dtBase, name))
		if err != nil || len(b) != 4 {
			return def
		}
		return int(binary.BigEndian.Uint32(b))
	}
	return read("#address-cells", 2), read("#size-cells", 1)
}

// dtFind finds the root-level node for which match is true and returns
// the address of its first reg entry.
func dtFind(what string, match func(dir string) bool) (uint64, error) {
	entries, err := os.ReadDir(dtBase)
	if err != nil {
		return 0, fmt.Errorf("the device tree: %w", err)
	}
	ac, sc := dtCells()
	for _, e := range entries {
		dir := filepath.Join(dtBase, e.Name())
		if !e.IsDir() || !match(dir) {
			continue
		}
		reg, err := os.ReadFile(filepath.Join(dir, "reg"))
		if err != nil || len(reg) < 4*(ac+sc) || ac < 1 || ac > 2 {
			return 0, fmt.Errorf("%s: a reg property gokvm does not understand", dir)
		}
		var a uint64
		for i := 0; i < ac; i++ {
			a = a<<32 | uint64(binary.BigEndian.Uint32(reg[4*i:]))
		}
		return a, nil
	}
	return 0, fmt.Errorf("no %s in the device tree", what)
}

func hasCompatible(dir, compat string) bool {
	b, _ := os.ReadFile(filepath.Join(dir, "compatible"))
	for _, c := range strings.Split(string(b), "\x00") {
		if c == compat {
			return true
		}
	}
	return false
}

// exitDevice is the status device mapped through /dev/mem.
type exitDevice struct {
	mem []byte
	off uintptr // the window's offset in mem
}

const (
	stateReady   = exitdev.StateReady
	stateStarted = exitdev.StateStarted
	stateExited  = exitdev.StateExited
)

func openExitDevice() (*exitDevice, error) {
	base, err := dtFind("gokvm,sandbox-exit device", func(dir string) bool { return hasCompatible(dir, exitdev.Compatible) })
	if err != nil {
		return nil, err
	}
	page := uint64(os.Getpagesize())
	pageBase := base &^ (page - 1)
	length := int((base - pageBase + exitdev.Size + page - 1) &^ (page - 1))
	fd, err := unix.Open("/dev/mem", unix.O_RDWR|unix.O_SYNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/mem: %w (a kernel without CONFIG_DEVMEM, or locked down?)", err)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, int64(pageBase), length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %#x from /dev/mem: %w", base, err)
	}
	d := &exitDevice{mem: mem, off: uintptr(base - pageBase)}
	if m := *d.reg(exitdev.RegMagic); m != exitdev.Magic {
		return nil, fmt.Errorf("at %#x: magic %#x, want %#x", base, m, exitdev.Magic)
	}
	return d, nil
}

// reg is a 32-bit register of the device; every access is one 32-bit
// load or store, as an MMIO access must be.
func (d *exitDevice) reg(off uintptr) *uint32 {
	return (*uint32)(unsafe.Pointer(&d.mem[d.off+off]))
}

func (d *exitDevice) setState(v uint32) { *d.reg(exitdev.RegState) = v }

// finish writes the message, then the final status.
func (d *exitDevice) finish(status int, msg string) {
	b := []byte(msg)
	if len(b) > exitdev.MessageSize-1 {
		b = b[:exitdev.MessageSize-1]
	}
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	for i := 0; i < len(b); i += 4 {
		*d.reg(exitdev.RegMessage + uintptr(i)) = binary.LittleEndian.Uint32(b[i:])
	}
	*d.reg(exitdev.RegStatus) = exitdev.StatusValid | uint32(status&0xff)
}

// awaitCommand says the init is warm (booted, modules loaded) and waits
// for gokvm to give the command, which it reads into cfg over what the
// initramfs said. Polling sleeps between reads: each read is an exit,
// and gokvm may save and later restore the machine while it waits.
func (d *exitDevice) awaitCommand(cfg *Config) error {
	d.setState(exitdev.StateWarm)
	var n uint32
	for {
		if n = *d.reg(exitdev.RegCmdLen); n != 0 {
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	if n > exitdev.MaxCommand {
		return fmt.Errorf("%d bytes, more than the %d the status device carries", n, exitdev.MaxCommand)
	}
	b := make([]byte, 0, n+8)
	for off := uint32(0); off < n; off += exitdev.CommandWindow {
		*d.reg(exitdev.RegCmdOff) = off
		for i := uintptr(0); i < exitdev.CommandWindow && uint32(len(b)) < n; {
			if wideLoads {
				b = binary.LittleEndian.AppendUint64(b, *d.reg64(exitdev.RegCmdData + i))
				i += 8
			} else {
				b = binary.LittleEndian.AppendUint32(b, *d.reg(exitdev.RegCmdData + i))
				i += 4
			}
		}
	}
	return json.Unmarshal(b[:n], cfg)
}

// wideLoads: a uint64 load is one instruction, so one exit, on a 64-bit
// guest (two on a 32-bit one, which gains nothing from it).
const wideLoads = unsafe.Sizeof(uintptr(0)) == 8

// reg64 is 8 bytes of the CMDDATA window, read with one 64-bit load
// (wideLoads): half the exits of 32-bit reads for a command.
func (d *exitDevice) reg64(off uintptr) *uint64 {
	return (*uint64)(unsafe.Pointer(&d.mem[d.off+off]))
}

// openStdioTTY opens the serial port whose device-tree node has
// StdioProperty: the ttyS port at that address (ttyS1 when the kernel does
// not say).
func openStdioTTY() (*os.File, error) {
	name := "ttyS1"
	if base, err := dtFind("sandbox stdio UART", func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, StdioProperty))
		return err == nil
	}); err == nil {
		ports, _ := filepath.Glob("/sys/class/tty/ttyS*/iomem_base")
		for _, p := range ports {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 64); err == nil && v == base {
				name = filepath.Base(filepath.Dir(p))
				break
			}
		}
	}
	return os.OpenFile("/dev/"+name, os.O_RDWR|unix.O_NOCTTY, 0)
}
