package kvm

import "fmt"

// MissingCapabilityError says that the host's KVM lacks an extension gokvm
// needs, and what it is needed for.
type MissingCapabilityError struct {
	Cap Capability
	For string
}

func (e *MissingCapabilityError) Error() string {
	return fmt.Sprintf("host KVM lacks %s (needed for %s)", e.Cap, e.For)
}
