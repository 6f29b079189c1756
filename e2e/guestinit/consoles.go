package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// consoleAction handles the console and entropy device actions:
//
//	hvc0:  make /dev/hvc0 (virtio-console, once its module is loaded)
//	       the init's stdin, stdout and stderr, so the next actions
//	       (marker, readline) talk over it; it names the kernel's
//	       consoles on it
//	hwrng: wait until the hw_random core uses a virtio-rng, then read
//	       4096 bytes from /dev/hwrng and say how many came and how many
//	       are zero
func consoleAction(f []string) error {
	switch f[0] {
	case "hvc0":
		tty, err := openDevice("hvc0", os.O_RDWR|unix.O_NOCTTY)
		if err != nil {
			return err
		}
		for fd := 0; fd <= 2; fd++ {
			if err := unix.Dup2(int(tty.Fd()), fd); err != nil {
				return fmt.Errorf("dup2 onto %d: %w", fd, err)
			}
		}
		b, _ := os.ReadFile("/proc/consoles")
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if fs := strings.Fields(l); len(fs) > 0 {
				names = append(names, fs[0])
			}
		}
		fmt.Printf("GUEST-HVC0 open, consoles %s\n", strings.Join(names, " "))
		return nil
	case "hwrng":
		current, err := rngCurrent()
		if err != nil {
			return err
		}
		f, err := openDevice("hwrng", os.O_RDONLY)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 4096)
		n := 0
		for n < len(buf) {
			m, err := f.Read(buf[n:])
			if err != nil {
				return fmt.Errorf("reading /dev/hwrng after %d bytes: %w", n, err)
			}
			n += m
		}
		fmt.Printf("GUEST-HWRNG current=%s bytes=%d zeros=%d\n", current, n, bytes.Count(buf[:n], []byte{0}))
		return nil
	}
	return fmt.Errorf("unknown action %q", strings.Join(f, ":"))
}

// rngCurrent waits for the hw_random core to pick a virtio-rng (it probes
// asynchronously) and returns its name.
func rngCurrent() (string, error) {
	var last string
	for i := 0; i < 100; i++ {
		for _, p := range []string{"/sys/class/misc/hw_random/rng_current", "/sys/devices/virtual/misc/hw_random/rng_current"} {
			if b, err := os.ReadFile(p); err == nil {
				last = strings.TrimSpace(string(b))
				if strings.HasPrefix(last, "virtio") {
					return last, nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("rng_current is %q, not a virtio-rng", last)
}
