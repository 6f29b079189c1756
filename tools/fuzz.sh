#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 10s), failing on the first crasher.
set -euo pipefail
fuzztime=${FUZZTIME:-10s}
go=${GO:-go}
for pkg in $($go list ./...); do
	targets=$($go test -short -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		echo "fuzz: $pkg $t for $fuzztime"
		$go test -run '^$' -fuzz "^$t\$" -fuzztime "$fuzztime" "$pkg"
	done
done
