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
{ ret: 18446744071562067970, esr_ec:         36 } hitcount:          1
{ ret: -2147483646, esr_ec:         36 } hitcount:          1

Totals:
    Hits: 1871
    Entries: 8
    Dropped: 0
`
	// The last two: a trap with an SError pending (bit 31 of ret), as
	// a u64 and as an int.
	want := "HOST-KVM-EXITS total=1873 dabt=1502 ec0x3c=5 hvc=3 iabt=200 irq=120 sysreg=3 wfx=40"
	if got, err := kvmExitsLine(hist); err != nil || got != want {
		t.Errorf("got  %s, %v\nwant %s", got, err, want)
	}
	// A hist file with no trigger armed says nothing of exits: not 0.
	if got, err := kvmExitsLine("# event histogram\n\nTotals:\n    Hits: 0\n"); err != nil || got != "HOST-KVM-EXITS total=0 dabt=0 hvc=0 iabt=0 irq=0 sysreg=0 wfx=0" {
		t.Errorf("an armed histogram with no exits: %q, %v", got, err)
	}
	if got, err := kvmExitsLine("# event histogram\n#\n"); err == nil {
		t.Errorf("no histogram armed gave %q", got)
	}
}
