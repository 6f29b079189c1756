package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// benchFile does on a file, directly, what the guest's disk benchmark does
// through gokvm: 1 MiB sequential writes and reads, 4 KiB random reads.
//
//	benchfile FILE MiB COUNT
func benchFile(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: benchfile FILE MiB COUNT")
	}
	mb, _ := strconv.Atoi(args[1])
	count, _ := strconv.Atoi(args[2])
	f, err := os.OpenFile(args[0], os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for i := 0; i < mb; i++ {
		if _, err := f.WriteAt(buf, int64(i)<<20); err != nil {
			return err
		}
	}
	f.Sync()
	fmt.Printf("HOST-BENCH seqwrite %.1f MB/s\n", float64(mb)/time.Since(start).Seconds()*1.048576)
	start = time.Now()
	for i := 0; i < mb; i++ {
		if _, err := f.ReadAt(buf, int64(i)<<20); err != nil {
			return err
		}
	}
	fmt.Printf("HOST-BENCH seqread %.1f MB/s\n", float64(mb)/time.Since(start).Seconds()*1.048576)
	r := rand.New(rand.NewPCG(1, 2))
	start = time.Now()
	for i := 0; i < count; i++ {
		if _, err := f.ReadAt(buf[:4096], r.Int64N(int64(mb)<<20/4096)*4096); err != nil {
			return err
		}
	}
	fmt.Printf("HOST-BENCH randread %.0f IOPS\n", float64(count)/time.Since(start).Seconds())
	return nil
}
