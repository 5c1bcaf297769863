#!/bin/bash
# bench/webhooks/run.sh: signed webhook deliveries from tocsind's durable
# outbox to a local sink (nginx answering 204), against wrk posting the same
# request to the same sink, in the same run.
#
#	bash bench/webhooks/run.sh [SOURCE_TREE]	(bench/setup.sh once first)
#
# SOURCE_TREE (default: the checkout this script is in) is copied afresh to
# $BENCH_BUILD/src (default /tmp/tocsin-whbench/src) and built there with
# CFLAGS="-O2 -g", no sanitizers (bench/lib.sh build_tocsind); GIT_REV=rev
# builds that commit of SOURCE_TREE instead (git archive: a tree that
# others are editing may not build); TOCSIND=path uses an existing binary
# (and the schema/ beside it unless TOCSIN_SCHEMA_DIR is set).
#
# Everything talks to 127.0.0.1 only: a private PostgreSQL cluster
# (deploy/pg-cluster.sh, fsync off as for the tests), a private nginx
# (its own config, pid and logs under $WORK/nginx; `return 204` for every
# POST; the system nginx service is never touched) and tocsind with
# webhooks.allow_private_networks (a loopback sink), its key_file and
# signing key under $WORK. The run is bounded: fixed counts, and every
# wait gives up after WAIT_S seconds.
#
#  0. capture: one organisation's webhook points at a one-shot HTTP server
#     (wh.py); one advisory is published and the delivery tocsind sends is
#     kept (body and headers) and its v1 signature checked independently.
#  1. deliveries: N1_ORGS organisations (essential, sector health), one
#     webhook each; N1_ADVISORIES advisories (TLP:CLEAR, audience
#     {sectors: [health]}) published by PUB_WORKERS threads: N1_ORGS x
#     N1_ADVISORIES deliveries (100 x 100 = 10,000 by default).
#     deliveries/s = deliveries / (last delivered_at in the deliveries
#     table - the first publish request), so the state is recorded and
#     committed in every counted delivery.
#  2. wrk -t WRK_THREADS -c WRK_CONNS -d WRK_DURATION with a Lua script
#     (written by wh.py) that posts the captured body with the captured
#     headers (content-type, webhook-id, -timestamp, -signature, accept)
#     to the same nginx: requests/s; then the ratio tocsind / wrk.
#  3. fan-out: N2 organisations (sector energy) with one webhook each,
#     created through the REST API by SETUP_WORKERS threads (timed apart,
#     not counted), then ONE advisory to {sectors: [energy]}: time from
#     the publish request to the last delivered_at.
# nginx logs every request (webhook-id, signature kinds, connection): the
# script checks that each delivery arrived, signed v1 and v1a, and counts
# duplicates.
#
# Before them, a warm-up: 100 other webhooks get WARMUP (20) advisories, so
# that the deliveries table has a history, as on a running server.
#
# Environment: N1_ORGS (100), N1_ADVISORIES (100), N2 (10000), WARMUP (20),
# PUB_WORKERS (4), SETUP_WORKERS (8), CONCURRENCY, PER_ENDPOINT, TIMEOUT_S
# (tocsind's deliver.concurrency, webhooks.per_endpoint, webhooks.timeout_s;
# empty: tocsind's defaults 64, 4, 10), WRK_THREADS (2), WRK_CONNS (64),
# WRK_DURATION (10), WAIT_S (180), SCENARIOS ("deliveries wrk fanout"),
# PGSS=1 (pg_stat_statements: top statements per scenario), PERF=1
# (perf record -g of tocsind, the cluster's PostgreSQL processes and nginx
# during the scenarios; a summary per command and symbol), BENCH_WORK
# (/tmp/tocsin-bench-webhooks), BENCH_PORT_BASE (23400; the next free
# ports from there are taken), TOCSIND, BENCH_BUILD.
set -eu

# The command as given, with the settings that came from the environment.
cmdline="bash bench/webhooks/run.sh${1:+ $1}"
for v in GIT_REV TOCSIND N1_ORGS N1_ADVISORIES N2 WARMUP PUB_WORKERS \
    SETUP_WORKERS CONCURRENCY PER_ENDPOINT TIMEOUT_S WRK_THREADS WRK_CONNS \
    WRK_DURATION WAIT_S SCENARIOS PGSS PERF; do
	eval "val=\${$v:-}"
	[ -z "$val" ] || cmdline="$v=\"$val\" $cmdline"
done

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ge 1 ]; then
	top=$(cd "$1" && pwd) || exit 1
else
	top=$(cd "$here/../.." && pwd)
fi
BENCH_NAME=webhooks
BENCH_BUILD=${BENCH_BUILD:-/tmp/tocsin-whbench}
GIT_REV=${GIT_REV:-}
. "$here/../lib.sh"
source_desc=$top
if [ -n "${TOCSIND:-}" ]; then
	source_desc="none built: TOCSIND=$TOCSIND"
else
	# A fresh copy each run: bench/lib.sh copies with cp -u, which would
	# keep newer files of another tree in the build directory.
	case $BENCH_BUILD in
	/|"$HOME"|"$top") die "BENCH_BUILD=$BENCH_BUILD: not a scratch directory" ;;
	esac
	rm -rf "$BENCH_BUILD"
	mkdir -p "$BENCH_BUILD"
	if [ -n "$GIT_REV" ]; then
		rev=$(git -C "$top" rev-parse --short "$GIT_REV") ||
		    die "GIT_REV=$GIT_REV: no such commit in $top"
		mkdir -p "$BENCH_BUILD/rev"
		git -C "$top" archive "$rev" | tar -x -C "$BENCH_BUILD/rev" ||
		    die "git archive $rev failed"
		top=$BENCH_BUILD/rev
		source_desc="$source_desc at commit $rev"
	elif rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null); then
		source_desc="$source_desc (working tree; HEAD $rev)"
	fi
fi

N1_ORGS=${N1_ORGS:-100}
N1_ADVISORIES=${N1_ADVISORIES:-100}
N2=${N2:-10000}
PUB_WORKERS=${PUB_WORKERS:-4}
SETUP_WORKERS=${SETUP_WORKERS:-8}
CONCURRENCY=${CONCURRENCY:-}
PER_ENDPOINT=${PER_ENDPOINT:-}
TIMEOUT_S=${TIMEOUT_S:-}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-10}
WAIT_S=${WAIT_S:-180}
SCENARIOS=${SCENARIOS:-"deliveries wrk fanout"}
WARMUP=${WARMUP:-20}
PGSS=${PGSS:-0}
PERF=${PERF:-0}
WORK=${BENCH_WORK:-/tmp/tocsin-bench-webhooks}
base=${BENCH_PORT_BASE:-23400}
PORT_PG=$(free_port $((base + 32)))
PORT_HTTP=$(free_port $((base + 80)))
PORT_WS=$(free_port $((PORT_HTTP + 1)))
PORT_SINK=$(free_port $((base + 90)))
ADVISORY=$top/bench/publish/advisory.json
[ -f "$ADVISORY" ] || ADVISORY=$here/../publish/advisory.json
wh() { "$PY" "$here/wh.py" "$@"; }
SINK=http://127.0.0.1:$PORT_SINK

# Sockets to the sink, PostgreSQL and the clients: raise the soft
# open-files limit to the hard one.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 4096 ] || die "open-files limit $(ulimit -n) is too low"

command -v wrk >/dev/null || die "wrk missing: sh bench/setup.sh"
command -v nginx >/dev/null || die "nginx missing: sh bench/setup.sh"
[ "$PERF" = 0 ] || command -v perf >/dev/null ||
    die "PERF=1 needs perf (linux-perf)"

build_tocsind
if [ -z "${TOCSIN_SCHEMA_DIR:-}" ] && [ -d "$(dirname "$TOCSIND")/schema" ]; then
	TOCSIN_SCHEMA_DIR=$(cd "$(dirname "$TOCSIND")/schema" && pwd)
	export TOCSIN_SCHEMA_DIR
fi

NGINX_PID=
PERF_PID=
cleanup() {
	[ -z "$PERF_PID" ] || kill -INT "$PERF_PID" 2>/dev/null || true
	tocsind_stop
	if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
		kill -QUIT "$NGINX_PID"
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -d "$WORK/pg" ]; then
	sh "$top/deploy/pg-cluster.sh" stop "$WORK/pg" || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/nginx" "$WORK/tocsind/keys" "$WORK/capture"
chmod 700 "$WORK/tocsind/keys"
R=$WORK/results.txt
: >"$R"
out() { printf '%s\n' "$*" | tee -a "$R"; }
loadavg() { cut -d ' ' -f 1-3 /proc/loadavg; }
now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a - b}'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a / b}'; }
# CPU seconds (user + system) of the processes given, as of now.
cpu_s() {
	for p in "$@"; do
		awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0
	done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%.2f", s / hz}'
}
pg_pids() {
	pm=$(head -n 1 "$PGDIR/data/postmaster.pid")
	echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
nginx_pids() { echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; }

# ---------------------------------------------------------------- nginx
cat >"$WORK/nginx/nginx.conf" <<EOF
# Written by bench/webhooks/run.sh: a sink answering 204 to everything.
worker_processes auto;
worker_rlimit_nofile $(ulimit -Hn);
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 8192; }
http {
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_max_body_size 1m;
  # Which Standard Webhooks signatures came (v1 HMAC, v1a Ed25519).
  map \$http_webhook_signature \$sigs {
    "~(^| )v1,.*(^| )v1a,|(^| )v1a,.*(^| )v1," "v1+v1a";
    "~(^| )v1a,"  "v1a";
    "~(^| )v1,"   "v1";
    default       "none";
  }
  log_format sink '\$msec \$uri \$status \$content_length \$connection '
                  '\$http_webhook_id \$sigs';
  access_log $WORK/nginx/access.log sink buffer=1m flush=1s;
  server {
    listen 127.0.0.1:$PORT_SINK backlog=4096;
    location / { return 204; }
  }
}
EOF
nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
    >"$WORK/nginx/out.log" 2>&1 &
NGINX_PID=$!
n=0
until curl -fsS -o /dev/null -X POST "$SINK/ready" 2>/dev/null; do
	kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx/out.log" \
	    "$WORK/nginx/error.log" >&2; die "nginx did not start"; }
	n=$((n + 1))
	[ "$n" -lt 50 ] || die "nginx not answering after 10 s"
	sleep 0.2
done

# ----------------------------------------------------------- PostgreSQL
pg_start "$WORK/pg" "$PORT_PG" >/dev/null
if [ "$PGSS" != 0 ]; then
	psql_ -d postgres -c \
	    "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
	pg_stop
	pg_start "$WORK/pg" "$PORT_PG" >/dev/null
fi
psql_ -d postgres -c "CREATE DATABASE tocsin_bench" ||
    die "cannot create database tocsin_bench"
[ "$PGSS" = 0 ] ||
    psql_ -d tocsin_bench -c "CREATE EXTENSION pg_stat_statements"

# -------------------------------------------------------------- tocsind
TOCSIN_HTTP=http://127.0.0.1:$PORT_HTTP
d=$WORK/tocsind
{
	cat <<EOF
# Written by bench/webhooks/run.sh.
listen:
  http: "127.0.0.1:$PORT_HTTP"
  ws: "127.0.0.1:$PORT_WS"
database: "host=127.0.0.1 port=$PGPORT user=postgres dbname=tocsin_bench"
public_url: "$TOCSIN_HTTP"
advisory_id_prefix: "BENCH"
templates: "$top/templates"
key_file: "$d/keys/server.key"
log:
  level: warn
webhooks:
  allow_private_networks: true
  signing_key: "$d/keys/webhook-ed25519.pem"
EOF
	[ -z "$PER_ENDPOINT" ] || echo "  per_endpoint: $PER_ENDPOINT"
	[ -z "$TIMEOUT_S" ] || echo "  timeout_s: $TIMEOUT_S"
	[ -z "$CONCURRENCY" ] || printf 'deliver:\n  concurrency: %s\n' \
	    "$CONCURRENCY"
} >"$d/tocsind.yaml"
"$TOCSIND" -c "$d/tocsind.yaml" check-config >"$d/check.log" 2>&1 ||
    { cat "$d/check.log" >&2; die "tocsind refuses the configuration"; }
# The set-up makes 20,000 REST requests with one token from one address:
# no rate limit (limits.rate_per_*: 0), where this tocsind has them.
cp "$d/tocsind.yaml" "$d/probe.yaml"
printf 'limits:\n  rate_per_token: 0\n  rate_per_address: 0\n' >>"$d/probe.yaml"
if "$TOCSIND" -c "$d/probe.yaml" check-config >/dev/null 2>&1; then
	mv "$d/probe.yaml" "$d/tocsind.yaml"
else
	rm -f "$d/probe.yaml"
fi
"$TOCSIND" -c "$d/tocsind.yaml" migrate >"$d/migrate.log" 2>&1 ||
    { cat "$d/migrate.log" >&2; die "migrate failed"; }
ADMIN_TOKEN=$("$TOCSIND" -c "$d/tocsind.yaml" bootstrap-admin admin |
    tail -n 1) || die "bootstrap-admin failed"
"$TOCSIND" -c "$d/tocsind.yaml" 2>"$d/tocsind.log" &
TOCSIND_PID=$!
n=0
until curl -fsS -o /dev/null "$TOCSIN_HTTP/healthz" 2>/dev/null; do
	kill -0 "$TOCSIND_PID" 2>/dev/null ||
	    { tail "$d/tocsind.log" >&2; die "tocsind exited"; }
	n=$((n + 1))
	[ "$n" -lt 150 ] || die "tocsind not ready after 30 s"
	sleep 0.2
done
uid=$(api POST /v1/users "$ADMIN_TOKEN" -d '{"name": "Bench publisher",
    "email": "pub@bench.invalid", "role": "publisher",
    "language": "en"}' | jfield id)
PUB_TOKEN=$(api POST /v1/tokens "$ADMIN_TOKEN" \
    -d "{\"user_id\": $uid}" | jfield token)

eff_conc=${CONCURRENCY:-64}
eff_per=${PER_ENDPOINT:-4}
eff_to=${TIMEOUT_S:-10}
out "== Webhooks ($(date -u +%Y-%m-%dT%H:%MZ)) =="
out "machine:  $(machine)"
out "software: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk" \
    "$(dpkg-query -W -f='${Version}' wrk 2>/dev/null)," \
    "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')," \
    "libcurl $(curl --version | awk 'NR == 1 {print $2}')"
out "source:   $source_desc"
out "tocsind:  $TOCSIND (deliver.concurrency $eff_conc," \
    "webhooks.per_endpoint $eff_per, timeout_s $eff_to)"

# ------------------------------------------------------------- capture
wh capture "$TOCSIN_HTTP" "$ADMIN_TOKEN" "$PUB_TOKEN" research \
    "$ADVISORY" "$WORK/capture" || die "capture failed"
v=$(wh verify "$WORK/capture") ||
    die "the captured delivery does not verify: $v"
out "$v"
BODY_BYTES=$(wc -c <"$WORK/capture/body")

# Requests of one scenario in the nginx log (URI prefix $1): total,
# distinct webhook-ids, duplicates, without both signatures, non-204,
# distinct connections, mean body bytes.
sink_stats() {
	sleep 1.5	# the access log is flushed every second
	awk -v p="$1" 'index($2, p) == 1 {
		n++; if (seen[$6]++) dup++; if ($7 != "v1+v1a") unsigned++
		if ($3 != 204) bad++; conn[$5] = 1; bytes += $4
	} END {
		for (i in seen) ids++; for (c in conn) conns++
		printf "requests=%d ids=%d duplicates=%d unsigned=%d " \
		    "non204=%d connections=%d body_bytes=%.0f\n", n, ids,
		    dup, unsigned, bad, conns, n ? bytes / n : 0
	}' "$WORK/nginx/access.log"
}

# wait_delivered: until no delivery is pending or being sent (the
# publishing transactions have committed: every row is there; nothing else
# is queued), at most WAIT_S seconds. The query can walk the two small
# partial indexes (pending, sending), so polling costs little.
wait_delivered() {
	t_end=$(( $(date +%s) + WAIT_S ))
	while :; do
		left=$(psql_ -d tocsin_bench -c "SELECT count(*) FROM deliveries
		    WHERE state = 'pending' OR state = 'sending'")
		[ "$left" -gt 0 ] || break
		if [ "$(date +%s)" -ge "$t_end" ]; then
			say "gave up after ${WAIT_S}s: $left deliveries not done"
			break
		fi
		sleep 0.2
	done
}

# scenario_stats EVMIN EVMAX: one line of facts from the deliveries table.
scenario_stats() {
	psql_ -d tocsin_bench -F ' ' -c "SELECT
	    'rows=' || count(*), 'delivered=' || count(*) FILTER (WHERE
	    d.state = 'delivered'), 'attempts=' || sum(d.attempts),
	    'last_delivered=' || coalesce(extract(epoch FROM
	    max(d.delivered_at)), 0), 'first_delivered=' || coalesce(extract(
	    epoch FROM min(d.delivered_at)), 0), 'first_sent=' || coalesce((
	    SELECT extract(epoch FROM min(a.started_at)) FROM
	    delivery_attempts a JOIN deliveries x ON x.id = a.delivery_id
	    WHERE x.event_id BETWEEN $1 AND $2), 0)
	    FROM deliveries d WHERE d.event_id BETWEEN $1 AND $2"
}

profile_start() {
	if [ "$PGSS" != 0 ]; then
		psql_ -d tocsin_bench -c "SELECT pg_stat_statements_reset()" \
		    >/dev/null
	fi
	if [ "$PERF" != 0 ]; then
		# tocsind, this cluster's PostgreSQL processes and nginx
		# only: other work on the machine stays out of the profile.
		perf record -g -F 999 -o "$WORK/perf.$1.data" \
		    -p "$(echo "$TOCSIND_PID" $(pg_pids) $(nginx_pids) |
		    tr -s ' ' ',' | sed 's/,$//')" >"$WORK/perf.$1.log" 2>&1 &
		PERF_PID=$!
		sleep 1
	fi
}

profile_stop() {
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID" 2>/dev/null || true
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=
		perf report -i "$WORK/perf.$1.data" --no-children \
		    --sort comm,dso,sym --stdio -g none --percent-limit 0.7 \
		    2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 45 \
		    >"$WORK/perf.$1.txt" || true
		perf report -i "$WORK/perf.$1.data" --no-children \
		    --sort comm --stdio -g none 2>/dev/null | grep -v '^#' |
		    grep -v '^$' | head -n 12 >"$WORK/perf.$1.comm.txt" ||
		    true
		out "perf, $1 (tocsind, PostgreSQL, nginx; share of samples by command):"
		sed 's/^/    /' "$WORK/perf.$1.comm.txt" | tee -a "$R"
		out "    (symbols: $WORK/perf.$1.txt)"
	fi
	if [ "$PGSS" != 0 ]; then
		out "pg_stat_statements, $1 (top 8 by total time):"
		psql_ -d tocsin_bench -F ' | ' -c "SELECT
		    round(total_exec_time)::int || ' ms', calls,
		    round(mean_exec_time::numeric, 3) || ' ms/call (max ' ||
		    round(max_exec_time::numeric, 1) || ')',
		    regexp_replace(left(query, 110), '\s+', ' ', 'g')
		    FROM pg_stat_statements ORDER BY total_exec_time DESC
		    LIMIT 8" | sed 's/^/    /' | tee -a "$R"
	fi
}

# Sequential scans of deliveries so far and rows they read (PostgreSQL's
# statistics: a claim or a foreign-key check should never need one).
seqscans() {
	psql_ -d tocsin_bench -F ' ' -c "SELECT seq_scan, seq_tup_read FROM
	    pg_stat_user_tables WHERE relname = 'deliveries'"
}

last_event() {
	psql_ -d tocsin_bench -c "SELECT coalesce(max(event_id), 0) FROM events"
}

# -------------------------------------------------------------- warm-up
# A deliveries table with some history, as a running server has: on an
# empty one, plans cached by tocsind's long-lived connections may keep a
# sequential scan of deliveries while it grows (see bench/README).
# WARMUP=0 skips this and measures a fresh database.
if [ "$WARMUP" -gt 0 ]; then
	wh orgs "$TOCSIN_HTTP" "$ADMIN_TOKEN" "$SINK/warm" 100 banking \
	    "$SETUP_WORKERS" "$WORK/orgs0" || die "warm-up setup failed"
	pubout=$(wh publish "$TOCSIN_HTTP" "$PUB_TOKEN" "$WARMUP" banking \
	    "$ADVISORY" "$PUB_WORKERS") || die "warm-up publishing failed"
	eval "$pubout"
	wait_delivered
	out "warm-up: $((WARMUP * 100)) deliveries ($WARMUP advisories x 100" \
	    "webhooks) before the measured scenarios"
else
	out "warm-up: none (WARMUP=0): a fresh deliveries table"
fi

# ------------------------------------------------- 1. 10,000 deliveries
if printf '%s\n' $SCENARIOS | grep -qx deliveries; then
	expect=$((N1_ORGS * N1_ADVISORIES))
	ts=$(now)
	wh orgs "$TOCSIN_HTTP" "$ADMIN_TOKEN" "$SINK/s1" "$N1_ORGS" health \
	    "$SETUP_WORKERS" "$WORK/orgs1" || die "setup of scenario 1 failed"
	say "scenario 1: $N1_ORGS organisations with a webhook in" \
	    "$(fsub "$(now)" "$ts") s"
	psql_ -d tocsin_bench -c "VACUUM ANALYZE" >/dev/null
	psql_ -d tocsin_bench -c CHECKPOINT >/dev/null
	load=$(loadavg)
	profile_start deliveries
	read -r sq0 sr0 <<<"$(seqscans)"
	c0=$(cpu_s "$TOCSIND_PID"); p0=$(cpu_s $(pg_pids)); g0=$(cpu_s $(nginx_pids))
	pubout=$(wh publish "$TOCSIN_HTTP" "$PUB_TOKEN" "$N1_ADVISORIES" \
	    health "$ADVISORY" "$PUB_WORKERS") || die "publishing failed"
	eval "$pubout"
	wait_delivered
	c1=$(cpu_s "$TOCSIND_PID"); p1=$(cpu_s $(pg_pids)); g1=$(cpu_s $(nginx_pids))
	sleep 1	# statistics reach the shared counters within a second
	read -r sq1 sr1 <<<"$(seqscans)"
	profile_stop deliveries
	eval "$(scenario_stats "$event_min" "$event_max")"
	sink1=$(sink_stats /s1/)
	secs=$(fsub "$last_delivered" "$t0")
	rate1=$(fdiv "$delivered" "$secs")
	send_secs=$(fsub "$last_delivered" "$first_sent")
	out ""
	out "-- 1. deliveries: $N1_ORGS organisations x 1 webhook, $N1_ADVISORIES" \
	    "advisories to all of them (load average before: $load)"
	out "planned $rows (expected $expect), delivered $delivered," \
	    "attempts $attempts"
	out "publishing: $created advisories in $(fsub "$t1" "$t0") s" \
	    "($PUB_WORKERS clients)"
	out "first publish request -> last delivered_at: $secs s" \
	    "=> $rate1 deliveries/s"
	out "  (first request sent after $(fsub "$first_sent" "$t0") s;" \
	    "first sent -> last delivered: $send_secs s," \
	    "$(fdiv "$delivered" "$send_secs")/s)"
	out "CPU s: tocsind $(fsub "$c1" "$c0"), PostgreSQL $(fsub "$p1" "$p0")," \
	    "nginx $(fsub "$g1" "$g0")"
	out "sink: $sink1"
	out "sequential scans of deliveries: $((sq1 - sq0)), reading" \
	    "$((sr1 - sr0)) rows"
	[ "$delivered" -eq "$expect" ] ||
	    out "NOT COMPLETE: $delivered of $expect delivered"
fi

# -------------------------------------------------------------- 2. wrk
if printf '%s\n' $SCENARIOS | grep -qx wrk; then
	wh wrklua "$WORK/capture" "$WORK/replay.lua"
	load=$(loadavg)
	g0=$(cpu_s $(nginx_pids))
	wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_DURATION}s" \
	    -s "$WORK/replay.lua" "$SINK/wrk/00000" >"$WORK/wrk.out" \
	    2>"$WORK/wrk.err" || { cat "$WORK/wrk.err" >&2; die "wrk failed"; }
	g1=$(cpu_s $(nginx_pids))
	line=$(grep '^WRK ' "$WORK/wrk.out") ||
	    { cat "$WORK/wrk.out" "$WORK/wrk.err" >&2; die "no result from wrk"; }
	eval "$(printf '%s\n' "$line" | tr ' ' '\n' | grep '=' | sed 's/^/w_/')"
	wrk_rate=$(awk -v c="$w_ok" -v d="$w_duration_us" \
	    'BEGIN {printf "%.0f", c / (d / 1e6)}')
	out ""
	out "-- 2. wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s, the" \
	    "captured request ($BODY_BYTES-byte body, same headers), same" \
	    "nginx (load average before: $load)"
	out "wrk: $wrk_rate requests/s ($w_ok 2xx, $w_bad other," \
	    "$w_errors errors; p50 $((w_p50_us / 1000)).$(( (w_p50_us % 1000) / 100 )) ms," \
	    "p99 $((w_p99_us / 1000)).$(( (w_p99_us % 1000) / 100 )) ms); nginx CPU" \
	    "$(fsub "$g1" "$g0") s"
	if [ -n "${rate1:-}" ]; then
		out "ratio: tocsind / wrk = $(awk -v a="$rate1" -v b="$wrk_rate" \
		    'BEGIN {printf "%.3f", a / b}')" \
		    "(aim: >= 2,000 deliveries/s: $([ "$rate1" -ge 2000 ] &&
		    echo met || echo "NOT met, $(awk -v a="$rate1" \
		    'BEGIN {printf "%.0f%%", 100 * a / 2000}') of it"))"
	fi
fi

# ------------------------------------------------------------ 3. fan-out
if printf '%s\n' $SCENARIOS | grep -qx fanout; then
	ts=$(now)
	wh orgs "$TOCSIN_HTTP" "$ADMIN_TOKEN" "$SINK/s2" "$N2" energy \
	    "$SETUP_WORKERS" "$WORK/orgs2" || die "setup of scenario 3 failed"
	setup_s=$(fsub "$(now)" "$ts")
	psql_ -d tocsin_bench -c "VACUUM ANALYZE" >/dev/null
	psql_ -d tocsin_bench -c CHECKPOINT >/dev/null
	load=$(loadavg)
	profile_start fanout
	read -r sq0 sr0 <<<"$(seqscans)"
	c0=$(cpu_s "$TOCSIND_PID"); p0=$(cpu_s $(pg_pids)); g0=$(cpu_s $(nginx_pids))
	pubout=$(wh publish "$TOCSIN_HTTP" "$PUB_TOKEN" 1 energy \
	    "$ADVISORY" 1) || die "publishing failed"
	eval "$pubout"
	wait_delivered
	c1=$(cpu_s "$TOCSIND_PID"); p1=$(cpu_s $(pg_pids)); g1=$(cpu_s $(nginx_pids))
	sleep 1	# statistics reach the shared counters within a second
	read -r sq1 sr1 <<<"$(seqscans)"
	profile_stop fanout
	eval "$(scenario_stats "$event_min" "$event_max")"
	sink2=$(sink_stats /s2/)
	secs=$(fsub "$last_delivered" "$t0")
	out ""
	out "-- 3. fan-out: one advisory to $N2 organisations' webhooks" \
	    "(load average before: $load)"
	out "setup (not counted): $N2 organisations + $N2 webhooks through" \
	    "the REST API, $SETUP_WORKERS clients: $setup_s s"
	out "planned $rows (expected $N2), delivered $delivered," \
	    "attempts $attempts"
	out "publish request (plans $rows rows in its transaction):" \
	    "$(fsub "$t1" "$t0") s; first request sent after" \
	    "$(fsub "$first_sent" "$t0") s"
	out "publish request -> last delivered_at: $secs s" \
	    "=> $(fdiv "$delivered" "$secs") deliveries/s" \
	    "(aim: < 10 s: $(awk -v s="$secs" -v ok="$([ "$delivered" -eq "$N2" ] &&
	    echo 1 || echo 0)" 'BEGIN {print (ok && s < 10) ? "met" : "NOT met"}'))"
	out "CPU s: tocsind $(fsub "$c1" "$c0"), PostgreSQL $(fsub "$p1" "$p0")," \
	    "nginx $(fsub "$g1" "$g0")"
	out "sink: $sink2"
	out "sequential scans of deliveries: $((sq1 - sq0)), reading" \
	    "$((sr1 - sr0)) rows"
	[ "$delivered" -eq "$N2" ] ||
	    out "NOT COMPLETE: $delivered of $N2 delivered"
fi

kill -0 "$TOCSIND_PID" 2>/dev/null ||
    out "tocsind DIED during the run; see $d/tocsind.log"
if grep -v '^$' "$d/tocsind.log" | grep -qv 'deliver: webhook worker running'; then
	out "tocsind log (first lines of $d/tocsind.log):"
	grep -v 'webhook worker running' "$d/tocsind.log" | head -n 5 |
	    sed 's/^/    /' | tee -a "$R"
fi
out ""
out "command: $cmdline   (results in $R)"
