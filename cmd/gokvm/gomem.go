package main

import (
	"fmt"
	"runtime"
)

// goMemory says where the Go runtime's memory is (runtime.MemStats), the
// part of gokvm's anonymous memory that is Go's: --stats prints it so that
// a change in gokvm's footprint can be traced to the heap, the stacks or
// the runtime's own books.
func goMemory() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	kib := func(b uint64) uint64 { return b / 1024 }
	return fmt.Sprintf("Go runtime: %d KiB from the OS; heap %d KiB in use, %d KiB idle (%d KiB returned); stacks %d KiB; runtime metadata %d KiB; %d goroutines",
		kib(ms.Sys), kib(ms.HeapInuse), kib(ms.HeapIdle), kib(ms.HeapReleased), kib(ms.StackSys),
		kib(ms.MSpanSys+ms.MCacheSys+ms.BuckHashSys+ms.GCSys+ms.OtherSys), runtime.NumGoroutine())
}
