package sandbox

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/machine"
)

func writeFile(t *testing.T, p, s string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWarmKey: the key changes with whatever makes the saved machine, and
// not with what a restore may change.
func TestWarmKey(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, filepath.Join(dir, "Image"), "kernel")
	init := writeFile(t, filepath.Join(dir, "init"), "init")
	modDir := filepath.Join(dir, "modules")
	os.Mkdir(modDir, 0o755)
	writeFile(t, filepath.Join(modDir, "modules.dep"), "9p.ko:\n")
	mod := writeFile(t, filepath.Join(modDir, "9p.ko"), "module")
	spec := machine.Spec{Kernel: kernel, Cmdline: "quiet", Timeout: "10s",
		Shares: []machine.Share{{Dir: "/", Tag: RootTag, ReadOnly: true, Mounts: []string{"/home"}}}}
	mods := []Module{{Name: "9p", Path: mod}}
	// The directories the saved guest caches: here a directory and a
	// symlink to it.
	cached := filepath.Join(dir, "usr-bin")
	os.Mkdir(cached, 0o755)
	link := filepath.Join(dir, "bin")
	os.Symlink("usr-bin", link)
	defer func(d []string) { warmDirs = d }(warmDirs)
	warmDirs = []string{cached, link, filepath.Join(dir, "absent")}
	// The files whose contents the saved guest caches: a shell named by
	// a symlink, as /bin/sh often is, a library named by two, and an
	// absent one.
	shell := writeFile(t, filepath.Join(cached, "dash"), "#!dash")
	shLink := filepath.Join(dir, "sh")
	os.Symlink("usr-bin/dash", shLink)
	libc := writeFile(t, filepath.Join(cached, "libc-2.36.so"), "libc")
	os.Symlink("libc-2.36.so", filepath.Join(cached, "libc.so"))
	libLink := filepath.Join(dir, "libc.so.6")
	os.Symlink("usr-bin/libc.so", libLink)
	defer func(f []string) { warmCachedFiles = f }(warmCachedFiles)
	warmCachedFiles = []string{shLink, libLink, filepath.Join(dir, "absent-libc")}
	// sameFile makes p a file of old's contents and times.
	sameFile := func(p, old string) {
		b, _ := os.ReadFile(old)
		writeFile(t, p, string(b))
		st, _ := os.Stat(old)
		os.Chtimes(p, st.ModTime(), st.ModTime())
	}
	key := func(s machine.Spec, mods []Module) string {
		t.Helper()
		k, err := warmKey(s, init, mods, modDir)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(spec, mods)
	if key(spec, mods) != base {
		t.Fatal("the key is not stable")
	}
	same := spec
	same.Timeout = "1h"
	same.Shares = []machine.Share{{Dir: "/", Tag: RootTag, ReadOnly: true, Mounts: []string{"/work"}}}
	if key(same, mods) != base {
		t.Error("the timeout or the root share's mounts changed the key")
	}
	writeFile(t, filepath.Join(cached, "new-command"), "#!/bin/sh\n")
	if key(spec, mods) != base {
		t.Error("a file added in a cached directory changed the key: only the directory's identity counts")
	}
	if spec.Shares[0].Mounts[0] != "/home" {
		t.Error("warmKey changed the caller's spec")
	}
	changed := map[string]func() string{
		"cmdline": func() string { s := spec; s.Cmdline = "loud"; return key(s, mods) },
		"memory":  func() string { s := spec; s.Memory = "1G"; return key(s, mods) },
		"share": func() string {
			s := spec
			s.Shares = append([]machine.Share{{Dir: dir, Tag: "x"}}, spec.Shares...)
			return key(s, mods)
		},
		"modules": func() string { return key(spec, nil) },
		"kernel touched": func() string {
			tm := time.Now().Add(time.Hour)
			os.Chtimes(kernel, tm, tm)
			return key(spec, mods)
		},
		"kernel rewritten": func() string { writeFile(t, kernel, "another kernel"); return key(spec, mods) },
		"module rewritten": func() string { writeFile(t, mod, "another module"); return key(spec, mods) },
		"init rewritten":   func() string { writeFile(t, init, "another init"); return key(spec, mods) },
		"cached directory replaced": func() string {
			os.Rename(cached, cached+".old")
			os.Mkdir(cached, 0o755)
			return key(spec, mods)
		},
		"symlink pointed elsewhere": func() string {
			os.Remove(link)
			os.Symlink("usr-bin.old", link)
			return key(spec, mods)
		},
		"cached file rewritten": func() string { writeFile(t, shell, "#!dash, patched"); return key(spec, mods) },
		"cached file touched": func() string {
			tm := time.Now().Add(2 * time.Hour)
			os.Chtimes(shell, tm, tm)
			return key(spec, mods)
		},
		"cached file rewritten in place, its size and time put back": func() string {
			st, _ := os.Stat(shell)
			time.Sleep(10 * time.Millisecond) // a later ctime
			writeFile(t, shell, "#!DASH, patched")
			os.Chtimes(shell, st.ModTime(), st.ModTime())
			return key(spec, mods)
		},
		"cached file's symlink pointed elsewhere": func() string {
			// A file like the old one, so only the symlink differs.
			sameFile(filepath.Join(cached, "bash"), shell)
			os.Remove(shLink)
			os.Symlink("usr-bin/bash", shLink)
			return key(spec, mods)
		},
		"cached file's middle symlink pointed elsewhere": func() string {
			sameFile(filepath.Join(cached, "libc-2.37.so"), libc)
			os.Remove(filepath.Join(cached, "libc.so"))
			os.Symlink("libc-2.37.so", filepath.Join(cached, "libc.so"))
			return key(spec, mods)
		},
		"absent cached file made": func() string {
			writeFile(t, filepath.Join(dir, "absent-libc"), "libc")
			return key(spec, mods)
		},
		"absent directory made": func() string {
			os.Mkdir(filepath.Join(dir, "absent"), 0o755)
			return key(spec, mods)
		},
		"version": func() string {
			defer func(v string) { machine.Version = v }(machine.Version)
			machine.Version = "v9.9.9"
			return key(spec, mods)
		},
	}
	seen := map[string]string{base: "base"}
	for _, name := range []string{"cmdline", "memory", "share", "modules", "kernel touched", "kernel rewritten", "module rewritten", "init rewritten", "cached file rewritten", "cached file touched", "cached file rewritten in place, its size and time put back", "cached file's symlink pointed elsewhere", "cached file's middle symlink pointed elsewhere", "absent cached file made", "cached directory replaced", "symlink pointed elsewhere", "absent directory made", "version"} {
		k := changed[name]()
		if prev, ok := seen[k]; ok {
			t.Errorf("%s: the key is the same as for %s", name, prev)
		}
		seen[k] = name
	}
	if _, err := warmKey(machine.Spec{Kernel: filepath.Join(dir, "none")}, init, nil, ""); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("a missing kernel: %v", err)
	}
}

// TestWarmKeyRoot: with a root other than the host's (--root), the key
// is of the files the guest sees there: an absolute symlink resolves
// under the root, and the host's own files do not count.
func TestWarmKeyRoot(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, filepath.Join(dir, "Image"), "kernel")
	init := writeFile(t, filepath.Join(dir, "init"), "init")
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	shell := writeFile(t, filepath.Join(root, "bin", "busybox"), "busybox")
	os.Symlink("/bin/busybox", filepath.Join(root, "bin", "sh"))
	hostShell := writeFile(t, filepath.Join(dir, "host-sh"), "the host's")
	defer func(d, f []string) { warmDirs, warmCachedFiles = d, f }(warmDirs, warmCachedFiles)
	warmDirs, warmCachedFiles = []string{"/bin"}, []string{"/bin/sh", hostShell}
	spec := machine.Spec{Kernel: kernel, Shares: []machine.Share{{Dir: root, Tag: RootTag, ReadOnly: true}}}
	key := func() string {
		t.Helper()
		k, err := warmKey(spec, init, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key()
	writeFile(t, hostShell, "the host's, changed")
	if key() != base {
		t.Error("a file outside the root changed the key")
	}
	writeFile(t, shell, "busybox, another build")
	if key() == base {
		t.Error("the root's shell, named by an absolute symlink, changed and the key did not")
	}
	if _, err := warmKey(machine.Spec{Kernel: kernel, Shares: []machine.Share{{Dir: filepath.Join(dir, "none"), Tag: RootTag}}}, init, nil, ""); err == nil {
		t.Error("a missing root made a key")
	}
}

// TestGuestViewWithoutOpenat2: where openat2 is missing, paths are
// joined to the root, and a relative symlink still resolves there.
func TestGuestViewWithoutOpenat2(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "bin"), 0o755)
	writeFile(t, filepath.Join(root, "bin", "dash"), "dash")
	os.Symlink("dash", filepath.Join(root, "bin", "sh"))
	v := &guestView{root: root, fd: -1}
	id := v.cachedFileID("/bin/sh")
	if id.Mode != unix.S_IFLNK || id.Target != "dash" || id.Size != 4 || id.TargetIno == 0 {
		t.Errorf("/bin/sh: %+v", id)
	}
	if id := v.cachedFileID("/bin/none"); id != (cachedFileID{dirID: dirID{Path: "/bin/none"}}) {
		t.Errorf("an absent file: %+v", id)
	}
}

// TestOpenWarm: an empty directory gives files to save into, under the
// lock; while one run saves, another neither saves nor restores; a state
// file that does not open as one is saved again, and named.
func TestOpenWarm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "warm")
	var logs bytes.Buffer
	logger := log.New(&logs, "", 0)
	w, err := openWarm(dir, "k", true, logger)
	if err != nil {
		t.Fatal(err)
	}
	if !w.saving() || w.saved != nil {
		t.Fatalf("an empty directory: saving %v, restoring %v", w.saving(), w.saved != nil)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the directory: %v %v", fi, err)
	}
	other, err := openWarm(dir, "k", true, logger)
	if err != nil {
		t.Fatal(err)
	}
	if other.saving() || other.saved != nil {
		t.Error("a second run saves or restores while the first saves")
	}
	if !strings.Contains(logs.String(), "another run is saving") {
		t.Errorf("the second run did not say why it boots: %q", logs.String())
	}
	// The first run's save is cut short: what it wrote is not a state.
	w.state.WriteString("GOKVM-SNAPSHOT\n\x00 cut")
	w.close()
	logs.Reset()
	again, err := openWarm(dir, "k", true, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if !again.saving() {
		t.Fatal("a cut state file is not saved again")
	}
	if !strings.Contains(logs.String(), "saving the machine again") {
		t.Errorf("the cut file was not named: %q", logs.String())
	}
	if fi, err := os.Stat(again.files.state()); err != nil || fi.Size() != 0 {
		t.Errorf("the new state file: %v %v (want a new, empty one)", fi, err)
	}
}
