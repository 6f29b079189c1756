package memory

import "fmt"

// HostRange is the host virtual address of guest-physical [gpa, gpa+n),
// checked to lie entirely within RAM, for a host kernel driver (vhost)
// that reads guest RAM through gokvm's own mapping: a guest-chosen address
// outside RAM is an ErrOutOfRange error, never an address handed on.
func (m *GuestMemory) HostRange(gpa, n uint64) (uintptr, error) {
	if len(m.mem) == 0 || !m.Contains(gpa, n) {
		return 0, fmt.Errorf("%w: [%#x, +%#x) not within [%#x, %#x)", ErrOutOfRange, gpa, n, m.base, m.End())
	}
	return m.HostAddr() + uintptr(gpa-m.base), nil
}
