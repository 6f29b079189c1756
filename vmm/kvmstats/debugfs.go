package kvmstats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DebugfsKVM is where debugfs shows KVM (virt/kvm/kvm_main.c,
// kvm_create_vm_debugfs): a directory per VM named TID-FD, TID the thread
// that created the VM and FD its VM descriptor, with one file per
// statistic holding its value in decimal. The vcpus' statistics are in
// that directory too, summed over the VM's vcpus. It needs debugfs
// mounted and, by default, root.
const DebugfsKVM = "/sys/kernel/debug/kvm"

// ErrNoVM says a process has no VM that debugfs shows.
var ErrNoVM = errors.New("no KVM VM found")

// DebugfsVM is a VM's debugfs directory and the cumulative statistics in
// it, listed once.
type DebugfsVM struct {
	Dir   string
	names []string
}

// OpenDebugfsVM lists the cumulative statistics of a VM's debugfs
// directory. The kernel makes instants read-only and every other
// statistic writable (writing 0 clears it; kvm_stats_debugfs_mode): a
// file without its owner's write bit is left out. So are histograms,
// which debugfs shows as their first bucket; their names end in _hist
// (halt_wait_hist, halt_poll_success_hist, ...).
func OpenDebugfsVM(dir string) (*DebugfsVM, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	d := &DebugfsVM{Dir: dir}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), "_hist") {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm()&0o200 == 0 {
			continue
		}
		d.names = append(d.names, e.Name())
	}
	if len(d.names) == 0 {
		return nil, fmt.Errorf("%s: no KVM statistics in it", dir)
	}
	return d, nil
}

// Read reads every listed statistic as kvm.NAME.
func (d *DebugfsVM) Read() (Counters, error) {
	c := make(Counters, len(d.names))
	for _, n := range d.names {
		b, err := readFile(filepath.Join(d.Dir, n))
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(d.Dir, n), err)
		}
		c["kvm."+n] = v
	}
	return c, nil
}

// FindVMDir finds, under kvmDir (DebugfsKVM), the directory of the VM
// that process pid holds, with procDir (/proc) telling its descriptors
// (a VM's links to anon_inode:kvm-vm) and threads. The directory's TID
// is a thread of pid unless that thread has ended (a Go program may have
// created the VM on a thread it later retired); then the one directory
// whose FD is pid's VM descriptor is taken, if only one is.
func FindVMDir(kvmDir, procDir string, pid int) (string, error) {
	base := filepath.Join(procDir, strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(base, "fd"))
	if err != nil {
		return "", err
	}
	vmFDs := map[string]bool{}
	for _, e := range fds {
		if target, err := os.Readlink(filepath.Join(base, "fd", e.Name())); err == nil && target == "anon_inode:kvm-vm" {
			vmFDs[e.Name()] = true
		}
	}
	if len(vmFDs) == 0 {
		return "", fmt.Errorf("process %d: %w (no descriptor is a KVM VM)", pid, ErrNoVM)
	}
	threads := map[string]bool{strconv.Itoa(pid): true}
	if ts, err := os.ReadDir(filepath.Join(base, "task")); err == nil {
		for _, t := range ts {
			threads[t.Name()] = true
		}
	}
	dirs, err := os.ReadDir(kvmDir)
	if err != nil {
		return "", err
	}
	var ours, byFD []string
	for _, e := range dirs {
		tid, fd, ok := strings.Cut(e.Name(), "-")
		if !ok || !e.IsDir() || !vmFDs[fd] {
			continue
		}
		byFD = append(byFD, e.Name())
		if threads[tid] {
			ours = append(ours, e.Name())
		}
	}
	switch {
	case len(ours) == 1:
		return filepath.Join(kvmDir, ours[0]), nil
	case len(ours) == 0 && len(byFD) == 1:
		return filepath.Join(kvmDir, byFD[0]), nil
	case len(ours) == 0 && len(byFD) == 0:
		return "", fmt.Errorf("process %d: %w in %s", pid, ErrNoVM, kvmDir)
	}
	return "", fmt.Errorf("process %d: more than one VM directory in %s could be its VM: %s", pid, kvmDir, strings.Join(byFD, ", "))
}
