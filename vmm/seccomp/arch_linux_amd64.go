package seccomp

import "golang.org/x/sys/unix"

const (
	goarch    = "amd64"
	auditArch = unix.AUDIT_ARCH_X86_64
)
