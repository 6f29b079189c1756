package seccomp

import (
	"slices"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/vmm/seccomp/seccomptest"
)

// TestUnixNames: each name the table gives is what x/sys/unix makes on
// that architecture for the 64-bit call, and the 64-bit name is one it
// never makes there.
func TestUnixNames(t *testing.T) {
	for arch, names := range unixNames {
		a := seccomptest.Load(t, arch)
		for from, to := range names {
			if !a.Names[to] {
				t.Errorf("%s: %s for %s: linux/%s has no such call", arch, to, from, arch)
			}
			if as := seccomptest.As(t, arch, from); !as[to] {
				t.Errorf("%s: %s for %s: x/sys/unix makes %v there instead", arch, to, from, keys(as))
			}
			if a.Made(from) {
				t.Errorf("%s: x/sys/unix makes %s itself there", arch, from)
			}
		}
	}
}

// TestUnixCall: a call named for 64-bit Linux becomes, on each
// architecture, what x/sys/unix makes there; its rule and its limits
// stay.
func TestUnixCall(t *testing.T) {
	rule := &ArgRule{Index: 1, Values: []Value{{1, "one", "test"}}}
	got := UnixCall(Call{Name: "fcntl", Why: "w", Args: rule})
	want := []Call{
		{Name: "fcntl", Why: "w", Args: rule, Only: []string{"amd64", "arm64"}},
		{Name: "fcntl64", Why: "w", Args: rule, Only: []string{"arm"}},
	}
	if !slices.EqualFunc(got, want, sameCall) {
		t.Errorf("fcntl: %+v, want %+v", got, want)
	}
	if got := UnixCall(Call{Name: "openat", Why: "w"}); len(got) != 1 || got[0].Name != "openat" || got[0].Only != nil {
		t.Errorf("openat: %+v, want it as it was", got)
	}
	if got := UnixCall(Call{Name: "lseek", Why: "w", Only: []string{"arm"}}); len(got) != 1 || got[0].Name != "_llseek" || !slices.Equal(got[0].Only, []string{"arm"}) {
		t.Errorf("lseek on arm only: %+v", got)
	}
}

func sameCall(a, b Call) bool {
	return a.Name == b.Name && a.Why == b.Why && a.Args == b.Args && a.Fail == b.Fail && slices.Equal(a.Only, b.Only)
}

// TestListsOnEveryArch: every call of the allow-list, and of the lists of
// calls code makes through x/sys/unix (a 9p share's, through UnixCall),
// names a call each architecture it applies to has; a list's call is
// one x/sys/unix makes there for it, not one it makes under another name
// (fcntl where it makes fcntl64: the first 9p mount on a 32-bit ARM host
// would end in a forbidden fcntl64).
func TestListsOnEveryArch(t *testing.T) {
	for _, arch := range seccomptest.Arches {
		a := seccomptest.Load(t, arch)
		for _, c := range Allowed {
			if c.AppliesTo(arch) && !a.Names[c.Name] {
				t.Errorf("%s: the allow-list names %s, which it does not have", arch, c.Name)
			}
		}
		for _, list := range [][]string{ninep.ReadSystemCalls, ninep.WriteSystemCalls} {
			for _, name := range list {
				n := 0
				for _, c := range UnixCall(Call{Name: name, Why: "test"}) {
					if !c.AppliesTo(arch) {
						continue
					}
					n++
					if !a.Names[c.Name] {
						t.Errorf("%s: %s is %s there, which it does not have", arch, name, c.Name)
					} else if as := seccomptest.As(t, arch, name); !as[c.Name] {
						t.Errorf("%s: %s is %s there, but x/sys/unix makes %v for it", arch, name, c.Name, keys(as))
					}
				}
				if n != 1 {
					t.Errorf("%s: %s gives %d calls there", arch, name, n)
				}
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
