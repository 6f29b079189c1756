package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio/vsock"
	"github.com/gokvm/gokvm/e2e/pattern"
)

// vsock ports of the emulated host's peer: the guest sends to
// vsockSinkPort; the host sends to the guest's vsockSourcePort.
const (
	vsockSinkPort   = 5101
	vsockSourcePort = 5102
)

// vsockTool:
//
//	vsockpeer CID SEED MiB   accept one AF_VSOCK connection on port 5101 and
//	                         hash what arrives; connect to CID:5102 and send
//	                         the pattern
//	holdcid CID SECONDS      claim CID on /dev/vhost-vsock, as a VM does, in
//	                         a process that holds it for SECONDS after this
//	                         command returns
func vsockTool(args []string) error {
	num := func(i int) uint64 {
		if i >= len(args) {
			return 0
		}
		v, _ := strconv.ParseUint(args[i], 10, 64)
		return v
	}
	switch args[0] {
	case "vsockpeer":
		return vsockPeer(uint32(num(1)), num(2), int(num(3)))
	case "holdcid":
		return holdCID(args[1], args[2])
	case "holdcid-child":
		return holdCIDChild(num(1), time.Duration(num(2))*time.Second)
	}
	return fmt.Errorf("unknown tool")
}

func vsockPeer(cid uint32, seed uint64, mb int) error {
	l, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("AF_VSOCK socket: %w", err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: vsockSinkPort}); err != nil {
		return fmt.Errorf("bind port %d: %w", vsockSinkPort, err)
	}
	if err := unix.Listen(l, 1); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		fds := []unix.PollFd{{Fd: int32(l), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds())); n != 1 {
			fmt.Printf("HOST-VSOCK-RECV error no connection (%v)\n", err)
			return
		}
		c, _, err := unix.Accept(l)
		if err != nil {
			fmt.Printf("HOST-VSOCK-RECV error %v\n", err)
			return
		}
		f := os.NewFile(uintptr(c), "vsock")
		defer f.Close()
		start := time.Now()
		b, err := io.ReadAll(f)
		fmt.Printf("HOST-VSOCK-RECV %s %d %.1f MB/s err=%v\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds(), err)
	}()
	go func() {
		defer wg.Done()
		c, err := dialVsock(cid, vsockSourcePort, deadline)
		if err != nil {
			fmt.Printf("HOST-VSOCK-SENT error %v\n", err)
			return
		}
		f := os.NewFile(uintptr(c), "vsock")
		defer f.Close()
		data := pattern.Bytes(seed, mb<<20)
		_, err = f.Write(data)
		fmt.Printf("HOST-VSOCK-SENT %s %d err=%v\n", pattern.SHA256(data), len(data), err)
	}()
	wg.Wait()
	return nil
}

// dialVsock connects to the guest once it listens, trying again until the
// deadline.
func dialVsock(cid, port uint32, deadline time.Time) (int, error) {
	for {
		s, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		// AF_VSOCK gives up on a connection the guest has not answered in
		// 2 s, and resets it even if the guest has just accepted it: too
		// short for a nested guest on a loaded emulated host.
		tv := unix.Timeval{Sec: 60}
		if err := unix.SetsockoptTimeval(s, unix.AF_VSOCK, unix.SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv); err != nil {
			unix.Close(s)
			return -1, fmt.Errorf("AF_VSOCK connect timeout: %w", err)
		}
		err = unix.Connect(s, &unix.SockaddrVM{CID: cid, Port: port})
		if err == nil {
			return s, nil
		}
		unix.Close(s)
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("connecting to %d:%d: %w", cid, port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holdCID starts a process that claims the CID and waits until it has, so
// that gokvm, started next, finds the CID in use.
func holdCID(cid, seconds string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe", "holdcid-child", cid, seconds)
	cmd.ExtraFiles = []*os.File{w} // fd 3: the child says when it holds the CID
	if err := cmd.Start(); err != nil {
		return err
	}
	w.Close()
	msg, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("HOST-HOLDCID %s %s\n", cid, msg)
	if string(msg) != "held" {
		return errors.New("the CID was not claimed")
	}
	return nil
}

func holdCIDChild(cid uint64, d time.Duration) error {
	ready := os.NewFile(3, "ready")
	v, err := vsock.New("holder", cid, nil)
	if err != nil {
		fmt.Fprintf(ready, "failed: %v", err)
		return err
	}
	defer v.Close()
	ready.WriteString("held")
	ready.Close()
	time.Sleep(d)
	return nil
}
