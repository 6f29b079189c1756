#!/usr/bin/env bash
# Fetches the guest kernels the end-to-end tests boot, from Debian's archive,
# into a cache outside the source tree (first argument, default
# ~/.cache/gokvm/kernels).
#
# The arm64 kernel is whatever linux-image-arm64:arm64 depends on today (the
# ABI number moves with Debian's updates, so it is resolved, not hard-coded).
# apt-get download checks each .deb against the SHA256 sums of the signed
# archive index; the manifest written next to the files records the package
# versions and the sums of what was extracted, and later runs verify them.
set -euo pipefail

cache=${1:-${HOME}/.cache/gokvm/kernels}
mkdir -p "$cache"
cd "$cache"

# Kernel modules the test guests load (uncompressed .ko in Debian's kernel).
modules="virtio_mmio virtio_blk virtio_net failover net_failover tun"

complete() {
	[ -f manifest.txt ] && [ -f arm64/Image ] || return 1
	for m in $modules; do [ -f "arm64/modules/$m.ko" ] || return 1; done
	sha256sum --quiet -c manifest.sha256 2>/dev/null
}
if complete; then
	echo "kernels in $cache are present and verified"
	exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -qq || true
fi

resolve() { # meta package -> the concrete package it depends on
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}' | sed 's/:.*//'
}

pkg=$(resolve linux-image-arm64:arm64)
if [ -z "$pkg" ]; then
	apt-get update -qq || true
	pkg=$(resolve linux-image-arm64:arm64)
fi
[ -n "$pkg" ] || { echo "fetch.sh: cannot resolve linux-image-arm64:arm64 (is apt's arm64 index there?)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg:arm64" >/dev/null 2>&1 || apt-get download "$pkg:arm64")
deb=$(ls "$work"/*.deb)
dpkg-deb -x "$deb" "$work/x"

rm -rf arm64 && mkdir -p arm64/modules
cp "$work"/x/boot/vmlinuz-* arm64/Image
for m in $modules; do
	f=$(find "$work/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
	[ -n "$f" ] || { echo "fetch.sh: module $m not in $pkg" >&2; exit 1; }
	case "$f" in
	*.xz) xz -dc "$f" >"arm64/modules/$m.ko" ;;
	*) cp "$f" "arm64/modules/$m.ko" ;;
	esac
done

{
	echo "arm64 $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) $(sha256sum <"$deb" | cut -d' ' -f1)"
} >manifest.txt
find arm64 -type f | sort | xargs sha256sum >manifest.sha256
echo "fetched $(cat manifest.txt) into $cache"
