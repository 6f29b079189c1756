package vhost

import (
	"bufio"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// ioc is the generic Linux _IOC encoding (asm-generic/ioctl.h, which arm64
// and arm use): nr in bits 0-7, type 8-15, size 16-29, direction 30-31.
func ioc(dir, typ, nr, size uintptr) uintptr { return dir<<30 | size<<16 | typ<<8 | nr }

const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

// argSizes are the sizes of the uapi argument types, as the Go structs
// that stand for them have them.
var argSizes = map[string]uintptr{
	"__u64":                    8,
	"int":                      4,
	"struct vhost_memory":      8, // the header; the regions follow it
	"struct vhost_vring_state": unsafe.Sizeof(vringState{}),
	"struct vhost_vring_file":  unsafe.Sizeof(vringFile{}),
	"struct vhost_vring_addr":  unsafe.Sizeof(vringAddr{}),
}

// used are the requests gokvm makes, by their header names.
var used = map[string]uintptr{
	"VHOST_GET_FEATURES":        reqGetFeatures,
	"VHOST_SET_FEATURES":        reqSetFeatures,
	"VHOST_SET_OWNER":           reqSetOwner,
	"VHOST_SET_MEM_TABLE":       reqSetMemTable,
	"VHOST_SET_VRING_NUM":       reqSetVringNum,
	"VHOST_SET_VRING_ADDR":      reqSetVringAddr,
	"VHOST_SET_VRING_BASE":      reqSetVringBase,
	"VHOST_GET_VRING_BASE":      reqGetVringBase,
	"VHOST_SET_VRING_KICK":      reqSetVringKick,
	"VHOST_SET_VRING_CALL":      reqSetVringCall,
	"VHOST_NET_SET_BACKEND":     reqNetSetBackend,
	"VHOST_VSOCK_SET_GUEST_CID": reqVsockSetCID,
	"VHOST_VSOCK_SET_RUNNING":   reqVsockSetRunning,
}

// TestStructSizes: the structs are laid out as linux/vhost_types.h's.
func TestStructSizes(t *testing.T) {
	for name, got := range map[string]uintptr{
		"vhost_vring_state":   unsafe.Sizeof(vringState{}),
		"vhost_vring_file":    unsafe.Sizeof(vringFile{}),
		"vhost_vring_addr":    unsafe.Sizeof(vringAddr{}),
		"vhost_memory_region": unsafe.Sizeof(memoryRegion{}),
		"vhost_memory + 1":    unsafe.Sizeof(memTable{}),
	} {
		want := map[string]uintptr{"vhost_vring_state": 8, "vhost_vring_file": 8, "vhost_vring_addr": 40,
			"vhost_memory_region": 32, "vhost_memory + 1": 40}[name]
		if got != want {
			t.Errorf("struct %s: %d bytes, want %d", name, got, want)
		}
	}
}

// TestIoctlNumbers compares each request number with the header's
// definition, parsed from the arm64 uapi header (linux-libc-dev 6.1,
// testdata/vhost.h.defines) and, where the machine has one, from
// /usr/include/linux/vhost.h.
func TestIoctlNumbers(t *testing.T) {
	checkHeader(t, "testdata/vhost.h.defines", true)
	checkHeader(t, "/usr/include/linux/vhost.h", false)
}

var defineRE = regexp.MustCompile(`^#define\s+(VHOST_\w+)\s+_IO(R|W|WR|)\(VHOST_VIRTIO,\s*(0x[0-9a-fA-F]+)(?:,\s*([\w ]+?))?\)`)

func checkHeader(t *testing.T, path string, required bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if required {
			t.Fatal(err)
		}
		t.Logf("%s: %v; checked against the arm64 copy only", path, err)
		return
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := defineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		want, ok := used[m[1]]
		if !ok {
			continue
		}
		nr, _ := strconv.ParseUint(m[3], 0, 8)
		dir := map[string]uintptr{"": iocNone, "W": iocWrite, "R": iocRead, "WR": iocRead | iocWrite}[m[2]]
		var size uintptr
		if m[4] != "" {
			s, ok := argSizes[m[4]]
			if !ok {
				t.Errorf("%s: %s takes %q, whose size the test does not know", path, m[1], m[4])
				continue
			}
			size = s
		}
		if got := ioc(dir, 0xaf, uintptr(nr), size); got != want {
			t.Errorf("%s: %s is %#x by the header, %#x in gokvm", path, m[1], got, want)
		}
		seen[m[1]] = true
	}
	for name := range used {
		if !seen[name] {
			t.Errorf("%s: no definition of %s", path, name)
		}
	}
}
