//go:build !linux || !(amd64 || arm64 || arm)

package seccomp

import "runtime"

// gokvm's filter knows no other architecture: Install says so.
const (
	goarch    = runtime.GOARCH
	auditArch = 0
)

var sysNames = map[uintptr]string{}
