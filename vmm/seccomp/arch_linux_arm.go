package seccomp

import "golang.org/x/sys/unix"

const (
	goarch    = "arm"
	auditArch = unix.AUDIT_ARCH_ARM
)
