package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary a child that runs one of the scenarios
// children names, in a process of its own: they change process-wide
// state (scheduling policies, a system call filter) the other tests must
// not see.
const childEnv = "GOKVM_VMM_TEST_CHILD"

// children are the scenarios a child process can run.
var children = map[string]func() error{}

func TestMain(m *testing.M) {
	if what := os.Getenv(childEnv); what != "" {
		run, ok := children[what]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child scenario %q\n", what)
			os.Exit(2)
		}
		err := run()
		var skip childSkip
		if errors.As(err, &skip) {
			fmt.Println("skip:", string(skip))
			os.Exit(0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childSkip is a child scenario's reason not to run here.
type childSkip string

func (s childSkip) Error() string { return "skipped: " + string(s) }

// runChild runs scenario what in a child process: it must print ok, or
// skip: and a reason.
func runChild(t *testing.T, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+what)
	out, err := cmd.CombinedOutput()
	got := strings.TrimSpace(string(out))
	if reason, ok := strings.CutPrefix(got, "skip: "); ok && err == nil {
		t.Skip(reason)
	}
	if err != nil || got != "ok" {
		t.Fatalf("child %s: %v\n%s", what, err, out)
	}
}
