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
# depmod lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

cache=${1:-${HOME}/.cache/gokvm/kernels}
mkdir -p "$cache"
cd "$cache"

# Kernel modules the test guests load (uncompressed .ko in Debian's kernel);
# tun is for the emulated host's taps; netfs, fscache, 9pnet, 9pnet_virtio
# and 9p (loaded in that order) for virtio-9p; virtio_console and virtio-rng
# for the guest's hvc0 and hwrng; vsock, vmw_vsock_virtio_transport_common
# and vmw_vsock_virtio_transport for the guest's AF_VSOCK; vhost_iotlb,
# vhost, tap, vhost_net and vhost_vsock for the emulated host's vhost
# back-ends (each list in load order).
modules="virtio_mmio virtio_blk virtio_net failover net_failover tun netfs fscache 9pnet 9pnet_virtio 9p
	virtio_console virtio-rng vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport
	vhost_iotlb vhost tap vhost_net vhost_vsock"
# The 32-bit (armhf, LPAE) guest kernel and its modules.
modules32="virtio_mmio virtio_blk"
# What `gokvm sandbox` loads in the arm64 guest (their dependencies come
# from modules.dep): arm64/lib/modules/VERSION is a small /lib/modules tree
# with those modules and depmod's modules.dep, for --modules.
sandbox_modules="virtio_mmio 9pnet_virtio 9p overlay"
PATH=$PATH:/usr/sbin:/sbin

complete() {
	[ -f manifest.txt ] && [ -f arm64/Image ] && [ -f armhf/zImage ] || return 1
	for m in $modules; do [ -f "arm64/modules/$m.ko" ] || return 1; done
	for m in $modules32; do [ -f "armhf/modules/$m.ko" ] || return 1; done
	ls arm64/lib/modules/*/modules.dep >/dev/null 2>&1 || return 1
	[ -x arm64/busybox ] || return 1
	sha256sum --quiet -c manifest.sha256 2>/dev/null
}
if complete; then
	echo "kernels in $cache are present and verified"
	exit 0
fi

added=""
for a in arm64 armhf; do
	if ! dpkg --print-foreign-architectures | grep -qx $a; then
		dpkg --add-architecture $a
		added=1
	fi
done
# A failing index (a mirror in mid-sync) must not stop the others.
[ -z "$added" ] || apt-get update -qq || true

resolve() { # meta package -> the concrete package it depends on
	apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}' | sed 's/:.*//'
}

# fetch META ARCH DIR FILE MODULES: download the kernel META:ARCH depends
# on, put its /boot/vmlinuz-* at DIR/FILE and MODULES in DIR/modules.
fetch() {
	local meta=$1 arch=$2 dir=$3 file=$4 mods=$5
	local pkg work deb
	pkg=$(resolve "$meta:$arch")
	if [ -z "$pkg" ]; then
		apt-get update -qq || true
		pkg=$(resolve "$meta:$arch")
	fi
	[ -n "$pkg" ] || { echo "fetch.sh: cannot resolve $meta:$arch (is apt's $arch index there?)" >&2; exit 1; }
	work=$(mktemp -d)
	(cd "$work" && apt-get download -q "$pkg:$arch" >/dev/null 2>&1 || apt-get download "$pkg:$arch")
	deb=$(ls "$work"/*.deb)
	dpkg-deb -x "$deb" "$work/x"
	rm -rf "$dir" && mkdir -p "$dir/modules"
	cp "$work"/x/boot/vmlinuz-* "$dir/$file"
	for m in $mods; do
		f=$(find "$work/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
		[ -n "$f" ] || { echo "fetch.sh: module $m not in $pkg" >&2; exit 1; }
		case "$f" in
		*.xz) xz -dc "$f" >"$dir/modules/$m.ko" ;;
		*) cp "$f" "$dir/modules/$m.ko" ;;
		esac
	done
	[ "$arch" != arm64 ] || modules_tree "$work/x" "$dir"
	echo "$arch $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) $(sha256sum <"$deb" | cut -d' ' -f1)" >>manifest.txt.new
	rm -rf "$work"
}

# modules_tree ROOT DIR: run depmod on the kernel package extracted at ROOT
# (Debian ships no modules.dep) and copy $sandbox_modules, with everything
# they depend on, into DIR/lib/modules/VERSION with their modules.dep lines
# and modules.builtin.
modules_tree() {
	local root=$1 dir=$2 ver src dst keys m line k
	command -v depmod >/dev/null || { echo "fetch.sh: depmod not found (Debian package kmod; make deps installs it)" >&2; exit 1; }
	ver=$(ls "$root/lib/modules")
	depmod -b "$root" "$ver"
	src=$root/lib/modules/$ver
	dst=$dir/lib/modules/$ver
	mkdir -p "$dst"
	keys=""
	for m in $sandbox_modules; do
		line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$src/modules.dep" || true)
		if [ -z "$line" ]; then
			grep -qE "(^|/)$m\.ko\$" "$src/modules.builtin" || { echo "fetch.sh: module $m neither in modules.dep nor built in" >&2; exit 1; }
			continue
		fi
		keys="$keys ${line%%:*} ${line#*:}"
	done
	for k in $(echo $keys | tr ' ' '\n' | sort -u); do
		mkdir -p "$dst/$(dirname "$k")"
		cp "$src/$k" "$dst/$k"
		grep -E "^$k:" "$src/modules.dep" >>"$dst/modules.dep"
	done
	cp "$src/modules.builtin" "$dst/"
}

# busybox-static for the sandbox end-to-end tests: the emulated host's
# shell and coreutils (sh, true, sleep, echo) for the sandboxed guest.
fetch_busybox() {
	local work deb
	work=$(mktemp -d)
	(cd "$work" && apt-get download -q busybox-static:arm64 >/dev/null 2>&1 || apt-get download busybox-static:arm64)
	deb=$(ls "$work"/*.deb)
	dpkg-deb -x "$deb" "$work/x"
	cp "$work/x/bin/busybox" arm64/busybox
	chmod 755 arm64/busybox
	echo "arm64 $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) $(sha256sum <"$deb" | cut -d' ' -f1)" >>manifest.txt.new
	rm -rf "$work"
}

rm -f manifest.txt.new
fetch linux-image-arm64 arm64 arm64 Image "$modules"
fetch linux-image-armmp-lpae armhf armhf zImage "$modules32"
fetch_busybox
mv manifest.txt.new manifest.txt
find arm64 armhf -type f | sort | xargs sha256sum >manifest.sha256
echo "fetched into $cache:"
cat manifest.txt
