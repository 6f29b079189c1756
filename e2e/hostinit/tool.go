package main

import (
	"net"
	"time"

	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/gokvm/gokvm/e2e/netcfg"

	"github.com/gokvm/gokvm/e2e/pattern"
)

// tool is what scenarios run before and after gokvm in the emulated host,
// which has no other programs:
//
//	mkrand FILE SEED MiB   write pattern data (allocated blocks)
//	mksparse FILE MiB      a sparse file of that size
//	sha FILE               print the file's SHA-256 and size
//	blocks FILE            print the 512-byte blocks allocated to the file
//	truncate FILE BYTES    set the file's size
//	capture FILE PROG ...  run PROG with its standard output in FILE
//	rlimit NOFILE PROG ... become PROG with RLIMIT_NOFILE at NOFILE (soft and hard)
//	vcpuaffinity SECONDS N print the allowed CPUs of gokvm's vcpu threads once N are seen
//	rmall DIR, copy SRC DST, touch FILE, cutfiles DIR SUFFIX (files.go)
//	kvmexits start|print   the host KVM's vcpu exits by kind (kvmexits.go)
func tool(args []string) int {
	if len(args) < 2 {
		fmt.Println("tool: usage: mkrand|mksparse|sha|blocks|truncate FILE ...")
		return 2
	}
	if err := runTool(args); err != nil {
		fmt.Printf("tool %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func runTool(args []string) error {
	file := args[1]
	num := func(i int) uint64 {
		if i >= len(args) {
			return 0
		}
		v, _ := strconv.ParseUint(args[i], 10, 64)
		return v
	}
	switch args[0] {
	case "mkrand":
		b := pattern.Bytes(num(2), int(num(3))<<20)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("HOST-SHA %s %s %d\n", file, pattern.SHA256(b), len(b))
	case "mksparse":
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(int64(num(2)) << 20)
	case "sha":
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		fmt.Printf("HOST-SHA %s %s %d\n", file, pattern.SHA256(b), len(b))
	case "blocks":
		var st syscall.Stat_t
		if err := syscall.Stat(file, &st); err != nil {
			return err
		}
		fmt.Printf("HOST-BLOCKS %s %d\n", file, st.Blocks)
	case "benchfile":
		return benchFile(args[1:])
	case "mktap": // mktap NAME CIDR
		if err := netcfg.MakeTap(file); err != nil {
			return err
		}
		return netcfg.Up(file, args[2])
	case "ifexists": // ifexists NAME
		if _, err := net.InterfaceByName(file); err == nil {
			fmt.Printf("HOST-IF %s present\n", file)
		} else {
			fmt.Printf("HOST-IF %s absent\n", file)
		}
	case "netpeer": // netpeer SEED MiB
		return netPeer(num(1), int(num(2)))
	case "truncate":
		return os.Truncate(file, int64(num(2)))
	case "vcpuaffinity": // vcpuaffinity WAIT-SECONDS THREADS
		return vcpuAffinity(time.Duration(num(1))*time.Second, int(num(2)))
	case "mkdir", "symlink", "writefile", "treesha": // see ninep.go
		return ninepTool(args)
	case "rss": // rss COMM MILLISECONDS
		return rssOf(file, time.Duration(num(2))*time.Millisecond)
	case "rrpeer": // rrpeer PORT
		return rrPeer(int(num(1)))
	case "lkvm": // lkvm ARGS...: kvmtool, for make bench and make compat
		return execPeer(args[1:])
	case "chmod", "loup", "userpeer", "fwdpeer": // see usernet.go
		return userNetTool(args)
	case "vsockpeer", "holdcid", "holdcid-child": // see vsock.go
		return vsockTool(args)
	case "capture": // capture FILE PROGRAM ARGS...
		return capture(file, args[2:])
	case "rlimit": // rlimit NOFILE PROGRAM ARGS...
		return rlimitExec(args)
	case "rmall", "copy", "touch", "cutfiles", "rmglob": // see files.go
		return fileTool(args)
	case "kvmexits": // kvmexits start|print, see kvmexits.go
		return kvmExitsTool(args)
	default:
		return fmt.Errorf("unknown tool")
	}
	return nil
}
