package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

const tool = "/init" // hostinit's helper mode in the emulated host

func init() {
	extraScenarios = append(extraScenarios, blkScenarios)
}

func blkScenarios(host string) []scenario.Scenario {
	if host == "direct" {
		return nil // the helper tool lives in the emulated host's initramfs
	}
	disks := []string{
		"-d", "$WORK/a.img", "-d", "$WORK/b.img", "-d", "$WORK/c.img,ro", "-d", "$WORK/d.img",
	}
	actions := "modules,sha:vda,serial:vda,write:vdb:22:4,rowrite:vdc,discard:vdd,poweroff"
	before := [][]string{
		{tool, "mkrand", "$WORK/a.img", "11", "8"},
		{tool, "mksparse", "$WORK/b.img", "8"},
		{tool, "mkrand", "$WORK/c.img", "33", "1"},
		{tool, "mkrand", "$WORK/d.img", "44", "8"},
		{tool, "blocks", "$WORK/d.img"},
	}
	after := [][]string{
		{tool, "sha", "$WORK/b.img"},
		{tool, "sha", "$WORK/c.img"},
		{tool, "blocks", "$WORK/d.img"},
	}
	return []scenario.Scenario{
		{Name: "blk", Args: bootArgs(actions, disks...), Before: before, After: after},
		{Name: "blk-legacy", Args: bootArgs("modules,sha:vda,write:vdb:55:2,poweroff",
			"-d", "$WORK/a.img", "-d", "$WORK/b.img", "--virtio-transport", "mmio-legacy"),
			Before: [][]string{{tool, "mkrand", "$WORK/a.img", "66", "4"}, {tool, "mksparse", "$WORK/b.img", "4"}},
			After:  [][]string{{tool, "sha", "$WORK/b.img"}}},
	}
}

var (
	guestSHA   = regexp.MustCompile(`GUEST-SHA (\S+) ([0-9a-f]{64}) (\d+)`)
	hostSHA    = regexp.MustCompile(`HOST-SHA (\S+) ([0-9a-f]{64}) (\d+)`)
	hostBlocks = regexp.MustCompile(`HOST-BLOCKS (\S+) (\d+)`)
)

// hostFacts collects the helper's HOST-SHA and HOST-BLOCKS lines, in order,
// per file base name.
func hostFacts(r scenario.Result) (shas, blocks map[string][]string) {
	shas, blocks = map[string][]string{}, map[string][]string{}
	for _, n := range r.Notes {
		for _, m := range hostSHA.FindAllStringSubmatch(n, -1) {
			k := m[1][strings.LastIndex(m[1], "/")+1:]
			shas[k] = append(shas[k], m[2])
		}
		for _, m := range hostBlocks.FindAllStringSubmatch(n, -1) {
			k := m[1][strings.LastIndex(m[1], "/")+1:]
			blocks[k] = append(blocks[k], m[2])
		}
	}
	return shas, blocks
}

func guestSHAOf(r scenario.Result, dev string) string {
	for _, m := range guestSHA.FindAllStringSubmatch(r.Output(), -1) {
		if m[1] == dev {
			return m[2]
		}
	}
	return ""
}

func eachEmulated(t *testing.T, f func(t *testing.T, h string)) {
	for _, h := range hosts() {
		if h == "direct" {
			continue
		}
		t.Run(h, func(t *testing.T) { f(t, h) })
	}
}

func TestBlockReadMatchesHost(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "blk")
		shas, _ := hostFacts(r)
		want := pattern.SHA256(pattern.Bytes(11, 8<<20))
		if len(shas["a.img"]) == 0 || shas["a.img"][0] != want {
			t.Fatalf("the host did not prepare a.img as expected: %v", shas["a.img"])
		}
		if got := guestSHAOf(r, "vda"); got != want {
			t.Errorf("the guest read vda with SHA-256 %q, the host wrote %q", got, want)
		}
		if !strings.Contains(r.Output(), "GUEST-SERIAL vda a.img") {
			t.Errorf("the guest does not see the disk's serial (GET_ID)")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

func TestBlockWriteFlushedReachesFile(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "blk")
		shas, _ := hostFacts(r)
		// The guest wrote 4 MiB of pattern 22 over the start of an 8 MiB
		// sparse (zero) image.
		want := pattern.SHA256(append(pattern.Bytes(22, 4<<20), make([]byte, 4<<20)...))
		if !strings.Contains(r.Output(), "GUEST-WROTE vdb") {
			t.Fatalf("the guest's write did not complete")
		}
		if got := shas["b.img"]; len(got) != 1 || got[0] != want {
			t.Errorf("b.img after the run has SHA-256 %v, want exactly the guest's pattern %s", got, want)
		}
	})
}

func TestBlockReadOnlyRefusesWrites(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "blk")
		shas, _ := hostFacts(r)
		if !strings.Contains(r.Output(), "GUEST-ROWRITE vdc") || strings.Contains(r.Output(), "GUEST-ROWRITE vdc <nil>") {
			t.Errorf("a write to the ,ro disk did not fail in the guest")
		}
		c := shas["c.img"]
		if len(c) != 2 || c[0] != c[1] || c[0] != pattern.SHA256(pattern.Bytes(33, 1<<20)) {
			t.Errorf("c.img changed: %v", c)
		}
	})
}

func TestBlockDiscardFreesSpace(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "blk")
		_, blocks := hostFacts(r)
		if !strings.Contains(r.Output(), "GUEST-DISCARD vdd ok") {
			t.Fatalf("the guest's discard failed")
		}
		d := blocks["d.img"]
		if len(d) != 2 {
			t.Fatalf("block counts of d.img: %v", d)
		}
		before, _ := strconv.Atoi(d[0])
		after, _ := strconv.Atoi(d[1])
		if before < 16000 || after > before/8 {
			t.Errorf("d.img had %d blocks before the discard and %d after; want most freed", before, after)
		}
	})
}

func TestBlockLegacyTransport(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "blk-legacy")
		if got, want := guestSHAOf(r, "vda"), pattern.SHA256(pattern.Bytes(66, 4<<20)); got != want {
			t.Errorf("over mmio-legacy the guest read vda as %q, want %q", got, want)
		}
		shas, _ := hostFacts(r)
		full := pattern.SHA256(append(pattern.Bytes(55, 2<<20), make([]byte, 2<<20)...))
		if got := shas["b.img"]; len(got) != 1 || got[0] != full {
			t.Errorf("over mmio-legacy b.img is %v after the guest's write, want %s", got, full)
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}
