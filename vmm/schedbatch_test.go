package vmm

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// schedChildEnv makes the test binary a child that runs one of the
// scheduling scenarios (schedChild) in a process of its own: the policies
// are process-wide state the other tests must not see.
const schedChildEnv = "GOKVM_VMM_SCHED_CHILD"

func TestMain(m *testing.M) {
	if what := os.Getenv(schedChildEnv); what != "" {
		if err := schedChild(what); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBatchHelperThreads(t *testing.T) {
	for _, what := range []string{"from-other", "from-batch"} {
		t.Run(what, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), schedChildEnv+"="+what)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("child %s: %v\n%s", what, err, out)
			}
		})
	}
}

// schedChild runs one scenario: "from-other", a process on SCHED_OTHER,
// whose helpers go to SCHED_BATCH and vcpus come back; "from-batch", a
// process a user put on SCHED_BATCH (chrt -b), which keeps it everywhere.
func schedChild(what string) error {
	// Threads that exist before the call, parked in a system call.
	park := make(chan struct{})
	defer close(park)
	var started sync.WaitGroup
	for range 4 {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			<-park
		}()
	}
	started.Wait()

	helperWant, vcpuWant := schedBatch, schedOther
	switch what {
	case "from-other":
	case "from-batch":
		if _, err := setEveryThreadPolicy(schedBatch); err != nil {
			return fmt.Errorf("putting the process on SCHED_BATCH: %w", err)
		}
		vcpuWant = schedBatch
	default:
		return fmt.Errorf("unknown scenario %q", what)
	}
	// Twice, as a process running two machines calls it.
	for call := 1; call <= 2; call++ {
		if err := BatchHelperThreads(); err != nil {
			return fmt.Errorf("call %d: %w", call, err)
		}
		if err := everyThreadOn(helperWant); err != nil {
			return fmt.Errorf("after call %d: %w", call, err)
		}
		if err := onVcpuThread(vcpuWant, helperWant); err != nil {
			return fmt.Errorf("after call %d: %w", call, err)
		}
	}
	return nil
}

// everyThreadOn checks every thread but the vcpus' has policy.
func everyThreadOn(policy int) error {
	tids, err := processThreads()
	if err != nil {
		return err
	}
	for _, tid := range tids {
		got, err := schedPolicy(tid)
		if err != nil {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
		if got != policy {
			return fmt.Errorf("thread %d of %d has policy %d, want %d", tid, len(tids), got, policy)
		}
	}
	return nil
}

// onVcpuThread does what a vcpu thread does as its loop starts, checks
// the thread then has vcpuPolicy, and that threads the runtime makes
// while it runs (new Ms for goroutines that lock theirs) have
// helperPolicy, not the vcpu's.
func onVcpuThread(vcpuPolicy, helperPolicy int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // retired with the goroutine, as a vcpu's
		if err := vcpuThreadPolicy(); err != nil {
			errc <- err
			return
		}
		if got, err := schedPolicy(0); err != nil || got != vcpuPolicy {
			errc <- fmt.Errorf("the vcpu thread has policy %d (%v), want %d", got, err, vcpuPolicy)
			return
		}
		park := make(chan struct{})
		policies := make(chan int, 8)
		var wg sync.WaitGroup
		for range cap(policies) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // a thread of its own
				got, _ := schedPolicy(0)
				policies <- got
				<-park
			}()
		}
		for range cap(policies) {
			if got := <-policies; got != helperPolicy {
				errc <- fmt.Errorf("a thread made while the vcpu runs has policy %d, want %d", got, helperPolicy)
				close(park)
				return
			}
		}
		close(park)
		wg.Wait()
		errc <- nil
	}()
	return <-errc
}
