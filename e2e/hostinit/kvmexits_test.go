package main

import "testing"

// A histogram as the kernel prints it sums to one line by kind.
func TestKVMExitsLine(t *testing.T) {
	const hist = `# event histogram
#
# trigger info: hist:keys=ret,esr_ec:vals=hitcount:sort=hitcount:size=256 [active]
#

{ ret:          2, esr_ec:         24 } hitcount:          3
{ ret:          0, esr_ec:          0 } hitcount:        120
{ ret:          2, esr_ec:         36 } hitcount:       1500
{ ret:          2, esr_ec:         32 } hitcount:        200
{ ret:          2, esr_ec:          1 } hitcount:         40
{ ret:          2, esr_ec:         22 } hitcount:          2
{ ret:          2, esr_ec:         23 } hitcount:          1
{ ret:          2, esr_ec:         60 } hitcount:          5

Totals:
    Hits: 1871
    Entries: 8
    Dropped: 0
`
	want := "HOST-KVM-EXITS total=1871 dabt=1500 ec0x3c=5 hvc=3 iabt=200 irq=120 sysreg=3 wfx=40"
	if got := kvmExitsLine(hist); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := kvmExitsLine("no histogram"); got != "HOST-KVM-EXITS total=0" {
		t.Errorf("an empty histogram: %s", got)
	}
}
