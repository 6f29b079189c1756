package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/machine"
)

// TestCheckWithoutKVM: a host where no arm64 guest can boot says why, on
// one line, with status 1; --json parses and says the same.
func TestCheckWithoutKVM(t *testing.T) {
	code, stdout, stderr := runCLI(t, "check", "--kvm-device", "/dev/null")
	if code != machine.ExitFailure {
		t.Errorf("status %d, want %d", code, machine.ExitFailure)
	}
	want := "/dev/null is not a KVM device"
	if runtime.GOARCH != "arm64" && runtime.GOARCH != "arm" {
		want = "this is a linux/" + runtime.GOARCH + " host"
	}
	if !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("stderr %q does not say %q on one line", stderr, want)
	}
	if !strings.Contains(stdout, "no arm64 guest can boot here") || !strings.Contains(stdout, "/dev/net/tun") {
		t.Errorf("the report lacks the verdict or the devices:\n%s", stdout)
	}
	code, out, _ := runCLI(t, "check", "--json", "--kvm-device", "/dev/null")
	var r machine.HostReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json printed no JSON: %v\n%s", err, out)
	}
	if code != machine.ExitFailure || r.CanBoot || !strings.Contains(r.Reason, want) || r.KVMDevice != "/dev/null" || len(r.Devices) != 3 {
		t.Errorf("--json: status %d, report %+v", code, r)
	}
	if code, _, _ := runCLI(t, "check", "extra"); code != machine.ExitUsage {
		t.Errorf("check with a stray argument: status %d", code)
	}
}
