package scenario

import (
	"strings"
	"testing"
)

// TestElideResults: a result line becomes its scenario's name; a
// truncated one (a host stopped while printing it) is still shortened;
// other lines stay.
func TestElideResults(t *testing.T) {
	var b strings.Builder
	if err := Encode(&b, Result{Name: "blk"}); err != nil {
		t.Fatal(err)
	}
	full := strings.TrimSpace(b.String())
	console := "L1-SCENARIO blk\n" + full + "\nL1-SCENARIO net\n" + full[:len(full)/2]
	want := "L1-SCENARIO blk\n[result of scenario blk]\nL1-SCENARIO net\n[result of scenario ?]"
	if got := ElideResults(console); got != want {
		t.Errorf("ElideResults =\n%s\nwant\n%s", got, want)
	}
}
