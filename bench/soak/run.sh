#!/bin/sh
# bench/soak/run.sh: the soak. Bounded, on 127.0.0.1 only.
#
#	sh bench/soak/run.sh [DURATION]		(seconds, default 600)
#
# 1. An optimised tocsind (bench/lib.sh's build in $BENCH_BUILD, default
#    /tmp/tocsin-soak-build, or TOCSIND=/path) on a
#    private PostgreSQL cluster, for DURATION seconds: SUBSCRIBERS (5,000)
#    WebSocket subscribers spread over two processes (bench/soak/soak.py,
#    python3-websockets), one TLP:CLEAR advisory published a second,
#    every one delivered to WEBHOOKS (20) webhooks of a local sink and
#    e-mailed to EMAIL_USERS (20) users through a local SMTP sink
#    (python3-aiosmtpd). tocsind's RSS is sampled every 10 s. At the end:
#    every subscriber must have every item (each reconnects and resumes
#    with ?since= if closed; duplicates are counted), every webhook and
#    e-mail delivery must have arrived, tocsind must exit 0 on SIGTERM.
# 2. The same for LSAN_DURATION (60) seconds with LSAN_SUBSCRIBERS (500)
#    subscribers against an AddressSanitizer build (./configure
#    --enable-asan, from a copy of the checkout in $SOAK_ASAN_BUILD,
#    default /tmp/tocsin-soak-asan; or TOCSIND_ASAN=/path): LeakSanitizer
#    runs at exit; its log must hold no report. SKIP_LSAN=1 skips it.
#
# INTERVAL: seconds between publishes (default 1). TOCSIND_WRAPPER: a
# command put before the daemon's (e.g. "heaptrack -o FILE").
# RING_EVENTS sets stream.ring_events (default: tocsind's, 4096).
#
# RSS after warm-up. Two bounded caches in tocsind grow at the publishing
# rate until full: the stream's ring of recent events (stream.ring_events;
# its size is on /metrics, tocsin_stream_ring_events and _bytes, sampled
# with RSS) and the delivery worker's cache of the last 256 events it
# rendered (DELIVER_EVENT_CACHE in server/deliver.c). WARMUP (seconds)
# defaults to the time that cache takes to fill, 256 publishes and 30 s,
# at least 120 s, at most half the run: 290 s at one publish a second.
# After it, the soak FAILS unless RSS minus the ring's bytes is flat:
# grows by at most FLAT_PCT (default 1) % from the mean of the first
# minute after warm-up to the mean of the last, and its least-squares
# slope is at most FLAT_KB_PER_MIN (default 50) kB/min. With RING_EVENTS
# below 256 the ring is full by then too, and RSS itself should be flat
# (reported, not judged). The LeakSanitizer part is not judged on RSS
# (ASan holds freed memory in quarantine).
#
# Results: $SOAK_WORK (default /tmp/tocsin-soak)/{soak,lsan}/summary.json,
# rss.csv, tocsind.log. Exit 0 when both parts passed.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/soak
BENCH_NAME=soak
. "$top/bench/lib.sh"
PY3=/usr/bin/python3		# Debian's, with websockets and aiosmtpd

DURATION=${1:-${DURATION:-600}}
SUBSCRIBERS=${SUBSCRIBERS:-5000}
WEBHOOKS=${WEBHOOKS:-20}
EMAIL_USERS=${EMAIL_USERS:-20}
LSAN_DURATION=${LSAN_DURATION:-60}
LSAN_SUBSCRIBERS=${LSAN_SUBSCRIBERS:-500}
WORK=${SOAK_WORK:-/tmp/tocsin-soak}
# Its own build directory: another benchmark may be building in lib.sh's.
BENCH_BUILD=${BENCH_BUILD:-/tmp/tocsin-soak-build}
base=${BENCH_PORT_BASE:-23600}

# One descriptor per connection, in tocsind and in the subscribers.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((SUBSCRIBERS + 1000)) ] ||
    die "open-files limit $(ulimit -n) is too low for $SUBSCRIBERS subscribers"
$PY3 -c 'import websockets, aiosmtpd' 2>/dev/null ||
    die "$PY3 lacks python3-websockets or python3-aiosmtpd"

cleanup() { pg_stop; }
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"
machine >"$WORK/machine"
say "machine: $(cat "$WORK/machine"); load: $(cut -d' ' -f1-3 /proc/loadavg)"

build_tocsind
pg_start "$WORK/pg" "$(free_port "$base")"

# soak NAME BINARY SECONDS SUBSCRIBERS FLAT_KB_PER_MIN: one part, in
# $WORK/NAME (flatness not judged if the last is 0).
soak() {
	psql_ -d postgres -c "DROP DATABASE IF EXISTS soak_$1" >/dev/null &&
	    psql_ -d postgres -c "CREATE DATABASE soak_$1" >/dev/null ||
	    die "cannot create database soak_$1"
	http=$(free_port $((base + 10)))
	ws=$(free_port $((http + 1)))
	say "$1: $3 s, $4 subscribers, tocsind $2 (REST $http, stream $ws)"
	TOCSIN_SCHEMA_DIR=$top/schema $PY3 "$here/soak.py" run \
	    --tocsind "$2" --work "$WORK/$1" --templates "$top/templates" \
	    --dsn "host=127.0.0.1 port=$PGPORT user=postgres dbname=soak_$1" \
	    --http-port "$http" --ws-port "$ws" --duration "$3" \
	    --subscribers "$4" --webhooks "$WEBHOOKS" \
	    --email-users "$EMAIL_USERS" --ring-events "${RING_EVENTS:-0}" \
	    --interval "${INTERVAL:-1}" --warmup "${WARMUP:-$(warmup "$3")}" \
	    --flat-kb-per-min "$5" --flat-pct "${FLAT_PCT:-1}"
}

# warmup SECONDS: 256 publishes and 30 s, in [120, SECONDS / 2], rounded up
# to the 10-s sampling period.
warmup() {
	awk -v d="$1" -v i="${INTERVAL:-1}" 'BEGIN {
		w = 256 * i + 30; if (w < 120) w = 120; if (w > d / 2) w = d / 2
		w = int((w + 9) / 10) * 10; print (w > d / 2 ? int(d / 2) : w) }'
}

status=0
soak soak "$TOCSIND" "$DURATION" "$SUBSCRIBERS" "${FLAT_KB_PER_MIN:-50}" ||
    status=1

if [ -z "${SKIP_LSAN:-}" ]; then
	if [ -z "${TOCSIND_ASAN:-}" ]; then
		b=${SOAK_ASAN_BUILD:-/tmp/tocsin-soak-asan}
		mkdir -p "$b/src"
		(cd "$top" && git ls-files -co --exclude-standard -z) |
		    (cd "$top" && xargs -0 cp --parents -u -t "$b/src")
		say "building an ASan tocsind in $b/src (log: $b/build.log)"
		(
			cd "$b/src" && mkdir -p etc &&
			if [ ! -x configure ] || [ configure.ac -nt configure ] ||
			    [ Makefile.am -nt Makefile.in ]; then
				autoreconf -fi
			fi &&
			if [ ! -f Makefile ] ||
			    [ configure -nt config.status ]; then
				./configure --enable-asan
			fi &&
			make -j"$(nproc)" tocsind
		) >"$b/build.log" 2>&1 || { tail -n 30 "$b/build.log" >&2;
		    die "ASan build failed; see $b/build.log"; }
		TOCSIND_ASAN=$b/src/tocsind
	fi
	soak lsan "$TOCSIND_ASAN" "$LSAN_DURATION" "$LSAN_SUBSCRIBERS" 0 ||
	    status=1
fi
say "results in $WORK; load: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
