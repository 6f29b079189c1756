package machine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/vmm/seccomp"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// shareChildEnv makes the test binary serve a share's files under the
// run phase's filter with the machine's share calls: "ro:DIR" or
// "rw:DIR".
const shareChildEnv = "GOKVM_MACHINE_SHARE_CHILD"

// shareChildStatus is the child's exit status after a forbidden call.
const shareChildStatus = 7

func TestMain(m *testing.M) {
	if what := os.Getenv(shareChildEnv); what != "" {
		shareChild(what)
		return
	}
	os.Exit(m.Run())
}

// shareChild does what the device's server does for a guest, on a share
// opened before the filter is installed, as gokvm does.
func shareChild(what string) {
	mode, dir, _ := strings.Cut(what, ":")
	ro := mode == "ro"
	share, err := ninep.OpenShare(dir, ninep.Options{ReadOnly: ro})
	if err != nil {
		fmt.Println("open share:", err)
		os.Exit(3)
	}
	m := &Machine{spec: Spec{Shares: []Share{{Dir: dir, Tag: "t", ReadOnly: ro}}}}
	if _, err := seccomp.Install(seccomp.Options{Mode: seccomp.On, Prefix: "child: ", ExitStatus: shareChildStatus, Extra: m.extraSystemCalls()}); err != nil {
		fmt.Println("seccomp:", err)
		os.Exit(4)
	}
	fmt.Println("installed")
	check := func(what string, err error) {
		if err != nil {
			fmt.Printf("%s: %v\n", what, err)
			os.Exit(5)
		}
	}
	root, err := share.Attach()
	check("attach", err)
	_, f, err := root.Walk([]string{"file"})
	check("walk", err)
	_, _, _, err = f.GetAttr(p9.AttrMaskAll)
	check("getattr", err)
	_, _, err = f.Open(p9.ReadOnly)
	check("open", err)
	b := make([]byte, 5)
	_, err = f.ReadAt(b, 0)
	check("read", err)
	if string(b) != "hello" {
		check("read", fmt.Errorf("read %q", b))
	}
	_, l, err := root.Walk([]string{"link"})
	check("walk to the link", err)
	if target, err := l.Readlink(); err != nil || target != "file" {
		check("readlink", fmt.Errorf("%q, %v", target, err))
	}
	_, d, err := root.Walk(nil)
	check("clone the root", err)
	_, _, err = d.Open(p9.ReadOnly)
	check("open the root", err)
	ents, err := d.Readdir(0, 4096)
	check("readdir", err)
	if len(ents) < 3 {
		check("readdir", fmt.Errorf("%d entries", len(ents)))
	}
	_, err = root.StatFS()
	check("statfs", err)

	if ro {
		// Changes are refused, by the share or by the filter, with
		// EROFS; none stops gokvm.
		_, _, _, err = root.Create("new", p9.ReadWrite, 0o644, 0, 0)
		fmt.Println("create:", errName(err))
		_, w, err := root.Walk([]string{"file"})
		check("walk", err)
		_, _, err = w.Open(p9.WriteOnly)
		fmt.Println("open for writing:", errName(err))
		fmt.Println("fsync:", errName(f.FSync()))
		fmt.Println("done")
		os.Exit(0)
	}
	nf, _, _, err := root.Create("new", p9.ReadWrite, 0o644, 0, 0)
	check("create", err)
	_, err = nf.WriteAt([]byte("data"), 0)
	check("write", err)
	check("fsync", nf.FSync())
	check("setattr", nf.SetAttr(p9.SetAttrMask{Permissions: true, Size: true, MTime: true}, p9.SetAttr{Permissions: 0o600, Size: 2}))
	_, err = root.Mkdir("dir", 0o755, 0, 0)
	check("mkdir", err)
	_, err = root.Symlink("new", "sl", 0, 0)
	check("symlink", err)
	check("link", root.Link(nf, "hard"))
	_, err = root.Mknod("fifo", p9.ModeNamedPipe|0o644, 0, 0, 0, 0)
	check("mknod", err)
	check("rename", root.RenameAt("hard", root, "hard2"))
	check("unlink", root.UnlinkAt("hard2", 0))
	check("rmdir", root.UnlinkAt("dir", unix.AT_REMOVEDIR))
	fmt.Println("done")
	os.Exit(0)
}

func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return fmt.Sprint(err)
}

// TestShareUnderFilter serves a share's files, as a guest would use them,
// under the filter with the machine's share calls: whatever the share
// does is allowed (openat2 failing with ENOSYS on a read-only share, and
// the share falling back to openat), and on a read-only share the
// changes are refused with EROFS instead of stopping gokvm.
func TestShareUnderFilter(t *testing.T) {
	for _, mode := range []string{"ro", "rw"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "file"), []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("file", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), shareChildEnv+"="+mode+":"+dir)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.Run()
			stdout, stderr := out.String(), errb.String()
			status := cmd.ProcessState.ExitCode()
			if status == 4 && (strings.Contains(stdout, "links cgo") || strings.Contains(stdout, "no filter for GOARCH")) {
				t.Skipf("no filter for this test binary: %s", stdout)
			}
			if status != 0 || !strings.Contains(stdout, "done") {
				t.Fatalf("status %d\nstdout: %s\nstderr: %s", status, stdout, stderr)
			}
			if mode == "ro" {
				for _, want := range []string{"create: EROFS", "open for writing: EROFS", "fsync: <nil>"} {
					if !strings.Contains(stdout, want) {
						t.Errorf("stdout lacks %q:\n%s", want, stdout)
					}
				}
			}
		})
	}
}
