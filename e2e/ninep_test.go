package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, ninepScenarios)
}

// ninepModules loads virtio-mmio and the 9p client, dependencies first.
const ninepModules = "modules:virtio_mmio:netfs:fscache:9pnet:9pnet_virtio:9p"

// ninepScenarios: a guest that mounts two shares itself (`gokvm run --9p
// DIR,TAG` and `--9p DIR,TAG,ro`), reads a 16 MiB file, writes a file, is refused every change to the read-only share,
// and follows symlinks pointing out of the share (to /etc, absolute, and
// to ../outside, relative) only into its own file system.
func ninepScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		// The helper tool lives in the emulated host's initramfs, and
		// nothing here depends on the interrupt controller.
		return nil
	}
	actions := strings.Join([]string{
		ninepModules,
		"mount9p:host:/mnt", "mount9p:rotag:/ro",
		"fsha:/mnt/big",
		"fwrite:/mnt/sub/fromguest:41:1024",
		"trywrite:/ro/new", "trymodify:/ro/keep", "fsha:/ro/keep",
		"readlink:/mnt/etc", "ls:/mnt/etc", "cat:/mnt/etc/gokvm-host-marker",
		"readlink:/mnt/rel", "cat:/mnt/rel",
		"ls:/mnt/sub/..", "ls:/mnt/..",
		"poweroff",
	}, ",")
	args := bootArgs(actions, "--9p", "$WORK/share,host", "--9p", "$WORK/ro,rotag,ro")
	before := [][]string{
		{tool, "mkdir", "$WORK/share/sub"},
		{tool, "mkdir", "$WORK/ro/d"},
		{tool, "mkdir", "/etc"},
		{tool, "writefile", "/etc/gokvm-host-marker", "the emulated host's /etc"},
		{tool, "writefile", "$WORK/outside", "OUTSIDE-THE-SHARE"},
		{tool, "writefile", "$WORK/ro/keep", "keep me"},
		{tool, "symlink", "/etc", "$WORK/share/etc"},
		{tool, "symlink", "../outside", "$WORK/share/rel"},
		{tool, "mkrand", "$WORK/share/big", "31", "16"},
		{tool, "treesha", "$WORK/ro"},
	}
	after := [][]string{
		{tool, "sha", "$WORK/share/sub/fromguest"},
		{tool, "treesha", "$WORK/ro"},
	}
	return []scenario.Scenario{{Name: "9p", Args: args, Before: before, After: after}}
}

var (
	guestFSHA   = regexp.MustCompile(`GUEST-FSHA (\S+) (\S+) (\d+)`)
	hostTree    = regexp.MustCompile(`HOST-TREE (\S+) ([0-9a-f]{64})`)
	ninepMounts = []string{"GUEST-MOUNT9P host /mnt ok", "GUEST-MOUNT9P rotag /ro ok"}
)

// lineWith is the first line of out starting with prefix, "" if none.
func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func ninepResult(t *testing.T, h string) scenario.Result {
	r := result(t, h, "9p")
	for _, m := range ninepMounts {
		if !strings.Contains(r.Output(), m) {
			t.Fatalf("the guest did not mount its share (%q missing); exit %d", m, r.Exit)
		}
	}
	if r.Exit != machine.ExitPowerOff {
		t.Errorf("exit status %d", r.Exit)
	}
	return r
}

// TestNinepReadsHostFile: a 16 MiB file written on the host before the
// run is read in the guest byte for byte. (Its speed is a benchmark's to
// measure: the guest's readbench action times a sequential read.)
func TestNinepReadsHostFile(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := ninepResult(t, h)
		want := pattern.SHA256(pattern.Bytes(31, 16<<20))
		m := guestFSHA.FindStringSubmatch(lineWith(r.Output(), "GUEST-FSHA /mnt/big "))
		if m == nil || m[2] != want || m[3] != "16777216" {
			t.Errorf("the guest read /mnt/big as %q, want SHA-256 %s of 16777216 bytes", m, want)
		}
	})
}

// TestNinepGuestWriteOnHost: a file the guest wrote under the rw share is
// on the host after gokvm exits.
func TestNinepGuestWriteOnHost(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := ninepResult(t, h)
		want := pattern.SHA256(pattern.Bytes(41, 1<<20))
		if !strings.Contains(r.Output(), "GUEST-FWROTE /mnt/sub/fromguest "+want) {
			t.Fatalf("the guest's write did not complete: %q", lineWith(r.Output(), "GUEST-ERROR"))
		}
		shas, _ := hostFacts(r)
		if got := shas["fromguest"]; len(got) != 1 || got[0] != want {
			t.Errorf("fromguest on the host after the run: %v, want %s", got, want)
		}
	})
}

// TestNinepReadOnlyRefused: under ,ro every change fails with EROFS and
// the host's directory is as it was.
func TestNinepReadOnlyRefused(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := ninepResult(t, h)
		if got := lineWith(r.Output(), "GUEST-TRYWRITE /ro/new"); got != "GUEST-TRYWRITE /ro/new EROFS,EROFS" {
			t.Errorf("create and mkdir under ,ro: %q, want EROFS for both", got)
		}
		if got := lineWith(r.Output(), "GUEST-TRYMODIFY /ro/keep"); got != "GUEST-TRYMODIFY /ro/keep EROFS,EROFS,EROFS,EROFS,EROFS,EROFS" {
			t.Errorf("write, truncate, chmod, rename, remove, symlink under ,ro: %q, want EROFS for each", got)
		}
		if !strings.Contains(r.Output(), "GUEST-FSHA /ro/keep "+pattern.SHA256([]byte("keep me"))) {
			t.Errorf("/ro/keep reads %q in the guest", lineWith(r.Output(), "GUEST-FSHA /ro/keep"))
		}
		var trees []string
		for _, n := range r.Notes {
			for _, m := range hostTree.FindAllStringSubmatch(n, -1) {
				trees = append(trees, m[2])
			}
		}
		if len(trees) != 2 || trees[0] != trees[1] {
			t.Errorf("the read-only share's tree before and after the run: %v", trees)
		}
	})
}

// TestNinepSymlinksStayInGuest: symlinks in the share pointing out of it
// never show the host's files: the guest reads their targets and resolves
// them in its own file system; ".." at the share's root is the guest's.
func TestNinepSymlinksStayInGuest(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := ninepResult(t, h)
		out := r.Output()
		if got := lineWith(out, "GUEST-READLINK /mnt/etc "); got != "GUEST-READLINK /mnt/etc /etc" {
			t.Errorf("readlink /mnt/etc: %q", got)
		}
		if got := lineWith(out, "GUEST-READLINK /mnt/rel "); got != "GUEST-READLINK /mnt/rel ../outside" {
			t.Errorf("readlink /mnt/rel: %q", got)
		}
		if strings.Contains(out, "gokvm-host-marker\"") || strings.Contains(lineWith(out, "GUEST-LS /mnt/etc "), "gokvm-host-marker") {
			t.Errorf("the guest sees the host's /etc: %q", lineWith(out, "GUEST-LS /mnt/etc "))
		}
		if !strings.HasPrefix(lineWith(out, "GUEST-CAT /mnt/etc/gokvm-host-marker "), "GUEST-CAT /mnt/etc/gokvm-host-marker error") {
			t.Errorf("the host's /etc file through the share: %q", lineWith(out, "GUEST-CAT /mnt/etc/"))
		}
		if strings.Contains(out, "OUTSIDE-THE-SHARE") {
			t.Errorf("the guest read the host's file outside the share: %q", lineWith(out, "GUEST-CAT /mnt/rel"))
		}
		// /mnt/sub/.. is the share's root; /mnt/.. the guest's own root.
		if got := lineWith(out, "GUEST-LS /mnt/sub/.. "); !strings.Contains(got, "big") || !strings.Contains(got, "sub") {
			t.Errorf("ls /mnt/sub/..: %q, want the share's root", got)
		}
		if got := lineWith(out, "GUEST-LS /mnt/.. "); strings.Contains(got, "outside") || strings.Contains(got, "share") || !strings.Contains(got, "mnt") {
			t.Errorf("ls /mnt/..: %q, want the guest's root, not the host's", got)
		}
	})
}
