#!/usr/bin/env bash
# Installs the emulated arm64 host the end-to-end tests boot:
# qemu-system-aarch64, version 8 or newer.
#
# Why 8: with Debian 12's QEMU 7.2, about one nested guest boot in fifteen
# stalled in the 32-bit decompressor for minutes, or crashed to the
# exception vectors with no RAM behind them, while the same gokvm under
# QEMU 10 booted every time (e2e/cmd/emuhost --repeat counts these). On
# Debian 12 the newer QEMU comes from Debian's bookworm-backports; newer
# Debian releases have it in main.
set -euo pipefail

want_major=8
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

version_ok() {
	command -v qemu-system-aarch64 >/dev/null || return 1
	local v
	v=$(qemu-system-aarch64 --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
	[ -n "$v" ] && [ "$v" -ge "$want_major" ]
}

if version_ok; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ]; then
	list=/etc/apt/sources.list.d/gokvm-bookworm-backports.list
	if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
	fi
	# A mirror in mid-sync can fail an index for a while: the install says
	# whether the one that matters arrived, and is retried if not.
	for attempt in 1 2 3; do
		$SUDO apt-get update -qq || true
		if $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-arm; then
			break
		fi
		echo "install-qemu.sh: attempt $attempt to install QEMU from bookworm-backports failed" >&2
		[ "$attempt" = 3 ] || sleep 20
	done
else
	$SUDO apt-get update -qq || true
	$SUDO apt-get install -y -qq --no-install-recommends qemu-system-arm || true
fi

if version_ok; then
	qemu-system-aarch64 --version | head -n1
	exit 0
fi
if command -v qemu-system-aarch64 >/dev/null; then
	echo "install-qemu.sh: WARNING: $(qemu-system-aarch64 --version | head -n1) is older than $want_major.0;" >&2
	echo "install-qemu.sh: rare nested boots stall or crash in its emulation, so the end-to-end tests may fail for it" >&2
	exit 0
fi
echo "install-qemu.sh: could not install qemu-system-aarch64 (Debian package qemu-system-arm)" >&2
exit 1
