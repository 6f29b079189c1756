package seccomptest

import (
	"sort"
	"testing"
)

// TestKnownRenames: what x/sys/unix is known to do on each architecture.
func TestKnownRenames(t *testing.T) {
	for _, tc := range []struct {
		arch, name string
		want       []string
	}{
		{"arm", "fcntl", []string{"fcntl64"}},
		{"arm", "fstat", []string{"fstat64"}},
		{"arm", "lseek", []string{"_llseek"}},
		{"arm", "fstatfs", []string{"fstatfs64"}},
		{"arm", "ftruncate", []string{"ftruncate64"}},
		{"arm64", "fstat", []string{"fstat"}},
		{"amd64", "openat", []string{"openat"}},
	} {
		got := As(t, tc.arch, tc.name)
		var names []string
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		ok := len(names) == len(tc.want)
		for _, w := range tc.want {
			ok = ok && got[w]
		}
		if !ok {
			t.Errorf("%s on %s: %v, want %v", tc.name, tc.arch, names, tc.want)
		}
	}
	arm := Load(t, "arm")
	for _, n := range []string{"fstat", "lseek", "fstatfs", "fcntl"} {
		if arm.Made(n) {
			t.Errorf("x/sys/unix makes %s on arm", n)
		}
	}
	if arm.Names["newfstatat"] {
		t.Errorf("arm has newfstatat")
	}
	t.Logf("newfstatat on arm: %v", As(t, "arm", "newfstatat"))
}

// TestRuntime: what this toolchain's runtime is known to make.
func TestRuntime(t *testing.T) {
	for arch, want := range map[string][]string{
		"amd64": {"futex", "mmap", "tgkill", "epoll_pwait", "eventfd2", "prctl", "fcntl", "arch_prctl"},
		"arm64": {"futex", "mmap", "tgkill", "epoll_pwait", "sched_getaffinity"},
		"arm":   {"futex", "mmap2", "tgkill", "epoll_pwait", "clock_gettime"},
	} {
		rt := Load(t, arch).Runtime
		for _, w := range want {
			if !rt[w] {
				t.Errorf("%s: the runtime does not make %s; it makes %v", arch, w, rt)
			}
		}
	}
}
