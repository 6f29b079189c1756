#!/usr/bin/env bash
# `make lava`: runs the example LAVA job (lava/jobs/gokvm-busybox.yaml) with
# a real lava-run against the gokvm device type. On a machine without
# KVM/ARM the device's commands go to gokvm in an emulated arm64 host
# (e2e/cmd/labhost); the guest boots under gokvm on KVM/ARM there and its
# console is the LAVA job's. Fails unless the job and its uname check pass.
#
# Needs: lava-dispatcher (installed here with apt if missing), LAVA's
# device-type templates (from the lava-server package: unpacked into
# $CACHE, not installed), the arm64 kernel and busybox of `make kernels`.
set -euo pipefail

KERNELS=${GOKVM_KERNELS:-$HOME/.cache/gokvm/kernels}
CACHE=${GOKVM_LAVA_CACHE:-$HOME/.cache/gokvm/lava}
GO=${GO:-go}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
cd "$(dirname "$0")/.."
start=$(date +%s)

# lava-run. Its dependencies pull qemu-system-x86 in (libguestfs), which
# must match the QEMU install-qemu.sh took from bookworm-backports there.
if ! command -v lava-run >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq || true
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	if [ "$codename" = bookworm ] && dpkg-query -W -f '${Version}' qemu-system-common 2>/dev/null | grep -q bpo; then
		$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86
	fi
	$SUDO apt-get install -y -qq --no-install-recommends lava-dispatcher
fi

# LAVA's device-type templates (base.jinja2), which lava-server ships.
templates=""
for d in /etc/lava-server/dispatcher-config/device-types /usr/share/lava-server/device-types \
	"$CACHE/lava-server/usr/share/lava-server/device-types"; do
	if [ -f "$d/base.jinja2" ]; then templates=$d; break; fi
done
if [ -z "$templates" ]; then
	mkdir -p "$CACHE"
	(cd "$CACHE" && rm -f lava-server_*.deb && apt-get download lava-server >/dev/null &&
		dpkg-deb -x lava-server_*.deb lava-server && rm -f lava-server_*.deb)
	templates=$CACHE/lava-server/usr/share/lava-server/device-types
fi

work=$(mktemp -d /tmp/gokvm-lava.XXXXXX)
lab=$work/lab
labhost=$PWD/bin/labhost
mkdir -p "$work/images" bin
$GO build -o "$labhost" ./e2e/cmd/labhost
cp "$KERNELS/arm64/Image" "$work/images/Image"
"$labhost" initramfs --busybox "$KERNELS/arm64/busybox" "$work/images/initrd.cpio"

# The device: gokvm-01 with every gokvm command sent to the emulated host.
python3 lava/render-device.py --templates "$templates" \
	--set "gokvm_prefix=$labhost --dir $lab exec -- " \
	--set "gokvm_install=$labhost --dir $lab put" \
	--set "gokvm_images=/srv/gokvm/gokvm-01" \
	lava/devices/gokvm-01.jinja2 >"$work/device.yaml"
sed "s#file:///srv/gokvm/#file://$work/images/#" lava/jobs/gokvm-busybox.yaml >"$work/job.yaml"

echo "lava: lava-dispatcher, templates and images ready after $(($(date +%s) - start)) s"

# One emulated host at a time on this machine (the e2e tests share the lock).
status=0
echo "lava: waiting for /tmp/gokvm-qemu.lock"
flock /tmp/gokvm-qemu.lock bash -c '
	set -u
	lab=$1 labhost=$2 work=$3
	locked=$(date +%s)
	echo "lava: got the lock"
	"$labhost" --dir "$lab" start || exit 1
	trap "\"$labhost\" --dir \"$lab\" stop; echo \"lava: the emulated host and the job took \$((\$(date +%s) - locked)) s\"" EXIT
	timeout 20m lava-run --job-id 1 --device "$work/device.yaml" --output-dir "$work/out" "$work/job.yaml" >"$work/lava.log" 2>&1
' _ "$lab" "$labhost" "$work" || status=$?
echo "lava: lava-run's log is $work/lava.log, the emulated host's console $lab/console.log"
if [ ! -f "$work/out/result.yaml" ]; then
	tail -n 40 "$work/lava.log" 2>/dev/null || true
	echo "lava: FAIL: lava-run wrote no result (status $status)"
	exit 1
fi
if ! python3 lava/check-results.py "$work/lava.log" "$work/out/result.yaml" 0_arch/uname-m 0_arch/kvm; then
	tail -n 40 "$work/lava.log"
	exit 1
fi
rm -rf "$work/images"
echo "lava: PASS in $(($(date +%s) - start)) s"
