package vmm

import (
	"testing"
	"time"
)

// Steps are kept in order, as times after Config.Start, until the first
// KVM_RUN; none after it.
func TestMarkStartup(t *testing.T) {
	m := &Machine{cfg: Config{Start: time.Now().Add(-time.Second)}}
	m.MarkStartup("checked")
	m.MarkStartup("VM created")
	m.firstRun.Store(time.Now().UnixNano())
	m.MarkStartup("a step after the guest started")
	got := m.Startup()
	if len(got) != 2 || got[0].Name != "checked" || got[1].Name != "VM created" {
		t.Fatalf("steps %+v, want checked and VM created", got)
	}
	if got[0].After < time.Second || got[1].After < got[0].After {
		t.Errorf("steps at %v and %v after a start 1 s before them", got[0].After, got[1].After)
	}
}
