package machine

import (
	"errors"
	"fmt"
	"os"

	"github.com/gokvm/gokvm/vmm"
	"golang.org/x/sys/unix"
)

// mapPayload maps the kernel and initrd files, or the firmware. They are
// mapped, not read, so that once copied into guest RAM they stop counting
// against gokvm's own memory; release unmaps them. With a firmware image
// the initrd is not opened: kvmtool ignores it then (Build says so).
func mapPayload(r *resolved) (p vmm.Payload, release func(), err error) {
	s := r.spec
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
	p.Cmdline = s.Cmdline
	if s.Firmware != "" {
		if p.Firmware, err = mapInput("firmware", s.Firmware); err != nil {
			return p, release, err
		}
		maps = append(maps, p.Firmware)
		p.FirmwareAddr = r.firmwareAddr
		return p, release, nil
	}
	if p.Kernel, err = mapInput("kernel", s.Kernel); err != nil {
		return p, release, err
	}
	maps = append(maps, p.Kernel)
	p.KernelName = s.Kernel
	if s.Initrd != "" {
		if p.Initrd, err = mapInput("initrd", s.Initrd); err != nil {
			return p, release, err
		}
		maps = append(maps, p.Initrd)
	}
	return p, release, nil
}

// mapInput maps a whole input file read-only. Every failure is the
// user's to fix, so a configuration error.
func mapInput(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &vmm.ConfigError{Err: &MissingFileError{What: what, Path: path}}
		}
		return nil, &vmm.ConfigError{Err: fmt.Errorf("%s: %w", what, err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("%s: %w", what, err)}
	}
	switch {
	case fi.IsDir():
		return nil, vmm.Configf("%s %s: is a directory", what, path)
	case !fi.Mode().IsRegular():
		return nil, vmm.Configf("%s %s: not a regular file", what, path)
	case fi.Size() == 0:
		return nil, vmm.Configf("%s %s: the file is empty", what, path)
	case fi.Size() > 1<<40:
		return nil, vmm.Configf("%s %s: %d bytes is too large", what, path, fi.Size())
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("%s %s: mapping: %w", what, path, err)
	}
	return b, nil
}

// MissingFileError says an input file (What: "kernel", "initrd" or "firmware") does
// not exist, in a shorter form than *fs.PathError, and still matches
// os.ErrNotExist. The command line prints kvmtool's line for it too.
type MissingFileError struct{ What, Path string }

func (e *MissingFileError) Error() string { return e.What + " " + e.Path + ": no such file" }
func (e *MissingFileError) Unwrap() error { return os.ErrNotExist }
