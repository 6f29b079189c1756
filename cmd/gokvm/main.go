// Command gokvm boots Linux guest kernels on KVM/ARM hosts.
package main

import (
	"os"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// In a `gokvm sandbox` guest, this binary is /init: it never returns.
	sandbox.MaybeInit()
	// The state files gokvm snapshot has a VM write name this build.
	machine.Version = version
	os.Exit(Main(os.Args[1:], Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
