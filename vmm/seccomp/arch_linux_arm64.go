package seccomp

import "golang.org/x/sys/unix"

const (
	goarch    = "arm64"
	auditArch = unix.AUDIT_ARCH_AARCH64
)
