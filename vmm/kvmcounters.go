package vmm

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/kvmstats"
)

// kvmCounters reads what KVM counts for this VM (--stats): the binary
// statistics files of the VM and each vcpu, opened while the VM is built
// (the run phase's seccomp filter allows no KVM_GET_STATS_FD), read with
// pread; or, on a kernel without them (before Linux 5.14), the VM's
// debugfs directory, listed now and read with read-only opens.
type kvmCounters struct {
	vm      *kvmstats.File
	vcpus   []*kvmstats.File
	debugfs *kvmstats.DebugfsVM
	// err says why there are no counters.
	err error
}

func openKVMCounters(vm *kvm.VM, vcpus []*kvm.Vcpu) *kvmCounters {
	k := &kvmCounters{}
	binErr := k.openBinary(vm, vcpus)
	if binErr == nil {
		return k
	}
	k.close()
	dir := filepath.Join(kvmstats.DebugfsKVM, vm.DebugfsName())
	d, err := kvmstats.OpenDebugfsVM(dir)
	if err != nil {
		k.err = fmt.Errorf("binary statistics: %w; debugfs: %w", binErr, err)
		return k
	}
	k.debugfs = d
	return k
}

func (k *kvmCounters) openBinary(vm *kvm.VM, vcpus []*kvm.Vcpu) error {
	fd, err := vm.StatsFD()
	if err == nil {
		k.vm, err = kvmstats.OpenFile(fd)
	}
	if err != nil {
		return err
	}
	for _, v := range vcpus {
		fd, err := v.StatsFD()
		if err != nil {
			return err
		}
		f, err := kvmstats.OpenFile(fd)
		if err != nil {
			return fmt.Errorf("vcpu %d's statistics: %w", v.ID, err)
		}
		k.vcpus = append(k.vcpus, f)
	}
	return nil
}

// read returns the VM's counters with its vcpus' summed, each vcpu's
// (binary statistics only: debugfs sums them), and where they came from.
func (k *kvmCounters) read() (total kvmstats.Counters, perVcpu []kvmstats.Counters, source string, err error) {
	switch {
	case k.err != nil:
		return nil, nil, "", k.err
	case k.debugfs != nil:
		total, err = k.debugfs.Read()
		return total, nil, k.debugfs.Dir, err
	}
	if total, err = k.vm.Read(); err != nil {
		return nil, nil, "", err
	}
	for _, f := range k.vcpus {
		c, err := f.Read()
		if err != nil {
			return nil, nil, "", err
		}
		total.Add(c)
		perVcpu = append(perVcpu, c)
	}
	return total, perVcpu, "binary statistics", nil
}

func (k *kvmCounters) close() error {
	var errs []error
	if k.vm != nil {
		errs = append(errs, k.vm.Close())
		k.vm = nil
	}
	for _, f := range k.vcpus {
		errs = append(errs, f.Close())
	}
	k.vcpus = nil
	return errors.Join(errs...)
}

// countedNotification counts the wakeups of whoever waits for a guest's
// notification (an ioeventfd): the goroutine serving the queue, which
// waits on it itself (virtio.Kick). It is a figure --stats prints beside
// KVM's, which counts the guest's writes (mmio_exit_kernel); a Signal
// (a notification that came as an MMIO write, or the device's stop) is
// counted too when a Wait takes it. It is still an
// EventFDNotification: vhost takes its descriptor and no one waits. (The
// eventfd is a named field: embedded, its name would hide its EventFD
// method.)
type countedNotification struct {
	efd     *kvm.EventFD
	wakeups *atomic.Uint64
}

var _ EventFDNotification = countedNotification{}

func (n countedNotification) Wait() error {
	err := n.efd.Wait()
	if err == nil {
		n.wakeups.Add(1)
	}
	return err
}

func (n countedNotification) Signal() error { return n.efd.Signal() }

func (n countedNotification) Close() error { return n.efd.Close() }

func (n countedNotification) EventFD() int { return n.efd.EventFD() }
