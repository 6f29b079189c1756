package sandbox

import (
	"fmt"
	"path/filepath"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox/guestinit"
	"github.com/gokvm/gokvm/vmm"
)

// withShares adds the host's root as a read-only 9p share (RootTag) and
// lists the spec's other shares for the guest to mount at their host
// paths.
func withShares(spec machine.Spec, root string) (machine.Spec, []guestinit.Mount, error) {
	var mounts []guestinit.Mount
	for i, s := range spec.Shares {
		if s.Tag == RootTag {
			return spec, nil, vmm.Configf("shares[%d]: the tag %s is the sandbox's own (the host's root)", i, RootTag)
		}
		dir, err := filepath.Abs(s.Dir)
		if err != nil {
			return spec, nil, fmt.Errorf("shares[%d]: %w", i, err)
		}
		mounts = append(mounts, guestinit.Mount{Tag: s.Tag, Path: dir, ReadOnly: s.ReadOnly})
	}
	spec.Shares = append(append([]machine.Share(nil), spec.Shares...), machine.Share{Dir: root, Tag: RootTag, ReadOnly: true})
	return spec, mounts, nil
}
