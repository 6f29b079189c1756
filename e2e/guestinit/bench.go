package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Disk benchmarks inside the guest, with O_DIRECT so they measure the
// virtio-blk path rather than the guest's page cache.
//
//	bench-seqwrite:DEV:MiB  bench-seqread:DEV:MiB  bench-randread:DEV:COUNT
func benchDisk(kind, dev string, n int) error {
	p, err := device(dev)
	if err != nil {
		return err
	}
	flags := unix.O_RDONLY
	if kind == "seqwrite" {
		flags = unix.O_WRONLY
	}
	fd, err := unix.Open(p, flags|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// mmap gives page-aligned buffers, as O_DIRECT needs.
	buf, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	start := time.Now()
	switch kind {
	case "seqwrite", "seqread":
		for i := 0; i < n; i++ {
			var err error
			if kind == "seqwrite" {
				_, err = unix.Pwrite(fd, buf, int64(i)<<20)
			} else {
				_, err = unix.Pread(fd, buf, int64(i)<<20)
			}
			if err != nil {
				return err
			}
		}
		if kind == "seqwrite" {
			unix.Fsync(fd)
		}
		s := time.Since(start).Seconds()
		fmt.Printf("GUEST-BENCH %s %s %.1f MB/s %d MiB\n", kind, dev, float64(n)/s*1.048576, n)
	case "randread":
		size, err := unix.Seek(fd, 0, 2)
		if err != nil {
			return err
		}
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < n; i++ {
			off := r.Int64N(size/4096) * 4096
			if _, err := unix.Pread(fd, buf[:4096], off); err != nil {
				return err
			}
		}
		s := time.Since(start).Seconds()
		fmt.Printf("GUEST-BENCH randread %s %.0f IOPS %d reads\n", dev, float64(n)/s, n)
	}
	return nil
}

func benchAction(f []string) error {
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return err
	}
	return benchDisk(f[0][len("bench-"):], f[1], n)
}
