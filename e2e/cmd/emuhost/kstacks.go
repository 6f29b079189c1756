package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gokvm/gokvm/e2e/kprofile"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// Where the host kernel spends each VMM's time per request (--kernel-profile):
// the scenario runner samples the kernel stacks of the VMM's threads
// between each phase's brackets (kprofile), and the table shows, per
// phase, the kernel functions that cost most per request under either
// VMM, for the vcpu threads and for the others (with the vhost workers).

// kernelTopFunctions is how many functions each table shows.
const kernelTopFunctions = 14

// phaseProfile is a run's kernel profile of one phase: the stacks of the
// sample taken on the phase's end marker (the time since its begin
// marker) and the samples lost meanwhile (of any process: the kernel
// counts them per CPU).
type phaseProfile struct {
	stacks kprofile.Stacks
	lost   uint64
}

// phaseStacks are a run's kernel profiles by phase.
func phaseStacks(r scenario.Result) map[string]phaseProfile {
	out := map[string]phaseProfile{}
	name := ""
	for _, s := range r.Samples {
		if _, rest, ok := strings.Cut(s.Line, "GUEST-PHASE-BEGIN "); ok && len(strings.Fields(rest)) > 0 {
			name = strings.Fields(rest)[0]
			continue
		}
		if strings.Contains(s.Line, "GUEST-PHASE-END") && name != "" {
			out[name] = phaseProfile{s.KernelStacks, s.KernelLost}
			name = ""
		}
	}
	return out
}

// kernelCost is one phase's samples under one VMM, summed over its runs,
// split by function.
type kernelCost struct {
	requests uint64
	total    uint64
	lost     uint64
	// inclusive counts the samples with the function anywhere in the
	// stack, self those with it as the leaf.
	inclusive, self map[string]uint64
}

// add sums the stacks whose thread kind is one of kinds.
func (k *kernelCost) add(st kprofile.Stacks, kinds ...string) {
	for stack, n := range st {
		frames := strings.Split(stack, ";")
		if !slices.Contains(kinds, frames[0]) {
			continue
		}
		k.total += n
		seen := map[string]bool{}
		for _, f := range frames[1:] {
			if !seen[f] {
				seen[f] = true
				k.inclusive[f] += n
			}
		}
		if len(frames) > 1 {
			k.self[frames[len(frames)-1]] += n
		}
	}
}

// perRequest is n samples in µs per request.
func (k *kernelCost) perRequest(n uint64) float64 {
	if k.requests == 0 {
		return 0
	}
	return float64(n) * float64(kprofile.Period.Microseconds()) / float64(k.requests)
}

// printKernelProfile prints, for each phase and thread group, the
// functions' inclusive and self time per request under each VMM.
func (w *workload) printKernelProfile(columns []string, res map[string]scenario.Result) {
	if len(w.phases) == 0 {
		return
	}
	groups := []struct {
		title string
		kinds []string
	}{
		{"vcpu threads", []string{"vcpu"}},
		{"other threads and vhost workers", []string{"other", "vhost"}},
	}
	for _, p := range w.phases {
		if p.name == emptyPhase.name {
			continue
		}
		for _, g := range groups {
			costs := map[string]*kernelCost{}
			for _, c := range columns {
				k := &kernelCost{inclusive: map[string]uint64{}, self: map[string]uint64{}}
				for _, n := range w.runs[c] {
					r := res[n]
					pc, _ := phaseCosts(r)
					k.requests += pc[p.name]["guest.requests"]
					prof := phaseStacks(r)[p.name]
					k.add(prof.stacks, g.kinds...)
					k.lost += prof.lost
				}
				costs[c] = k
			}
			printKernelTable(fmt.Sprintf("%s, %s", p.name, g.title), columns, costs)
		}
	}
}

// passThrough are the frames on the way into every system call or
// exception from user space (arm64's entry code), a Go program's system
// call wrappers and a thread's start, which say nothing of where the time
// goes.
var passThrough = map[string]bool{
	"el0t_64_sync": true, "el0t_64_sync_handler": true, "el0_svc": true,
	"do_el0_svc": true, "el0_svc_common.constprop.0": true, "invoke_syscall": true,
	"el0t_64_irq": true, "el0t_64_irq_handler": true, "el0_interrupt": true,
	"internal/runtime/syscall/linux.Syscall6": true, "syscall.Syscall": true,
	"syscall.Syscall6": true, "syscall.RawSyscall": true, "syscall.RawSyscall6": true,
	"runtime.goexit": true, "runtime.mstart": true, "runtime.mstart0": true, "runtime.mstart1": true,
	"start_thread": true, "thread_start": true,
}

// ownPrefix is left out of the tables' function names: gokvm's own
// packages are known by the rest.
const ownPrefix = "github.com/gokvm/gokvm/"

func printKernelTable(title string, columns []string, costs map[string]*kernelCost) {
	// The functions costing most per request under any VMM. Bare
	// addresses (a guest's pcs, a symbol kallsyms lacks) and the frames
	// every system call or thread passes through are in the folded
	// stacks, not here: they would fill the table's top rows.
	worst := map[string]float64{}
	for _, c := range columns {
		for f, n := range costs[c].inclusive {
			if !strings.HasPrefix(f, "0x") && !passThrough[f] {
				worst[f] = max(worst[f], costs[c].perRequest(n))
			}
		}
	}
	funcs := make([]string, 0, len(worst))
	for f := range worst {
		funcs = append(funcs, f)
	}
	sort.Slice(funcs, func(i, j int) bool {
		if worst[funcs[i]] != worst[funcs[j]] {
			return worst[funcs[i]] > worst[funcs[j]]
		}
		return funcs[i] < funcs[j]
	})
	if len(funcs) > kernelTopFunctions {
		funcs = funcs[:kernelTopFunctions]
	}
	fmt.Printf("Time per request by function, %s (kernel profile, µs, inclusive / self; one sample per %v of CPU", title, kprofile.Period)
	for _, c := range columns {
		if costs[c].lost > 0 {
			fmt.Printf("; %s: %d samples lost", c, costs[c].lost)
		}
	}
	fmt.Printf("; %s is the vcpu's time in the guest, user functions the VMM's that made a system call)\n\n| %-56s |", kprofile.GuestFrame, "function")
	for _, c := range columns {
		fmt.Printf(" %15s |", c)
	}
	fmt.Printf("\n|%s|", strings.Repeat("-", 58))
	for range columns {
		fmt.Printf("%s|", strings.Repeat("-", 17))
	}
	fmt.Printf("\n| %-56s |", "all (samples)")
	for _, c := range columns {
		fmt.Printf(" %15s |", fmt.Sprintf("%s (%d)", formatCost(costs[c].perRequest(costs[c].total)), costs[c].total))
	}
	fmt.Println()
	for _, f := range funcs {
		fmt.Printf("| %-56.56s |", strings.TrimPrefix(f, ownPrefix))
		for _, c := range columns {
			k := costs[c]
			fmt.Printf(" %15s |", formatCost(k.perRequest(k.inclusive[f]))+" / "+formatCost(k.perRequest(k.self[f])))
		}
		fmt.Println()
	}
	fmt.Println()
}

// saveKernelStacks writes each run's phases' stacks into dir as
// RUN-PHASE.folded, one "stack count" line each (flamegraph.pl's input).
func saveKernelStacks(dir string, res map[string]scenario.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, r := range res {
		for phase, prof := range phaseStacks(r) {
			var b strings.Builder
			for stack, n := range prof.stacks {
				fmt.Fprintf(&b, "%s %d\n", stack, n)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+phase+".folded"), []byte(b.String()), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("Kernel stacks of the runs' phases are in %s (RUN-PHASE.folded)\n\n", dir)
	return nil
}
