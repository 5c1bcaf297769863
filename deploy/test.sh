#!/bin/sh
# test.sh: build with AddressSanitizer, UBSan and -Werror, then run every
# test: the unit tests and tests/integration/run (which starts its own
# PostgreSQL and daemons), then a short run of each fuzz target. Exits
# non-zero if make check or a fuzz target failed.
#
#	sudo sh deploy/test.sh
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

if ! sh deploy/setup.sh --enable-asan --enable-werror; then
	echo "test.sh: set-up or build failed" >&2
	exit 1
fi

status=0
make check || status=$?
# Each libFuzzer target for 10 s, after its regression inputs (fuzz/README).
sh fuzz/run.sh 10 || status=$?

echo "test.sh: integration logs, one per test (with the daemon's stderr):"
echo "test.sh:   $top/tests/logs/"
if [ "$status" -eq 0 ]; then
	echo "test.sh: all tests passed"
else
	echo "test.sh: FAILED (make check or fuzz/run.sh exited $status)"
fi
exit "$status"
