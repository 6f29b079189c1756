// Command sandboxtest runs commands in a guest kernel through gokvm's Go
// API (package sandbox) inside the emulated host, as a Go test would, and
// prints SANDBOXTEST lines saying what it saw. It is its own guest init
// (sandbox.MaybeInit), so it needs no gokvm binary.
//
//	sandboxtest KERNEL MODULES
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox"
)

var failed bool

func check(ok bool, format string, args ...any) {
	status := "ok"
	if !ok {
		status, failed = "FAIL", true
	}
	fmt.Printf("SANDBOXTEST %s %s\n", status, fmt.Sprintf(format, args...))
}

func main() {
	sandbox.MaybeInit() // in the guest: this program is /init
	if len(os.Args) != 3 {
		fmt.Println("usage: sandboxtest KERNEL MODULES")
		os.Exit(2)
	}
	run := func(cmd ...string) (sandbox.Result, string, string, error) {
		var out, console bytes.Buffer
		res, err := sandbox.Run(context.Background(), sandbox.Options{
			// Two sandboxes in one process: the run phase's system
			// call filter, once on, would forbid building the second.
			Spec:       machine.Spec{Kernel: os.Args[1], Timeout: "100s", Seccomp: "off"},
			Modules:    os.Args[2],
			Command:    cmd,
			Stdin:      strings.NewReader("from the Go API\n"),
			Stdout:     &out,
			ConsoleLog: &console,
			Log:        log.New(os.Stderr, "sandbox: ", 0),
		})
		return res, out.String(), console.String(), err
	}
	res, out, console, err := run("sh", "-c", `read line; echo "out: $line"; echo err >&2; exit 3`)
	check(err == nil, "Run returned no error (%v)", err)
	check(res.Status == 3, "the command's status came back: %d", res.Status)
	check(out == "out: from the Go API\nerr\n", "stdout holds the command's output and only it: %q", out)
	check(strings.Contains(console, "Linux version"), "the console log holds the boot messages (%d bytes)", len(console))
	res, _, _, err = run("no-such-command")
	check(err == nil && res.Status == sandbox.StatusNotFound && strings.Contains(res.Message, "not found"),
		"a missing command: status %d, message %q, error %v", res.Status, res.Message, err)
	if failed {
		os.Exit(1)
	}
}
