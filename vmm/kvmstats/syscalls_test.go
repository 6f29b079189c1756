package kvmstats

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyscallCounters(t *testing.T) {
	// The host's own numbers, so that the test holds on any architecture.
	hist := fmt.Sprintf(`# event histogram
#
# trigger info: hist:keys=common_pid,id:vals=hitcount:sort=hitcount:size=16384 [active]
#

{ common_pid:        100, id: %10d } hitcount:         40
{ common_pid:        101, id: %10d } hitcount:          7
{ common_pid:        101, id: %10d } hitcount:          3
{ common_pid:        102, id: %10d } hitcount:          2
{ common_pid:        102, id: %10d } hitcount:          5
{ common_pid:        555, id: %10d } hitcount:       1000

Totals:
    Hits: 1057
    Entries: 6
    Dropped: 0
`, unix.SYS_IOCTL, unix.SYS_FUTEX, unix.SYS_EPOLL_PWAIT, unix.SYS_SCHED_YIELD, unix.SYS_PWRITEV, unix.SYS_FUTEX)
	c, err := syscallCounters(hist, map[int]bool{100: true, 101: false, 102: false})
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{"sys.total": 57, "sys.vcpu": 40, "sys.ioctl": 40, "sys.futex": 7, "sys.poll": 3,
		"sys.idle": 2, "sys.io": 5, "sys.signal": 0, "sys.memory": 0, "sys.other": 0}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %d, want %d", k, c[k], v)
		}
	}
	if len(c) != len(want) {
		t.Errorf("counters %v, want exactly %v", c, want)
	}
	for name, bad := range map[string]string{
		"nothing armed":   "# event histogram\n",
		"another trigger": strings.Replace(hist, "keys=common_pid,id:", "keys=id:", 1),
		"a full table":    strings.Replace(hist, "Dropped: 0", "Dropped: 12", 1),
		"no totals":       hist[:strings.Index(hist, "Totals:")],
	} {
		if _, err := syscallCounters(bad, map[int]bool{100: true}); err == nil {
			t.Errorf("%s: read as counts", name)
		}
	}
}

func TestSyscallGroup(t *testing.T) {
	for nr, want := range map[uint64]string{
		unix.SYS_IOCTL: "ioctl", unix.SYS_PWRITEV: "io", unix.SYS_FUTEX: "futex",
		unix.SYS_EPOLL_PWAIT: "poll", unix.SYS_NANOSLEEP: "idle", unix.SYS_TGKILL: "signal",
		unix.SYS_MADVISE: "memory", unix.SYS_OPENAT: "other",
	} {
		if got := syscallGroup(nr); got != want {
			t.Errorf("system call %d: %s, want %s", nr, got, want)
		}
	}
}
