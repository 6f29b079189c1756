package main

import (
	"os"
	"path/filepath"

	"github.com/gokvm/gokvm/e2e/harness"
)

// guestInit is the LAVA example guest's /init: busybox's applets, the
// usual file systems, then a shell on the console with the prompt the
// example job waits for (lava/jobs), started again if it ends.
const guestInit = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
export PS1='gokvm-guest# '
echo "gokvm-guest: busybox shell on the console"
while true; do
	setsid cttyhack sh
done
`

// writeGuestInitramfs writes the busybox initramfs the example LAVA job
// boots.
func writeGuestInitramfs(busybox, out string) int {
	dir, err := os.MkdirTemp("", "labhost-initramfs")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	init := filepath.Join(dir, "init")
	if err := os.WriteFile(init, []byte(guestInit), 0o755); err != nil {
		return fail("%v", err)
	}
	if err := harness.WriteInitramfs(out, map[string]string{"init": init, "bin/busybox": busybox}); err != nil {
		return fail("writing %s: %v", out, err)
	}
	return 0
}
