package machine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
	"golang.org/x/sys/unix"
)

func TestParseJSONErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"unknown field", `{"kernel": "Image", "vcpus": 2}`, `unknown field "vcpus"`},
		{"wrong type", `{"kernel": "Image", "cpus": "two"}`, `field "cpus": a JSON string where a whole number is wanted`},
		{"wrong type in a list", `{"kernel": "Image", "disks": [{"path": "a", "read_only": "yes"}]}`, `field "disks.read_only": a JSON string where true or false is wanted`},
		{"list wanted", `{"kernel": "Image", "disks": "a.img"}`, `field "disks": a JSON string where a list is wanted`},
		{"malformed", "{\n\"kernel\": \"Image\",\n}", "malformed JSON at line 3"},
		{"ends early", `{"kernel": "Image"`, "ends early"},
		{"empty", ``, "the file is empty"},
		{"two values", `{} {}`, "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJSON("vm.json", strings.NewReader(tc.json))
			if err == nil {
				t.Fatalf("accepted %s", tc.json)
			}
			if !vmm.IsConfigError(err) {
				t.Errorf("%v is not a configuration error", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "vm.json: ") {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestCheckNamesTheField(t *testing.T) {
	base := Spec{Kernel: "Image"}
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"no kernel", func(s *Spec) { s.Kernel = "" }, "no kernel given"},
		{"kernel and firmware", func(s *Spec) { s.Firmware = "fw.bin" }, "only one of --kernel or --firmware"},
		{"firmware address without firmware", func(s *Spec) { s.FirmwareAddress = "0x80000000" }, "firmware_address: 0x80000000: only a firmware image"},
		{"firmware address", func(s *Spec) { s.Kernel, s.Firmware, s.FirmwareAddress = "", "fw.bin", "0x80zz" }, `firmware_address: "0x80zz" is not an address`},
		{"cpus", func(s *Spec) { s.CPUs = -1 }, "cpus: -1: a guest needs at least 1 vcpu"},
		{"memory", func(s *Spec) { s.Memory = "lots" }, `memory: "lots": size "lots" is not a positive number`},
		{"memory address", func(s *Spec) { s.Memory = "256@zz" }, `address "zz" is not a number`},
		{"irqchip", func(s *Spec) { s.IRQChip = "gicv4" }, "want auto, gicv3, gicv3-its, gicv2 or gicv2m"},
		{"console", func(s *Spec) { s.Console = "vga" }, `console: "vga": want serial`},
		{"transport", func(s *Spec) { s.Transport = "virtio-pci" }, `transport: "virtio-pci": want mmio, mmio-legacy or pci`},
		{"legacy virtio-pci", func(s *Spec) { s.Transport = "pci-legacy" }, `transport: "pci-legacy": gokvm has no legacy (virtio 0.9) virtio-pci`},
		{"timeout", func(s *Spec) { s.Timeout = "soon" }, `timeout: "soon" is not a duration`},
		{"negative timeout", func(s *Spec) { s.Timeout = "-5s" }, "timeout: -5s is negative"},
		{"disk path", func(s *Spec) { s.Disks = []Disk{{Path: "a"}, {}} }, "disks[1].path: no image file"},
		{"disk serial", func(s *Spec) { s.Disks = []Disk{{Path: "a", Serial: strings.Repeat("x", 21)}} }, "disks[0].serial"},
		{"nic mode", func(s *Spec) { s.NICs = []NIC{{Mode: "slirp"}} }, `nics[0].mode: "slirp": want tap, user or none`},
		{"tap name", func(s *Spec) { s.NICs = []NIC{{Mode: "tap", TapIf: "a-very-long-tap-name"}} }, "nics[0].tapif"},
		{"mac", func(s *Spec) { s.NICs = []NIC{{Mode: "tap", GuestMAC: "52:54:zz:00:00:01"}} }, "nics[0].guest_mac"},
		{"multicast", func(s *Spec) { s.NICs = []NIC{{Mode: "tap", GuestMAC: "01:00:5e:00:00:01"}} }, "multicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.mod(&s)
			err := s.Check()
			if err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v; want a configuration error saying %q", err, tc.want)
			}
		})
	}
	if err := base.Check(); err != nil {
		t.Errorf("a spec with only a kernel: %v", err)
	}
}

func TestDefaultsAndJSONRoundTrip(t *testing.T) {
	s := Spec{Kernel: "Image", NICs: []NIC{{Mode: "tap"}, {Mode: "none"}, {Mode: "tap", TapIf: "tap7"}}}.WithDefaults()
	if s.CPUs != 1 || s.Memory != "256" || s.IRQChip != "auto" || s.Console != "serial" || s.Transport != "mmio" || s.KVMDevice != "/dev/kvm" {
		t.Errorf("defaults: %+v", s)
	}
	if s.NICs[0].TapIf != "gokvm0" || s.NICs[2].TapIf != "tap7" || s.NICs[1].TapIf != "" {
		t.Errorf("default tap names: %+v", s.NICs)
	}
	if !strings.HasPrefix(s.NICs[0].GuestMAC, "52:54:00:") || s.NICs[0].GuestMAC == s.NICs[2].GuestMAC {
		t.Errorf("default MACs: %+v", s.NICs)
	}
	if again := (Spec{Kernel: "Image", NICs: []NIC{{Mode: "tap"}}}).WithDefaults(); again.NICs[0].GuestMAC != s.NICs[0].GuestMAC {
		t.Errorf("the default MAC is not stable: %s then %s", s.NICs[0].GuestMAC, again.NICs[0].GuestMAC)
	}
	back, err := ParseJSON("printed", strings.NewReader(string(s.JSON())))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) || !reflect.DeepEqual(back.WithDefaults(), s) {
		t.Errorf("JSON round trip changed the spec:\n%+v\n%+v", s, back)
	}
}

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in         string
		size, base uint64
		baseSet    bool
	}{
		{"256", 256 << 20, 0, false},
		{"1G", 1 << 30, 0, false},
		{"512M@0x100000000", 512 << 20, 1 << 32, true},
		{"2048k", 2 << 20, 0, false},
		// kvmtool's forms: every unit in either case, hex sizes in MiB,
		// and an address in MiB or with a unit.
		{"512m", 512 << 20, 0, false},
		{"1073741824B", 1 << 30, 0, false},
		{"1p", 1 << 50, 0, false},
		{"0x100", 256 << 20, 0, false},
		{"0x1B", 27 << 20, 0, false},
		{"256@2048", 256 << 20, 2 << 30, true},
		{"256M@4G", 256 << 20, 4 << 30, true},
		{"256@0x800M", 256 << 20, 2 << 30, true},
		// gokvm's own: a hex address without a unit is in bytes.
		{"256@0x80000000", 256 << 20, 2 << 30, true},
	} {
		m, err := parseMemory(tc.in)
		if err != nil || m.size != tc.size || m.base != tc.base || m.baseSet != tc.baseSet {
			t.Errorf("parseMemory(%q) = %+v, %v", tc.in, m, err)
		}
	}
	for _, bad := range []string{"", "0", "-1", "12X", "12MM", "99999999999T", "1@", "@2G", "256@2Q", "256@0x", "0x", "1.5G", "20000000P"} {
		if _, err := parseMemory(bad); err == nil {
			t.Errorf("parseMemory(%q) accepted", bad)
		}
	}
}

func TestKvmtoolSpellings(t *testing.T) {
	d, err := ParseDisk("a.img,ro,direct,serial=XY")
	if err != nil || d != (Disk{Path: "a.img", ReadOnly: true, Direct: true, Serial: "XY"}) {
		t.Errorf("ParseDisk: %+v %v", d, err)
	}
	for _, bad := range []string{"", ",ro", "a.img,rw"} {
		if _, err := ParseDisk(bad); err == nil {
			t.Errorf("ParseDisk(%q) accepted", bad)
		}
	}
	n, err := ParseNIC("mode=tap,tapif=tap3,guest_mac=52:54:00:12:34:56")
	if err != nil || !reflect.DeepEqual(n, NIC{Mode: "tap", TapIf: "tap3", GuestMAC: "52:54:00:12:34:56"}) {
		t.Errorf("ParseNIC: %+v %v", n, err)
	}
	for _, bad := range []string{"tap", "mode=tap,script=/bin/true"} {
		if _, err := ParseNIC(bad); err == nil {
			t.Errorf("ParseNIC(%q) accepted", bad)
		}
	}
}

func TestExitStatusOfEveryOutcome(t *testing.T) {
	want := map[vmm.Outcome]int{
		vmm.OutcomePowerOff: ExitPowerOff, vmm.OutcomeReset: ExitReset, vmm.OutcomeCrash: ExitCrash,
		vmm.OutcomeTimeout: ExitTimeout, vmm.OutcomeStopped: ExitStopped, vmm.OutcomeError: ExitFailure,
	}
	for o, code := range want {
		if got := ExitStatus(o); got != code {
			t.Errorf("ExitStatus(%v) = %d, want %d", o, got, code)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	cpus, err := parseCPUList("0")
	if err != nil || len(cpus) != 1 || cpus[0] != 0 {
		t.Errorf("parseCPUList(0) = %v, %v", cpus, err)
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	if allowed.Count() >= 2 && allowed.IsSet(1) {
		if cpus, err := parseCPUList("1,0-1"); err != nil || len(cpus) != 2 || cpus[0] != 0 || cpus[1] != 1 {
			t.Errorf("parseCPUList(1,0-1) = %v, %v", cpus, err)
		}
	}
	for _, bad := range []string{"", "x", "3-1", "-1", "0,,1", "1-", "99999", "1023"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
	if err := (Spec{Kernel: "Image", VcpuAffinity: "0-"}).Check(); err == nil || !strings.Contains(err.Error(), "vcpu_affinity") {
		t.Errorf("a bad vcpu_affinity: %v", err)
	}
	if err := (Spec{Kernel: "Image", SVEMaxVL: 100}).Check(); err == nil || !strings.Contains(err.Error(), "multiple of 128") {
		t.Errorf("--sve-max-vl 100: %v", err)
	}
	if err := (Spec{Kernel: "Image", SVEMaxVL: 256, DisableSVE: true}).Check(); err == nil {
		t.Errorf("--sve-max-vl with --disable-sve accepted")
	}
}
