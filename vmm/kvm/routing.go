package kvm

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"
)

// Route kinds (KVM_IRQ_ROUTING_*).
const (
	RouteIRQChip = 1 // a pin of the in-kernel interrupt controller
	RouteMSI     = 2 // a message-signalled interrupt
)

// msiValidDevID (KVM_MSI_VALID_DEVID) says an MSI route carries the
// sending device's ID, which a GICv3 ITS translates by.
const msiValidDevID = 1 << 0

// IRQRoute is one entry of a VM's interrupt routing table
// (kvm_irq_routing_entry): what a GSI, and the irqfds bound to it,
// inject.
type IRQRoute struct {
	GSI  uint32
	Kind uint32 // RouteIRQChip or RouteMSI
	// IRQChip and Pin, for RouteIRQChip: on ARM, chip 0 and the SPI
	// number (the interrupt ID less 32).
	IRQChip, Pin uint32
	// Address and Data are an MSI's message, for RouteMSI.
	Address uint64
	Data    uint32
	// DevID, when HasDevID, is the sending device's ID (a PCI
	// requester ID) for a GICv3 ITS (KVM_CAP_MSI_DEVID).
	DevID    uint32
	HasDevID bool
}

// routeEntrySize is sizeof(struct kvm_irq_routing_entry): gsi, type,
// flags, pad, then a union of 32 bytes.
const routeEntrySize = 48

// encode writes r as a kvm_irq_routing_entry.
func (r IRQRoute) encode(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], r.GSI)
	le.PutUint32(b[4:], r.Kind)
	var flags uint32
	switch r.Kind {
	case RouteIRQChip:
		le.PutUint32(b[16:], r.IRQChip)
		le.PutUint32(b[20:], r.Pin)
	case RouteMSI:
		le.PutUint32(b[16:], uint32(r.Address))
		le.PutUint32(b[20:], uint32(r.Address>>32))
		le.PutUint32(b[24:], r.Data)
		if r.HasDevID {
			flags = msiValidDevID
			le.PutUint32(b[28:], r.DevID)
		}
	}
	le.PutUint32(b[8:], flags)
}

// SetGSIRouting replaces the VM's whole interrupt routing table
// (KVM_SET_GSI_ROUTING): every GSI not in routes injects nothing from
// then on, the default routes of the interrupt controller's pins
// included, so a caller keeps those in the table.
func (vm *VM) SetGSIRouting(routes []IRQRoute) error {
	if vm.CheckExtension(CapIRQRouting) <= 0 {
		return ErrUnsupported
	}
	// struct kvm_irq_routing: nr, flags, then the entries; the buffer is
	// of uint64s so that the entries are aligned for the kernel's copy.
	buf := make([]uint64, (8+routeEntrySize*len(routes)+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(routes)))
	for i, r := range routes {
		r.encode(b[8+i*routeEntrySize:])
	}
	_, err := ioctl(vm.fd, kvmSetGSIRouting, uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(buf)
	if err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING (%d routes): %w", len(routes), err)
	}
	return nil
}
