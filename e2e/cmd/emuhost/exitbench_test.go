package main

import (
	"testing"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
)

func TestPerExit(t *testing.T) {
	start := tinyguest.ExitLoopLine(exitLoopTag, "loop-start")
	end := tinyguest.ExitLoopLine(exitLoopTag, "loop-end")
	r := scenario.Result{Lines: []scenario.Line{{MS: 40, Text: "Info: booting"}, {MS: 100, Text: start}, {MS: 1100, Text: end}}}
	if v, ok := perExit(20000)(r); !ok || v != 50 {
		t.Errorf("perExit = %v, %v; want 50 us", v, ok)
	}
	for name, bad := range map[string]scenario.Result{
		"no end line":        {Lines: r.Lines[:2]},
		"no start line":      {Lines: []scenario.Line{r.Lines[2]}},
		"a failed run":       {Lines: r.Lines, Exit: 4},
		"lines out of order": {Lines: []scenario.Line{{MS: 900, Text: start}, {MS: 100, Text: end}}},
	} {
		if v, ok := perExit(20000)(bad); ok {
			t.Errorf("%s: perExit = %v, want no figure", name, v)
		}
	}
}
