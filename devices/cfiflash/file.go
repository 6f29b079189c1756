package cfiflash

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/vmm"
)

// ErrInUse says another process holds the flash file's lock.
var ErrInUse = errors.New("in use by another process")

// File is a flash image file, locked and mapped shared: what the guest
// programs and erases reaches the file, and nothing else does.
type File struct {
	path string
	f    *os.File
	mem  []byte
	size int64 // the file's
}

// Open opens, locks (exclusively: two VMs never program one file) and
// maps a flash image. The guest sees its first power-of-two bytes, at
// most MaxSize, as kvmtool does (Note says when that is not the whole
// file). What the user can change is a vmm.ConfigError.
func Open(path string) (*File, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, vmm.Configf("flash %s: no such file", path)
	case err != nil:
		return nil, &vmm.ConfigError{Err: fmt.Errorf("flash %s: %w", path, err)}
	case !fi.Mode().IsRegular():
		return nil, vmm.Configf("flash %s: not a regular file", path)
	case fi.Size() < BlockSize:
		return nil, vmm.Configf("flash %s: %d bytes; a flash holds at least one %d KiB erase block", path, fi.Size(), BlockSize>>10)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("flash %s: %w (the guest writes to its flash)", path, err)}
		}
		return nil, fmt.Errorf("flash %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, vmm.Configf("flash %s: %w (another gokvm has it)", path, ErrInUse)
		}
		return nil, fmt.Errorf("flash %s: locking: %w", path, err)
	}
	usable := 1 << (bits.Len64(uint64(min(fi.Size(), MaxSize))) - 1)
	mem, err := unix.Mmap(int(f.Fd()), 0, usable, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flash %s: mapping: %w", path, err)
	}
	return &File{path: path, f: f, mem: mem, size: fi.Size()}, nil
}

// Size is what the guest sees of the file.
func (fl *File) Size() uint64 { return uint64(len(fl.mem)) }

// Note says, when the guest does not see the whole file, how much it
// sees; "" when it sees it all.
func (fl *File) Note() string {
	switch {
	case fl.size > MaxSize:
		return fmt.Sprintf("flash %s: %d bytes; the guest sees its first %d MiB, the most a flash has", fl.path, fl.size, MaxSize>>20)
	case fl.size != int64(len(fl.mem)):
		return fmt.Sprintf("flash %s: %d bytes, not a power of two; the guest sees its first %d KiB", fl.path, fl.size, len(fl.mem)>>10)
	}
	return ""
}

// Close unmaps the file, flushes what the guest programmed and closes
// it. It must come after the device's Close (the array out of the guest).
func (fl *File) Close() error {
	if fl.f == nil {
		return nil
	}
	var errs []error
	if err := unix.Munmap(fl.mem); err != nil {
		errs = append(errs, fmt.Errorf("unmapping: %w", err))
	}
	if err := unix.Fdatasync(int(fl.f.Fd())); err != nil {
		errs = append(errs, fmt.Errorf("flushing: %w", err))
	}
	if err := fl.f.Close(); err != nil {
		errs = append(errs, err)
	}
	fl.f, fl.mem = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flash %s: %w", fl.path, err)
	}
	return nil
}

// Spec is the machine's description of a flash over fl, at the board's
// flash window. The device owns fl once it is made: closing it closes
// fl.
func Spec(fl *File) vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: "cfi-flash",
		Area: vmm.AreaFlash,
		Size: fl.Size(),
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			f, err := New(fl.mem, env)
			if err != nil {
				return nil, err
			}
			return &fileFlash{Flash: f, file: fl}, nil
		},
		Describe: Describe,
	}
}

// fileFlash is a flash over a file, which it closes.
type fileFlash struct {
	*Flash
	file *File
}

// Close takes the array out of the guest, then closes the file.
func (d *fileFlash) Close() error {
	return errors.Join(d.Flash.Close(), d.file.Close())
}

// Describe writes the flash's device-tree node as kvmtool does: a
// "cfi-flash" on a 4-byte bank, labelled as the UEFI variable store
// EDK2 looks for, with room for partition nodes and no interrupt.
func Describe(dt vmm.DeviceTree, p vmm.Placement) {
	n := dt.AddDevice("flash", p, vmm.TriggerLevel)
	n.Strings("compatible", "cfi-flash")
	n.U32("bank-width", busWidth)
	n.U32("#address-cells", 1)
	n.U32("#size-cells", 1)
	n.Strings("label", "System-firmware")
}
