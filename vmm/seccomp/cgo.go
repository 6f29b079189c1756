package seccomp

import _ "unsafe" // go:linkname

// iscgo is set when runtime/cgo is linked (a native build with
// CGO_ENABLED=1 that imports net, or the race detector): then the Go
// runtime starts threads through libc's pthread_create, which makes calls
// the filter forbids (mprotect, clone3, set_robust_list, rseq). Install
// refuses such a binary rather than stop it at its next new thread.
//
//go:linkname iscgo runtime.iscgo
var iscgo bool
