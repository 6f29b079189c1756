package results

import (
	"regexp"
	"testing"
)

// TestLazyRegexpsCompile: every pattern the parser compiles on first use
// compiles, so no console line can be the first to meet a bad one.
func TestLazyRegexpsCompile(t *testing.T) {
	if len(allLazy) < 20 {
		t.Fatalf("%d lazy patterns registered", len(allLazy))
	}
	for _, l := range allLazy {
		if _, err := regexp.Compile(l.expr); err != nil {
			t.Errorf("%q: %v", l.expr, err)
		}
	}
}
