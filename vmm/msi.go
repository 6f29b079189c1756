package vmm

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// routing is the VM's interrupt routing table, kept whole because KVM
// takes it whole (KVM_SET_GSI_ROUTING): the board's wired routes, then a
// GSI per MSI, routed where the guest's last message for it says.
type routing struct {
	mu    sync.Mutex
	wired []kvm.IRQRoute
	msis  map[uint32]kvm.IRQRoute // by GSI; a GSI without a route sends nothing
	next  uint32                  // the next GSI to give an MSI
}

// newMSI is DeviceEnv.NewMSI for the device named name placed at p: an
// irqfd on a GSI of its own, routed as the guest programs the message.
func (m *Machine) newMSI(name string, p Placement) (MSI, error) {
	mb, ok := m.board.(MSIBoard)
	if !ok || !mb.HasMSI() {
		return nil, ErrUnsupported
	}
	if m.vm.CheckExtension(kvm.CapIRQRouting) <= 0 {
		return nil, fmt.Errorf("%s: MSIs need %s", name, kvm.CapIRQRouting)
	}
	r := &m.routing
	r.mu.Lock()
	if r.msis == nil {
		r.wired = mb.WiredRoutes()
		r.msis = map[uint32]kvm.IRQRoute{}
		for _, w := range r.wired {
			r.next = max(r.next, w.GSI+1)
		}
	}
	gsi := r.next
	r.next++
	r.mu.Unlock()
	efd, err := kvm.NewEventFD()
	if err != nil {
		return nil, err
	}
	if err := m.vm.IRQFD(gsi, efd.FD()); err != nil {
		efd.Close()
		return nil, fmt.Errorf("%s: an irqfd for an MSI: %w", name, err)
	}
	m.closers = append(m.closers, efd)
	return &msi{m: m, board: mb, p: p, gsi: gsi, efd: efd}, nil
}

// msi is one MSI: its irqfd and GSI.
type msi struct {
	m     *Machine
	board MSIBoard
	p     Placement
	gsi   uint32
	efd   *kvm.EventFD
}

// Route implements MSI: the table is set again only when the route
// changes.
func (v *msi) Route(address uint64, data uint32) error {
	route, rerr := v.board.MSIRoute(v.p, v.gsi, address, data)
	r := &v.m.routing
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.msis[v.gsi]
	switch {
	case rerr != nil && !had:
		return rerr
	case rerr != nil:
		delete(r.msis, v.gsi)
	case had && old == route:
		return nil
	default:
		r.msis[v.gsi] = route
	}
	if err := v.m.vm.SetGSIRouting(r.table()); err != nil {
		return err
	}
	return rerr
}

// table is the whole routing table; r.mu is held.
func (r *routing) table() []kvm.IRQRoute {
	t := slices.Clone(r.wired)
	for _, gsi := range slices.Sorted(maps.Keys(r.msis)) {
		t = append(t, r.msis[gsi])
	}
	return t
}

// Signal implements MSI.
func (v *msi) Signal() error { return v.efd.Signal() }
