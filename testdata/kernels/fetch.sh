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
#
# It also builds gokvm_warn.ko (testdata/kernels/gokvm_warn: a module that
# raises one kernel WARNING when loaded, for the tests of the kernel problem
# signatures) against Debian's headers for exactly that arm64 kernel, with
# the cross compiler aarch64-linux-gnu-gcc-N of the kernel's gcc-N (make deps
# installs it), and writes the kernel's System.map.
set -euo pipefail
# depmod lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

cache=${1:-${HOME}/.cache/gokvm/kernels}
here=$(cd "$(dirname "$0")" && pwd)
# The module's sources: the manifest records their sum and this script's,
# so that changing either rebuilds the module (and refetches the rest).
warn_src=$here/gokvm_warn
warn_sum=$(cat "$warn_src/Kbuild" "$warn_src/gokvm_warn.c" "$here/fetch.sh" | sha256sum | cut -d' ' -f1)
mkdir -p "$cache"
cd "$cache"

# Kernel modules the test guests load (uncompressed .ko in Debian's kernel);
# virtio_pci_legacy_dev, virtio_pci_modern_dev and virtio_pci (in that
# order) for the virtio-pci scenarios; tun is for the emulated host's taps; netfs, fscache, 9pnet, 9pnet_virtio
# and 9p (loaded in that order) for virtio-9p; virtio_console and virtio-rng
# for the guest's hvc0 and hwrng; vsock, vmw_vsock_virtio_transport_common
# and vmw_vsock_virtio_transport for the guest's AF_VSOCK; vhost_iotlb,
# vhost, tap, vhost_net and vhost_vsock for the emulated host's vhost
# back-ends (each list in load order).
modules="virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_net failover net_failover tun netfs fscache 9pnet 9pnet_virtio 9p
	virtio_console virtio-rng vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport
	vhost_iotlb vhost tap vhost_net vhost_vsock"
# The 32-bit (armhf, LPAE) guest kernel and its modules.
modules32="virtio_mmio virtio_blk"
# What `gokvm sandbox` loads in the arm64 guest (their dependencies come
# from modules.dep; virtio_pci for a sandbox with --virtio-transport pci): arm64/lib/modules/VERSION is a small /lib/modules tree
# with those modules and depmod's modules.dep, for --modules.
sandbox_modules="virtio_mmio virtio_pci 9pnet_virtio 9p overlay"
PATH=$PATH:/usr/sbin:/sbin

complete() {
	[ -f manifest.txt ] && [ -f arm64/Image ] && [ -f armhf/zImage ] || return 1
	[ -f arm64/System.map ] && [ -f arm64/modules/gokvm_warn.ko ] || return 1
	grep -q "^arm64 gokvm_warn.ko source-sha256 $warn_sum " manifest.txt || return 1
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
	if [ "$arch" = arm64 ]; then
		sysmap "$dir/Image" "$dir/System.map"
		modules_tree "$work/x" "$dir"
		build_warn "$pkg" "$(dpkg-deb -f "$deb" Version)" "$dir"
	fi
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

# sysmap IMAGE MAP: write the System.map of the arm64 kernel IMAGE, for
# looking up the pcs of gokvm's vcpu dumps. Debian's package has only a
# placeholder (/boot/System.map-* says the real one is in the -dbg
# package, 800 MB), so e2e/cmd/sysmap reads the symbol table the kernel
# carries for its own backtraces (kallsyms: its functions, not its data).
sysmap() {
	local go=${GO:-go} image map
	image=$(realpath "$1")
	map=$(realpath "$2")
	command -v "$go" >/dev/null || go=/usr/local/go/bin/go
	command -v "$go" >/dev/null || { echo "fetch.sh: go not found (set GO) for e2e/cmd/sysmap" >&2; exit 1; }
	(cd "$here/../.." && "$go" run ./e2e/cmd/sysmap "$image") >"$map" || { echo "fetch.sh: e2e/cmd/sysmap found no symbols in $1" >&2; exit 1; }
	grep -q ' T start_kernel$' "$map" || { echo "fetch.sh: $2 has no start_kernel" >&2; exit 1; }
}

# download DIR PACKAGE...: apt-get download the packages into DIR (each
# checked against the signed index) and record them in the manifest.
download() {
	local dir=$1 tmp deb
	shift
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q "$@" >/dev/null 2>&1 || apt-get download "$@")
	for deb in "$tmp"/*.deb; do
		echo "$(dpkg-deb -f "$deb" Architecture) $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) $(sha256sum <"$deb" | cut -d' ' -f1)" >>manifest.txt.new
		mv "$deb" "$dir/"
	done
	rm -rf "$tmp"
}

# build_warn IMAGE VERSION DIR: build gokvm_warn.ko for the arm64 kernel
# package IMAGE (linux-image-ABI-arm64) at VERSION, whose modules are in
# DIR/modules, and put it there too. The headers are Debian's
# linux-headers-ABI-arm64 (arm64) and linux-headers-ABI-common (all), of
# the same version; their scripts/ and tools/ are symbolic links into
# linux-kbuild-VERSION, whose programs (fixdep, modpost, ...) run on the build
# machine, so that one is the build machine's architecture (modpost reads
# the objects of any). None of them is installed: they are extracted into
# one root, and the arm64 headers' Makefile, which includes the common one
# by its absolute /usr/src path, is pointed at the extracted one.
build_warn() {
	local image=$1 ver=$2 dir=$3
	local flavour work hdr deps common kbuild cc cross want got ko deb
	flavour=${image#linux-image-}
	work=$(mktemp -d)
	mkdir "$work/debs"
	download "$work/debs" "linux-headers-$flavour:arm64=$ver"
	deps=$(dpkg-deb -f "$work"/debs/linux-headers-"$flavour"_*.deb Depends)
	common=$(echo "$deps" | grep -o 'linux-headers-[^ ,]*-common' | sed -n 1p || true)
	kbuild=$(echo "$deps" | grep -o 'linux-kbuild-[^ ,]*' | sed -n 1p || true)
	[ -n "$common" ] && [ -n "$kbuild" ] || { echo "fetch.sh: linux-headers-$flavour depends on no headers-common or kbuild package: $deps" >&2; exit 1; }
	download "$work/debs" "$common=$ver" "$kbuild:$(dpkg --print-architecture)=$ver"
	for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
	hdr=$work/x/usr/src/linux-headers-$flavour
	sed -i "s|^include /usr/src/|include $work/x/usr/src/|" "$hdr/Makefile"
	grep -q "^include $work/x/usr/src/" "$hdr/Makefile" || { echo "fetch.sh: $hdr/Makefile includes no /usr/src/ Makefile" >&2; exit 1; }

	# The kernel's compiler (CONFIG_CC_VERSION_TEXT="gcc-12 (Debian
	# 12.2.0-14+deb12u1) 12.2.0"): the headers' Makefile calls
	# $(CROSS_COMPILE)gcc-12. The same gcc version is wanted; a different
	# Debian revision of it (the cross compiler's) is not a problem.
	want=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$hdr/.config")
	cc=${want%% *}
	cross=aarch64-linux-gnu-$cc
	command -v "$cross" >/dev/null || { echo "fetch.sh: $cross not found: the kernel was built by $want (Debian package $cc-aarch64-linux-gnu; make deps installs gcc-aarch64-linux-gnu)" >&2; exit 1; }
	got=$("$cross" -dumpfullversion)
	[ "$got" = "${want##* }" ] || echo "fetch.sh: note: $cross is gcc $got, the kernel was built by $want" >&2

	# The prefix maps name the source as the repository does and the
	# headers as installed, in WARN's __FILE__ (the report's "at FILE:LINE")
	# and the debug information the build ID is computed over: the same
	# sources build the same module wherever the work directory is.
	cp -r "$warn_src" "$work/m"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$hdr" M="$work/m" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
		KCFLAGS="-ffile-prefix-map=$work/m/=testdata/kernels/gokvm_warn/ -ffile-prefix-map=$work/x/=/" modules >"$work/build.log" 2>&1 ||
		{ cat "$work/build.log" >&2; echo "fetch.sh: building gokvm_warn.ko against linux-headers-$flavour $ver failed" >&2; exit 1; }
	ko=$dir/modules/gokvm_warn.ko
	# Debian's modules carry no debug information either.
	aarch64-linux-gnu-strip --strip-debug -o "$ko" "$work/m/gokvm_warn.ko"
	check_warn "$ko" "$dir/modules/virtio_mmio.ko" "$hdr/Module.symvers"
	echo "arm64 gokvm_warn.ko source-sha256 $warn_sum $cross $got" >>manifest.txt.new
	rm -rf "$work"
}

# check_warn KO REF SYMVERS: fail unless the module KO would load in the
# kernel whose module REF is and whose exports SYMVERS lists: an aarch64
# relocatable object with REF's vermagic, the CRC of each symbol it uses
# that SYMVERS has, and an out-of-line gokvm_warn_trigger.
check_warn() {
	local ko=$1 ref=$2 symvers=$3 want got elf syms
	want=$(modinfo -F vermagic "$ref")
	got=$(modinfo -F vermagic "$ko")
	[ -n "$want" ] && [ "$got" = "$want" ] || { echo "fetch.sh: $ko: vermagic '$got', the kernel's modules have '$want'" >&2; exit 1; }
	elf=$(aarch64-linux-gnu-readelf -h "$ko")
	syms=$(aarch64-linux-gnu-readelf -s "$ko")
	grep -q 'Type: *REL ' <<<"$elf" && grep -q 'Machine: *AArch64' <<<"$elf" ||
		{ echo "fetch.sh: $ko is not an aarch64 relocatable object" >&2; exit 1; }
	grep -q ' FUNC .* gokvm_warn_trigger$' <<<"$syms" ||
		{ echo "fetch.sh: $ko has no function gokvm_warn_trigger (inlined?)" >&2; exit 1; }
	modprobe --dump-modversions "$ko" | awk -F'\t' -v ko="$ko" '
		NR == FNR { crc[$2] = $1; next }
		{ n++ }
		!($2 in crc) || crc[$2] != $1 {
			printf "fetch.sh: %s: %s has CRC %s, the kernel %s\n", ko, $2, $1, ($2 in crc) ? crc[$2] : "does not export it" >"/dev/stderr"
			bad = 1
		}
		END { if (!n) print "fetch.sh: " ko " has no __versions" >"/dev/stderr"; exit bad || !n }' "$symvers" - ||
		exit 1
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
