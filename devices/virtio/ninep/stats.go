package ninep

import (
	"fmt"
	"sync/atomic"
)

// shareCounters count what the guest read from and wrote to the share's
// files, for --stats: how much of a run went over 9p (a warm sandbox's
// saved guest should read next to nothing of the files it cached).
type shareCounters struct {
	reads, readBytes   atomic.Uint64
	writes, wroteBytes atomic.Uint64
}

// ShareStats are a share's counts since it opened: its files' Tread and
// Twrite requests and the bytes they moved.
type ShareStats struct {
	Reads, ReadBytes   uint64
	Writes, WroteBytes uint64
}

func (s ShareStats) String() string {
	return fmt.Sprintf("%d reads, %d bytes read, %d writes, %d bytes written", s.Reads, s.ReadBytes, s.Writes, s.WroteBytes)
}

// Stats are the share's counts so far.
func (s *Share) Stats() ShareStats {
	return ShareStats{
		Reads: s.counters.reads.Load(), ReadBytes: s.counters.readBytes.Load(),
		Writes: s.counters.writes.Load(), WroteBytes: s.counters.wroteBytes.Load(),
	}
}

func (c *shareCounters) read(n int) {
	c.reads.Add(1)
	c.readBytes.Add(uint64(n))
}

func (c *shareCounters) wrote(n int) {
	c.writes.Add(1)
	c.wroteBytes.Add(uint64(n))
}
