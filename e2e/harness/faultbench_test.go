package harness

import "testing"

func TestFaultBenchNS(t *testing.T) {
	out := `goos: linux
BenchmarkTinyGuestStage2Fault/host-page-absent-2         	       1	 812345678 ns/op	     1.001 exits/page	      9876 ns/fault
BenchmarkTinyGuestStage2Fault/host-page-present-2        	       1	 612345678 ns/op	     1.000 exits/page	      5432.5 ns/fault
PASS
`
	if got := FaultBenchResults.FindAllStringSubmatch(out, -1); len(got) != 2 {
		t.Fatalf("%d results, want 2", len(got))
	}
	for variant, want := range map[string]float64{"host-page-absent": 9876, "host-page-present": 5432.5} {
		if v, ok := FaultBenchNS(out, variant); !ok || v != want {
			t.Errorf("%s: %v, %v; want %v", variant, v, ok, want)
		}
	}
	if _, ok := FaultBenchNS(out, "host-page-huge"); ok {
		t.Error("a variant that did not run has a figure")
	}
}
