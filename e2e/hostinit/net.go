package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gokvm/gokvm/e2e/pattern"
)

// Ports the network peer listens on in the emulated host.
const (
	sinkPort   = 5001 // the guest sends; the host checks
	sourcePort = 5002 // the host sends; the guest checks
)

// netPeer accepts one connection on each port: it hashes what arrives on
// the sink and sends the pattern (seed, MiB) on the source, then exits.
func netPeer(seed uint64, mb int) error {
	sink, err := net.Listen("tcp4", fmt.Sprintf(":%d", sinkPort))
	if err != nil {
		return err
	}
	source, err := net.Listen("tcp4", fmt.Sprintf(":%d", sourcePort))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Minute)
	sink.(*net.TCPListener).SetDeadline(deadline)
	source.(*net.TCPListener).SetDeadline(deadline)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c, err := sink.Accept()
		if err != nil {
			fmt.Printf("HOST-RECV error %v\n", err)
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		start := time.Now()
		b, err := io.ReadAll(c)
		fmt.Printf("HOST-RECV %s %d %.1f MB/s err=%v\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds(), err)
	}()
	go func() {
		defer wg.Done()
		c, err := source.Accept()
		if err != nil {
			fmt.Printf("HOST-SENT error %v\n", err)
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		data := pattern.Bytes(seed, mb<<20)
		_, err = c.Write(data)
		fmt.Printf("HOST-SENT %s %d err=%v\n", pattern.SHA256(data), len(data), err)
	}()
	wg.Wait()
	return nil
}
