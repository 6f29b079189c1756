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
	if v, ok := perExit(r); !ok || v != 1000*1000/float64(exitLoopReads) {
		t.Errorf("perExit = %v, %v; want %v us", v, ok, 1000*1000/float64(exitLoopReads))
	}
	for name, bad := range map[string]scenario.Result{
		"no end line":        {Lines: r.Lines[:2]},
		"no start line":      {Lines: []scenario.Line{r.Lines[2]}},
		"a failed run":       {Lines: r.Lines, Exit: 4},
		"lines out of order": {Lines: []scenario.Line{{MS: 900, Text: start}, {MS: 100, Text: end}}},
	} {
		if v, ok := perExit(bad); ok {
			t.Errorf("%s: perExit = %v, want no figure", name, v)
		}
	}
}
