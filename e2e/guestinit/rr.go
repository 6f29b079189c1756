package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// tcpRR measures small-packet latency as netperf's TCP_RR does: one byte
// to the host's echo peer and one back, again and again, one in flight,
// for the given seconds.
//
//	tcprr:IP:PORT:SECONDS   GUEST-RR N round trips S seconds R/s
func tcpRR(addr string, seconds int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var b [1]byte
	n := 0
	start := time.Now()
	end := start.Add(time.Duration(seconds) * time.Second)
	for time.Now().Before(end) {
		if _, err := c.Write(b[:]); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return err
		}
		n++
	}
	s := time.Since(start).Seconds()
	fmt.Printf("GUEST-RR %d round trips %.1f seconds %.0f R/s\n", n, s, float64(n)/s)
	return nil
}

func rrAction(f []string) error {
	if len(f) < 4 {
		return fmt.Errorf("usage: tcprr:IP:PORT:SECONDS")
	}
	seconds, err := strconv.Atoi(f[3])
	if err != nil {
		return err
	}
	return tcpRR(f[1]+":"+f[2], seconds)
}

// statBench times stat(2) of a file on a mount without a cache, where
// each call is one round trip to the device (a Tgetattr over 9p).
//
//	statbench:PATH:N   GUEST-STAT N calls S seconds U us/call
func statBench(f []string) error {
	if len(f) < 3 {
		return fmt.Errorf("usage: statbench:PATH:N")
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return err
	}
	var st unix.Stat_t
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := unix.Stat(f[1], &st); err != nil {
			return err
		}
	}
	s := time.Since(start).Seconds()
	fmt.Printf("GUEST-STAT %d calls %.2f seconds %.0f us/call\n", n, s, s/float64(n)*1e6)
	return nil
}
