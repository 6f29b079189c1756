package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox/guestinit"
	"github.com/gokvm/gokvm/vmm"
)

// rootMounts are the places below the host's root whose own mounts the
// root share enters, where they are separate file systems: where users
// keep programs and files. Every other mount (/proc, /sys, /dev, /run,
// /tmp, removable media) stays out: a walk into it is refused.
var rootMounts = []string{"/usr", "/home", "/opt", "/srv", "/var", "/nix", "/boot", "/root", "/snap", "/gnu"}

// sharedRootMounts lists those of rootMounts below root that exist and
// are not kernel file systems (an automounter's /home, say, is left out),
// and the mount of dir, the command's directory, which the user chose.
func sharedRootMounts(root, dir string) []string {
	var out []string
	for _, m := range append(rootMounts, dir) {
		p := m
		if m != dir {
			p = filepath.Join(root, m)
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			continue
		}
		if typ, err := ninep.MountFSType(p); err != nil || ninep.PseudoFS(typ) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// withShares adds the host's root as a read-only 9p share (RootTag),
// entering the mounts of sharedRootMounts only, and lists the spec's
// other shares for the guest to mount at their host paths.
func withShares(spec machine.Spec, root, dir string) (machine.Spec, []guestinit.Mount, error) {
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
	spec.Shares = append(append([]machine.Share(nil), spec.Shares...), machine.Share{Dir: root, Tag: RootTag, ReadOnly: true, Mounts: sharedRootMounts(root, dir)})
	return spec, mounts, nil
}
