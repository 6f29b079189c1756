package main

import (
	"fmt"
	"strings"
	"testing"
)

func countText(from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		fmt.Fprintf(&b, "GUEST-COUNT %d mono=%d\n", n, 1000+100*n)
	}
	return b.String()
}

func TestGoesOn(t *testing.T) {
	whole := countText(1, 60)
	cut := strings.Index(whole, "GUEST-COUNT 16 ") + len("GUE")
	for _, c := range []struct {
		name            string
		saved, restored string
		want            bool
	}{
		{"at a line's end", countText(1, 15), countText(16, 60), true},
		{"inside a line", whole[:cut], whole[cut:], true},
		{"inside the number", whole[:cut+10], whole[cut+10:], true},
		{"restarted from 1", countText(1, 15), countText(1, 60), false},
		{"a count lost", countText(1, 15), countText(17, 60), false},
		{"a count twice", countText(1, 15), countText(15, 60), false},
		{"stopped short", countText(1, 15), countText(16, 59), false},
		{"nothing restored", countText(1, 15), "", false},
	} {
		if ok, why := goesOn(c.saved, c.restored, 60); ok != c.want {
			t.Errorf("%s: goesOn = %v (%s), want %v", c.name, ok, why, c.want)
		}
	}
}
