package vmm

import (
	"runtime"
	"sync"
	"testing"
)

// TestVcpuProcs: running vcpus raise GOMAXPROCS by one each, machines add
// up, and the last to stop puts back what the process had.
func TestVcpuProcs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)

	a := addVcpuProcs(2)
	if got := runtime.GOMAXPROCS(0); got != base+2 {
		t.Fatalf("one machine with 2 vcpus: GOMAXPROCS %d, want %d", got, base+2)
	}
	b := addVcpuProcs(1)
	if got := runtime.GOMAXPROCS(0); got != base+3 {
		t.Fatalf("a second machine with 1 vcpu: GOMAXPROCS %d, want %d", got, base+3)
	}
	a()
	a() // a second call does nothing
	if got := runtime.GOMAXPROCS(0); got != base+1 {
		t.Fatalf("after the first stopped: GOMAXPROCS %d, want %d", got, base+1)
	}
	b()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("after both stopped: GOMAXPROCS %d, want %d", got, base)
	}
	addVcpuProcs(0)()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("a machine without vcpus changed GOMAXPROCS to %d", got)
	}
}

// TestVcpuProcsOthersSetting: a GOMAXPROCS set by the program while vcpus
// run becomes the base that the vcpus' Ps are added to and that is put
// back.
func TestVcpuProcsOthersSetting(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)

	a := addVcpuProcs(2)
	runtime.GOMAXPROCS(7 + 2) // the program wants 7, seeing the vcpus' 2
	b := addVcpuProcs(1)
	if got := runtime.GOMAXPROCS(0); got != 7+3 {
		t.Fatalf("GOMAXPROCS %d, want %d", got, 7+3)
	}
	a()
	b()
	if got := runtime.GOMAXPROCS(0); got != 7 {
		t.Fatalf("after both stopped: GOMAXPROCS %d, want the program's 7", got)
	}
	c := addVcpuProcs(1)
	runtime.GOMAXPROCS(1) // lower than the vcpus' own: the base stays at least 1
	c()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS %d, want 1", got)
	}
}

// TestVcpuProcsConcurrent: machines starting and stopping at once leave
// GOMAXPROCS as it was (run with -race).
func TestVcpuProcsConcurrent(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				addVcpuProcs(i%4 + 1)()
			}
		}()
	}
	wg.Wait()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("GOMAXPROCS %d after all stopped, want %d", got, base)
	}
}
