package smaps

import (
	"strings"
	"testing"
)

const sample = `00400000-00600000 r-xp 00000000 08:01 1234 /usr/bin/gokvm
Size:               2048 kB
Rss:                1000 kB
Anonymous:             0 kB
7f0000000000-7f0010000000 rw-p 00000000 00:00 0
Size:             262144 kB
Rss:              200000 kB
Anonymous:        200000 kB
7fff00000000-7fff00021000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
Rss:                  40 kB
Anonymous:            40 kB
VmFlags: rd wr mr mw me gd ac
`

// TestSum: Rss and Anonymous add up over the mappings not skipped (here
// the 256 MiB one, as guest RAM is left out).
func TestSum(t *testing.T) {
	rss, anon, err := Sum(strings.NewReader(sample), func(start, end uint64) bool { return end-start >= 64<<20 })
	if err != nil || rss != 1040 || anon != 40 {
		t.Fatalf("Sum = %d, %d, %v; want 1040, 40", rss, anon, err)
	}
	rss, _, _ = Sum(strings.NewReader(sample), func(start, _ uint64) bool { return start == 0x400000 })
	if rss != 200040 {
		t.Fatalf("Sum without the first mapping = %d", rss)
	}
	if _, _, err := Sum(strings.NewReader("zz-00 r-xp\nRss: 4 kB\n"), func(uint64, uint64) bool { return false }); err == nil {
		t.Fatal("a malformed address range was accepted")
	}
}
