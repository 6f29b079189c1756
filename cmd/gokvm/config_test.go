package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/machine"
)

// TestConfigRoundTrip: flags, printed as a config and read back, give the
// same VM; flags given beside --config override it.
func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"run", "-k", "/boot/Image", "-i", "/boot/initrd", "-p", "console=ttyS0 quiet", "-c", "2", "-m", "512M@0x100000000",
		"--irqchip", "gicv3", "-d", "/img/a.img,ro,serial=A", "-d", "/img/b.img,direct", "-n", "mode=tap,tapif=tap3",
		"-n", "mode=none", "--virtio-transport", "mmio-legacy", "--timeout", "90s"}
	code, printed, stderr := runCLI(t, append(flags, "--print-config")...)
	if code != 0 {
		t.Fatalf("--print-config: status %d: %s", code, stderr)
	}
	var s machine.Spec
	if err := json.Unmarshal([]byte(printed), &s); err != nil {
		t.Fatalf("--print-config printed no JSON: %v\n%s", err, printed)
	}
	if s.CPUs != 2 || s.Memory != "512M@0x100000000" || len(s.Disks) != 2 || !s.Disks[0].ReadOnly || s.Disks[0].Serial != "A" ||
		!s.Disks[1].Direct || len(s.NICs) != 2 || s.NICs[0].TapIf != "tap3" || s.NICs[0].GuestMAC == "" ||
		s.Transport != "mmio-legacy" || s.Timeout != "1m30s" || s.IRQChip != "gicv3" || s.Console != "serial" {
		t.Errorf("printed spec does not say what the flags did:\n%s", printed)
	}
	cfg := writeFile(t, dir, "vm.json", []byte(printed))
	code, again, stderr := runCLI(t, "run", "--config", cfg, "--print-config")
	if code != 0 || again != printed {
		t.Errorf("--config of the printed spec: status %d %s\nprinted:\n%s\nagain:\n%s", code, stderr, printed, again)
	}
	// Flags override the file.
	code, over, _ := runCLI(t, "run", "--config", cfg, "-c", "4", "-d", "/img/c.img", "--print-config")
	var o machine.Spec
	if err := json.Unmarshal([]byte(over), &o); code != 0 || err != nil {
		t.Fatalf("override: status %d, %v", code, err)
	}
	if o.CPUs != 4 || len(o.Disks) != 1 || o.Disks[0].Path != "/img/c.img" || o.Memory != s.Memory || len(o.NICs) != 2 {
		t.Errorf("flags did not override the config as they should:\n%s", over)
	}
}

// TestBadConfig: a bad file is a usage error on one line naming the field.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json, want string
	}{
		{"unknown field", `{"kernel": "/boot/Image", "ram": 512}`, `unknown field "ram"`},
		{"wrong type", `{"kernel": "/boot/Image", "cpus": "2"}`, `field "cpus"`},
		{"malformed", `{"kernel": "/boot/Image",`, "malformed JSON"},
		{"bad value", `{"kernel": "/boot/Image", "memory": "lots"}`, `memory: "lots"`},
		{"bad nic", `{"kernel": "/boot/Image", "nics": [{"mode": "tap", "guest_mac": "nope"}]}`, "nics[0].guest_mac"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".json", []byte(tc.json))
			code, _, stderr := runCLI(t, "run", "--config", cfg)
			if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("status %d, stderr %q; want %d and one line saying %q", code, stderr, machine.ExitUsage, tc.want)
			}
		})
	}
	code, _, stderr := runCLI(t, "run", "--config", filepath.Join(dir, "missing.json"))
	if code != machine.ExitUsage || !strings.Contains(stderr, "missing.json") {
		t.Errorf("a missing config: status %d, %q", code, stderr)
	}
}
