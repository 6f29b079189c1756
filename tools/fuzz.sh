#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 10s), then prints how many executions each reached
# (the last "execs: N" that go test -fuzz printed) and fails if any target
# found a crasher. Every target runs even after one fails, so a long run
# (make fuzz-long: FUZZTIME=10m) reports them all; FUZZFAILFAST=1 stops at
# the first.
#
# Targets in packages matching FUZZRACE (a grep -E pattern over import
# paths; default: the virtio devices, whose targets run device goroutines
# alongside the driver) run under the race detector. FUZZRACE=. races
# every target, FUZZRACE='^$' none. FUZZPARALLEL sets go test's -parallel
# (default: GOMAXPROCS). FUZZLOG keeps each target's output in that
# directory (default: a temporary one, removed).
#
# The fuzz engine of Go up to 1.26 can end a target with "context deadline
# exceeded" and no failing input when the time runs out while a worker is
# mid-input (go.dev/issue/75804, fixed in Go 1.27). So the targets run on
# FUZZTOOLCHAIN (default go1.27.3, which the go command fetches from the
# module proxy once, like a module; the project itself builds with its
# own Go); if that cannot be had, on the machine's Go, where a target that
# ends with that race and no failing input runs again, up to twice.
#
# FUZZMINIMIZE is go test's -fuzzminimizetime (default 1x: no minimizing).
# The engine minimizes a failing input before it reports it, and a run
# that reaches its time limit meanwhile ends with PASS and the failure
# lost: a 9p message the device never answered (the test driver gives up
# after 5 s) was found and lost that way in CI's 10 s runs. Unminimized
# failing inputs are still written to testdata/fuzz.
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
race=${FUZZRACE:-/devices/virtio(/|$)}
go=${GO:-go}
toolchain=${FUZZTOOLCHAIN:-go1.27.3}
minimize=${FUZZMINIMIZE:-1x}
if [ "$toolchain" != local ] && GOTOOLCHAIN=$toolchain $go version >/dev/null; then
	export GOTOOLCHAIN=$toolchain
	echo "fuzz: on $($go version)"
else
	echo "fuzz: $toolchain could not be had; fuzzing on $($go version), which can race at the time limit" >&2
fi
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi
logdir=${FUZZLOG:-}
if [ -z "$logdir" ]; then
	logdir=$(mktemp -d)
	trap 'rm -rf "$logdir"' EXIT
fi
mkdir -p "$logdir"

summary=()
failed=0
for pkg in $($go list ./...); do
	targets=$($go test -short -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		flags=()
		if echo "$pkg" | grep -Eq -- "$race"; then
			flags=(-race)
		fi
		echo "fuzz: $pkg $t for $fuzztime ${flags[*]:-}"
		log="$logdir/$(echo "$pkg" | tr / _).$t.log"
		status=ok
		run() { $go test "${flags[@]}" "${parallel[@]}" -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$log"; }
		if ! run; then
			status=FAIL
			# A real crasher says "Failing input written to
			# testdata/fuzz/..." and fails at once; the deadline race
			# (see above) writes none and is no finding.
			for again in 1 2; do
				if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
					break
				fi
				echo "fuzz: $t ended with the engine's deadline race and no failing input; running it again"
				if run; then
					status=ok
					break
				fi
			done
			if [ "$status" = FAIL ]; then
				failed=1
			fi
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
		summary+=("$(printf '%-8s %12s  %s %s %s' "$status" "${execs:-?}" "$t" "$pkg" "${flags[*]:-}")")
		if [ "$status" = FAIL ] && [ -n "${FUZZFAILFAST:-}" ]; then
			break 2
		fi
	done
done

echo
echo "fuzz: executions per target in $fuzztime:"
printf '%s\n' "${summary[@]}"
exit $failed
