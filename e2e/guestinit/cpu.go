package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cpuAction reports the CPU features the guest sees:
//
//	sve    GUEST-SVE yes|no and GUEST-SVE-VL <default vector length in bytes>
//	pmu    GUEST-PMU <event sources>, then GUEST-PMU-CYCLES <count> or an error
func cpuAction(f []string) error {
	switch f[0] {
	case "sve":
		b, err := os.ReadFile("/proc/cpuinfo")
		if err != nil {
			return err
		}
		has := "no"
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Features" {
				for _, feat := range strings.Fields(v) {
					if feat == "sve" {
						has = "yes"
					}
				}
			}
		}
		fmt.Printf("GUEST-SVE %s\n", has)
		if vl, err := os.ReadFile("/proc/sys/abi/sve_default_vector_length"); err == nil {
			fmt.Printf("GUEST-SVE-VL %s\n", strings.TrimSpace(string(vl)))
		}
	case "pmu":
		entries, err := os.ReadDir("/sys/bus/event_source/devices")
		if err != nil {
			return err
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		fmt.Printf("GUEST-PMU %s\n", strings.Join(names, " "))
		n, err := countCycles()
		if err != nil {
			fmt.Printf("GUEST-PMU-CYCLES error %v\n", err)
			return nil
		}
		fmt.Printf("GUEST-PMU-CYCLES %d\n", n)
	default:
		return fmt.Errorf("unknown action %q", strings.Join(f, ":"))
	}
	return nil
}

// countCycles counts this thread's CPU cycles over a short busy loop with
// perf_event_open, as perf stat would.
func countCycles() (uint64, error) {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_HARDWARE,
		Config: unix.PERF_COUNT_HW_CPU_CYCLES,
		Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeHv,
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("perf_event_open: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return 0, err
	}
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
		return 0, err
	}
	var buf [8]byte
	if _, err := unix.Read(fd, buf[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(buf[:]), nil
}
