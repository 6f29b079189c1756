package ninep

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Every file a guest walks to holds a host descriptor (two once opened),
// so a guest that walks without clunking could take every descriptor
// gokvm may have, and then every other open in gokvm would fail: a user
// network connection, an eventfd, a control client. Each share therefore
// counts its descriptors against two limits: its own (Options.MaxFiles),
// and one for all shares of the process, which leaves a reserve of the
// process's descriptor limit to the rest of gokvm. Past either, the guest
// is told EMFILE, as a process of its own would be.

// DefaultMaxFiles is a share's own limit on descriptors when Options
// gives none: far more than a guest's dentry cache keeps (each cached
// dentry of Linux's 9p client holds one fid).
const DefaultMaxFiles = 1 << 16

// reserveFraction and minReserve set what the shares leave of
// RLIMIT_NOFILE: a quarter of it, and never fewer than 256.
const (
	reserveFraction = 4
	minReserve      = 256
)

// processFiles is the budget every share of the process draws on.
var processFiles = struct {
	sync.Mutex
	used  int
	limit int // -1 until a share is opened
}{limit: -1}

// processFileLimit is RLIMIT_NOFILE's soft limit less the reserve, read
// once (the Go runtime has raised the soft limit to the hard one by then).
func processFileLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		rl.Cur = 1 << 20
	}
	reserve := max(int(rl.Cur)/reserveFraction, minReserve)
	return max(int(rl.Cur)-reserve, 0)
}

// initProcessFiles reads the limit the first time a share is opened.
func initProcessFiles() {
	processFiles.Lock()
	if processFiles.limit < 0 {
		processFiles.limit = processFileLimit()
	}
	processFiles.Unlock()
}

// fileBudget is one share's count of the descriptors it holds.
type fileBudget struct {
	mu   sync.Mutex
	used int
	max  int
}

// take counts one descriptor about to be opened, or says EMFILE.
func (b *fileBudget) take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used >= b.max {
		return unix.EMFILE
	}
	processFiles.Lock()
	defer processFiles.Unlock()
	if processFiles.used >= processFiles.limit {
		return unix.EMFILE
	}
	processFiles.used++
	b.used++
	return nil
}

// give returns a descriptor's count once it is closed (or was never
// opened).
func (b *fileBudget) give() {
	b.mu.Lock()
	b.used--
	b.mu.Unlock()
	processFiles.Lock()
	processFiles.used--
	processFiles.Unlock()
}

// inUse is how many descriptors the share holds now.
func (b *fileBudget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
