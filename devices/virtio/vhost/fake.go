package vhost

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FakeKernel is a vhost device in memory, for tests on hosts without
// /dev/vhost-net or /dev/vhost-vsock (the devices built on Rings test
// their ioctl sequences against it). It records every request its Dev
// makes and keeps what the kernel keeps that gokvm relies on, as
// drivers/vhost/vhost.c's vhost_vring_ioctl does: each ring's base (the
// next available entry it takes) set by VHOST_SET_VRING_BASE, refused with
// EBUSY while the ring has a backend, and answered by
// VHOST_GET_VRING_BASE; and whether each ring has a backend, as
// VHOST_NET_SET_BACKEND (per ring, fd -1 for none) and
// VHOST_VSOCK_SET_RUNNING (every ring) leave it. It moves no data: a test
// moves a ring on with Advance, as the kernel taking chains would.
type FakeKernel struct {
	mu       sync.Mutex
	features uint64
	calls    []Call
	base     map[uint32]uint16
	backend  map[uint32]bool
	fail     map[string]error
}

// Call is one request a FakeKernel took: its name (VHOST_...), the ring
// it was for, and its number (a size, a base, features, a CID) or
// descriptor.
type Call struct {
	Name  string
	Index uint32
	Num   uint64
	FD    int
}

// NewFakeKernel is a fake vhost device that supports features.
func NewFakeKernel(features uint64) *FakeKernel {
	return &FakeKernel{features: features, base: map[uint32]uint16{}, backend: map[uint32]bool{}, fail: map[string]error{}}
}

// Dev is an open device whose requests k takes.
func (k *FakeKernel) Dev(path string) *Dev {
	return &Dev{path: path, fd: -1, open: true, sys: k.ioctl}
}

// Calls are the requests taken so far, in order.
func (k *FakeKernel) Calls() []Call {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Call(nil), k.calls...)
}

// Base is where ring is: the next available entry it takes.
func (k *FakeKernel) Base(ring uint32) uint16 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.base[ring]
}

// Advance moves ring on by n available entries, as the kernel does when
// it takes chains.
func (k *FakeKernel) Advance(ring uint32, n uint16) {
	k.mu.Lock()
	k.base[ring] += n
	k.mu.Unlock()
}

// Fail makes the request called name fail with err from now on (nil:
// succeed again).
func (k *FakeKernel) Fail(name string, err error) {
	k.mu.Lock()
	if err == nil {
		delete(k.fail, name)
	} else {
		k.fail[name] = err
	}
	k.mu.Unlock()
}

// reqNames are the requests' names.
var reqNames = map[uintptr]string{
	reqGetFeatures: "VHOST_GET_FEATURES", reqSetFeatures: "VHOST_SET_FEATURES",
	reqSetMemTable: "VHOST_SET_MEM_TABLE", reqSetVringNum: "VHOST_SET_VRING_NUM",
	reqSetVringAddr: "VHOST_SET_VRING_ADDR", reqSetVringBase: "VHOST_SET_VRING_BASE",
	reqGetVringBase: "VHOST_GET_VRING_BASE", reqSetVringKick: "VHOST_SET_VRING_KICK",
	reqSetVringCall: "VHOST_SET_VRING_CALL", reqNetSetBackend: "VHOST_NET_SET_BACKEND",
	reqVsockSetCID: "VHOST_VSOCK_SET_GUEST_CID", reqVsockSetRunning: "VHOST_VSOCK_SET_RUNNING",
}

func (k *FakeKernel) ioctl(req uintptr, arg unsafe.Pointer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name, ok := reqNames[req]
	if !ok {
		return unix.ENOTTY
	}
	c := Call{Name: name}
	if e := k.fail[name]; e != nil {
		k.calls = append(k.calls, c)
		return e // as a failed request does, changing nothing
	}
	var err error
	switch req {
	case reqGetFeatures:
		*(*uint64)(arg) = k.features
	case reqSetFeatures, reqVsockSetCID:
		c.Num = *(*uint64)(arg)
	case reqSetMemTable:
		c.Num = uint64((*memTable)(arg).NRegions)
	case reqSetVringNum:
		s := (*vringState)(arg)
		c.Index, c.Num = s.Index, uint64(s.Num)
	case reqSetVringAddr:
		c.Index = (*vringAddr)(arg).Index
	case reqSetVringBase:
		s := (*vringState)(arg)
		c.Index, c.Num = s.Index, uint64(s.Num)
		switch {
		case k.backend[s.Index]:
			err = unix.EBUSY // "Moving base with an active backend?"
		case s.Num > 0xffff:
			err = unix.EINVAL
		default:
			k.base[s.Index] = uint16(s.Num)
		}
	case reqGetVringBase:
		s := (*vringState)(arg)
		s.Num = uint32(k.base[s.Index])
		c.Index, c.Num = s.Index, uint64(s.Num)
	case reqSetVringKick, reqSetVringCall:
		f := (*vringFile)(arg)
		c.Index, c.FD = f.Index, int(f.FD)
	case reqNetSetBackend:
		f := (*vringFile)(arg)
		c.Index, c.FD = f.Index, int(f.FD)
		k.backend[f.Index] = f.FD >= 0
	case reqVsockSetRunning:
		on := *(*int32)(arg)
		c.Num = uint64(on)
		for _, ring := range []uint32{0, 1} {
			k.backend[ring] = on != 0
		}
	}
	k.calls = append(k.calls, c)
	return err
}
