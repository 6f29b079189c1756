package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// checkCommand is gokvm check [--json] [--kvm-device PATH]: what this host
// offers gokvm. Status 0 when an arm64 guest can boot here, 1 (with the
// reason on one line) when not.
func checkCommand(args []string, env Env) int {
	fs := flag.NewFlagSet("gokvm check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	dev := fs.String("kvm-device", kvm.DefaultDevice, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "gokvm: check takes --json and --kvm-device PATH (see gokvm help)\n")
		return machine.ExitUsage
	}
	r := machine.CheckHost(*dev)
	if *asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(env.Stdout, "%s\n", b)
	} else {
		writeReport(env.Stdout, r)
	}
	if !r.CanBoot {
		fmt.Fprintf(env.Stderr, "gokvm: check: no arm64 guest can boot here: %s\n", r.Reason)
		return machine.ExitFailure
	}
	return 0
}

func writeReport(w io.Writer, r machine.HostReport) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	if r.CanBoot {
		fmt.Fprintf(w, "an arm64 guest can boot here\n")
	} else {
		fmt.Fprintf(w, "no arm64 guest can boot here: %s\n", r.Reason)
	}
	fmt.Fprintf(w, "host: linux/%s\n", r.HostArch)
	if r.APIVersion != 0 {
		fmt.Fprintf(w, "%s: KVM API version %d\n", r.KVMDevice, r.APIVersion)
		fmt.Fprintf(w, "interrupt controllers: GICv3 %s, GICv2 %s\n", yes(r.GICv3), yes(r.GICv2))
		if r.SVEMaxVL > 0 {
			fmt.Fprintf(w, "SVE: up to %d-bit vectors\n", r.SVEMaxVL)
		} else {
			fmt.Fprintf(w, "SVE: no\n")
		}
		fmt.Fprintf(w, "guest physical addresses: %d bits; vcpus per VM: at most %d\n", r.IPABits, r.MaxVcpus)
		for _, c := range r.Capabilities {
			fmt.Fprintf(w, "  %-28s %-4d %s\n", c.Name, c.Value, c.Enables)
		}
	}
	for _, d := range r.Devices {
		state := "usable"
		if !d.Usable {
			state = d.Problem
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", d.Path, state, d.Enables)
	}
	fmt.Fprintf(w, "CAP_NET_ADMIN (creating taps): %s\n", yes(r.CapNetAdmin))
}
