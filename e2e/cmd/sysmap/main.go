// Command sysmap writes a System.map for an arm64 kernel Image from the
// symbol table the kernel carries for its own backtraces (kallsyms): the
// address, type and name of each function, for looking up a guest's pc
// (gokvm's vcpu dumps) when the guest runs with nokaslr.
// testdata/kernels/fetch.sh runs it on the test kernel, whose Debian
// package ships no real System.map.
//
//	sysmap IMAGE >System.map
package main

import (
	"fmt"
	"os"

	"github.com/gokvm/gokvm/internal/kallsyms"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sysmap IMAGE >System.map")
		os.Exit(2)
	}
	img, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysmap:", err)
		os.Exit(1)
	}
	syms, err := kallsyms.Read(img)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysmap:", err)
		os.Exit(1)
	}
	if err := kallsyms.WriteMap(os.Stdout, syms); err != nil {
		fmt.Fprintln(os.Stderr, "sysmap:", err)
		os.Exit(1)
	}
}
