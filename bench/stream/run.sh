#!/bin/bash
# bench/stream/run.sh: WebSocket fan-out of tocsind against mosquitto (MQTT
# over WebSocket, QoS 0) and nginx + nchan (websocket subscribers), the
# three measured in the same run with the same load generator.
#
#	bash bench/stream/run.sh	(run bench/setup.sh once first)
#
# For each server, on 127.0.0.1 only, with the subscribers spread over two
# wsbench processes (bench/stream/wsbench.c, libwebsockets):
#   (c) RSS before and after opening N_BIG idle subscribers: growth per
#       connection (tocsind and mosquitto: VmRSS of the process; nginx: Pss
#       of master and workers, so shared memory counts once);
#   (a) fan-out: N_BIG (10,000) then N_SMALL (1,000) subscribers, COUNT (10)
#       messages one second apart; latency from the publish request
#       (pubbench stamps CLOCK_REALTIME into the message just before sending
#       it) to each receipt: p50, p99, max;
#   (b) burst: N_SMALL subscribers, BURST (200) messages at 1,000/s:
#       deliveries/s = deliveries / (last receipt - first publish).
# tocsind gets advisories (POST /v1/advisories, TLP:CLEAR, every subscriber
# a member with a "ws" subscription, filter {}); the peers get documents of
# the size tocsind's stream messages had in the same run.
#
# Environment: N_BIG, N_SMALL, COUNT, BURST, ROUNDS (every scenario runs
# ROUNDS times, default 3, servers taking turns; the table gives medians),
# BENCH_USERS (distinct members
# the tocsind connections are spread over, default 100), SERVERS (default
# "tocsind mosquitto nchan"), TOCSIND (a binary instead of building one),
# PERF=1 (perf record of the servers while publishing, in the results;
# PERF=all: of the whole machine; PERF=stat: counts of syscalls),
# PERF_FREQ (samples a second for PERF=1, default 499), IDLE_S (default
# 0: seconds the N_BIG subscribers stay idle once connected before the
# fan-out starts; 25 puts
# tocsind's 30 s pings inside it, as on a server whose clients stay
# connected),
# BENCH_WORK (default /tmp/tocsin-bench-stream), BENCH_PORT_BASE (22800, below the
# ephemeral range; the next free
# ports from there are taken).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/stream
BENCH_NAME=stream
. "$top/bench/lib.sh"

N_BIG=${N_BIG:-10000}
N_SMALL=${N_SMALL:-1000}
COUNT=${COUNT:-10}
BURST=${BURST:-200}
ROUNDS=${ROUNDS:-3}
IDLE_S=${IDLE_S:-0}
export IDLE_S
BENCH_USERS=${BENCH_USERS:-100}
SERVERS=${SERVERS:-"tocsind mosquitto nchan"}
WORK=${BENCH_WORK:-/tmp/tocsin-bench-stream}
base=${BENCH_PORT_BASE:-22800}
PORT_PG=$(free_port $((base + 32)))
PORT_HTTP=$(free_port $((base + 80)))
PORT_WS=$(free_port $((PORT_HTTP + 1)))
PORT_MQTT_WS=$(free_port $((base + 30)))
PORT_MQTT=$(free_port $((PORT_MQTT_WS + 1)))
PORT_NCHAN=$(free_port $((base + 40)))

# One descriptor per connection: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((N_BIG / 2 + 200)) ] ||
    die "open-files limit $(ulimit -n) is too low for $N_BIG subscribers"

make -C "$here" >/dev/null || die "cannot build wsbench/pubbench"
WSBENCH=$here/wsbench
PUBBENCH=$here/pubbench

SERVER_PIDS=""
SUB_PIDS=""
cleanup() {
	for p in $SUB_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	tocsind_stop
	for p in $SERVER_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $SERVER_PIDS; do wait "$p" 2>/dev/null || true; done
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$WORK"
mkdir -p "$WORK/results"
chmod 755 "$WORK"
R=$WORK/results
machine >"$R/machine"
say "machine: $(cat "$R/machine")"

cpu_ticks() {
	for p in "$@"; do
		awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0
	done | awk '{s += $1} END {print s + 0}'
}

# run_scenario SERVER NAME N COUNT INTERVAL_US PIDS: subscribers, then
# the publisher, then the results in $R/SERVER-NAME.*; with RSS=1, the
# server's memory before and after the connections are open.
run_scenario() {
	srv=$1 name=$2 n=$3 count=$4 interval=$5 pids=$6
	out=$R/$srv-$name
	half=$((n / 2))
	SUB_PIDS=""
	: >"$out.sub1"
	: >"$out.sub2"
	mem0=$(rss_kb $pids) pss0=$(pss_kb $pids)
	for i in 1 2; do
		k=$half
		[ "$i" -eq 1 ] || k=$((n - half))
		case $srv in
		tocsind) set -- --proto tocsin --port "$PORT_WS" \
		    --tokens "$WORK/member.tokens" ;;
		mosquitto) set -- --proto mqtt --port "$PORT_MQTT_WS" \
		    --topic "bench/$name" ;;
		nchan) set -- --proto nchan --port "$PORT_NCHAN" \
		    --path "/sub/$name" ;;
		esac
		"$WSBENCH" "$@" --conns "$k" --expect "$count" --timeout 600 \
		    --idle 15 --linger --out "$out.lat$i" >"$out.sub$i" 2>"$out.err$i" &
		SUB_PIDS="$SUB_PIDS $!"
	done
	t0=$(date +%s)
	while [ "$(cat "$out.sub1" "$out.sub2" | grep -c '^READY')" -lt 2 ]; do
		for p in $SUB_PIDS; do
			kill -0 "$p" 2>/dev/null ||
			    { cat "$out.err1" "$out.err2" >&2;
			      die "$srv $name: a subscriber process exited"; }
		done
		[ $(($(date +%s) - t0)) -lt 300 ] ||
		    die "$srv $name: subscribers not connected after 300 s"
		sleep 0.2
	done
	t1=$(date +%s)
	sleep 1		# idle: let the server settle before measuring memory
	mem1=$(rss_kb $pids) pss1=$(pss_kb $pids)
	printf 'n=%s connect_s=%s rss0=%s rss1=%s pss0=%s pss1=%s\n' "$n" \
	    $((t1 - t0)) "$mem0" "$mem1" "$pss0" "$pss1" >"$out.mem"
	case $name in
	"a${N_BIG}r"*) [ "$IDLE_S" -eq 0 ] || sleep "$IDLE_S" ;;
	esac
	cpu0=$(cpu_ticks $pids)
	perf_pid=
	if [ -n "${PERF:-}" ]; then
		if [ "$PERF" = all ]; then
			set -- -a
		else
			set -- -p "$(echo $pids | tr ' ' ',')"
		fi
		if [ "$PERF" = stat ]; then
			perf stat -e 'syscalls:sys_enter_poll' \
			    -e 'syscalls:sys_enter_sendto' \
			    -e 'syscalls:sys_enter_write' \
			    -e 'syscalls:sys_enter_read' \
			    -e 'syscalls:sys_enter_recvfrom' \
			    -e task-clock -e context-switches \
			    "$@" -o "$out.perf.stat" >/dev/null 2>&1 &
		else
			perf record -q -F "${PERF_FREQ:-499}" -g "$@" \
			    -o "$out.perf.data" >/dev/null 2>&1 &
		fi
		perf_pid=$!
	fi
	case $srv in
	tocsind) set -- --proto tocsin --url "$TOCSIN_HTTP/v1/advisories" \
	    --token "$PUB_TOKEN" ;;
	mosquitto) set -- --proto mqtt --port "$PORT_MQTT" \
	    --topic "bench/$name" --size "$MSG_SIZE" ;;
	nchan) set -- --proto nchan \
	    --url "http://127.0.0.1:$PORT_NCHAN/pub/$name" --size "$MSG_SIZE" ;;
	esac
	"$PUBBENCH" "$@" --count "$count" --interval-us "$interval" --conc 8 \
	    >"$out.pub" 2>"$out.puberr" ||
	    { cat "$out.puberr" >&2; say "$srv $name: publisher failed"; }
	# Subscribers report once they have everything, or 15 s after the
	# last message; past 60 s more they are told to stop and report. They
	# keep their connections (--linger) until both have reported, so that
	# closing never overlaps delivery; closing is measured on its own.
	t2=$(date +%s)
	while [ "$(cat "$out.sub1" "$out.sub2" | grep -c '^RESULT')" -lt 2 ]; do
		if [ $(($(date +%s) - t2)) -gt 60 ]; then
			for p in $SUB_PIDS; do kill -TERM "$p" 2>/dev/null || true
			done
			break
		fi
		alive=0
		for p in $SUB_PIDS; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ "$alive" -eq 1 ] || break
		sleep 0.1
	done
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	cpu1=$(cpu_ticks $pids)
	for p in $SUB_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $SUB_PIDS; do wait "$p" 2>/dev/null || true; done
	SUB_PIDS=""
	# Let the closed connections drain out of the server.
	sleep 2
	cpu2=$(cpu_ticks $pids)
	hz=$(getconf CLK_TCK)
	echo "cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" \
	    'BEGIN {printf "%.2f", (b - a) / hz}')" \
	    "close_cpu_s=$(awk -v a="$cpu1" -v b="$cpu2" -v hz="$hz" \
	    'BEGIN {printf "%.2f", (b - a) / hz}')" >>"$out.mem"
	say "$srv $name: $(grep -h '^RESULT' "$out.sub1" "$out.sub2" |
	    awk '{for (i = 2; i <= NF; i++) {split($i, kv, "=");
	      if (kv[1] == "msgs") m += kv[2]; if (kv[1] == "failed") f += kv[2]}}
	      END {print m " deliveries, " f " failed connections"}') " \
	    "(expected $((n * count)))"
}

# Start every server first; then each scenario runs against the servers
# one after the other, so that other work on the machine falls on all of
# them alike, and ROUNDS times.
MSG_SIZE=1000
PIDS_tocsind= PIDS_mosquitto= PIDS_nchan=
for srv in $SERVERS; do
	case $srv in
	tocsind)
		build_tocsind
		pg_start "$WORK/pg" "$PORT_PG"
		tocsind_setup "$WORK/tocsind" "$PORT_HTTP" "$PORT_WS"
		say "tocsind: $BENCH_USERS members with a ws subscription"
		org=$(api POST /v1/organisations "$ADMIN_TOKEN" -d '{
		    "name": "Bench Org", "kind": "essential",
		    "sectors": ["energy"],
		    "contact_email": "soc@bench.invalid"}' | jfield id)
		: >"$WORK/member.tokens"
		for u in $(seq "$BENCH_USERS"); do
			uid=$(api POST /v1/users "$ADMIN_TOKEN" -d "{
			    \"organisation_id\": $org, \"name\": \"Member $u\",
			    \"email\": \"m$u@bench.invalid\", \"role\": \"member\",
			    \"language\": \"en\"}" | jfield id)
			tok=$(api POST /v1/tokens "$ADMIN_TOKEN" \
			    -d "{\"user_id\": $uid}" | jfield token)
			api POST /v1/subscriptions "$tok" -d '{"name": "all",
			    "filter": {}, "channels": ["ws"]}' >/dev/null
			printf '%s\n' "$tok" >>"$WORK/member.tokens"
		done
		# Warm-up: one advisory with nobody listening.
		"$PUBBENCH" --proto tocsin --url "$TOCSIN_HTTP/v1/advisories" \
		    --token "$PUB_TOKEN" --count 1 >/dev/null
		PIDS_tocsind=$TOCSIND_PID
		;;
	mosquitto)
		cat >"$WORK/mosquitto.conf" <<EOF
# Written by bench/stream/run.sh.
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
max_connections -1
listener $PORT_MQTT_WS 127.0.0.1
protocol websockets
listener $PORT_MQTT 127.0.0.1
protocol mqtt
EOF
		mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
		pid=$!
		SERVER_PIDS="$SERVER_PIDS $pid"
		sleep 1
		kill -0 "$pid" 2>/dev/null ||
		    { cat "$WORK/mosquitto.log" >&2; die "mosquitto did not start"; }
		say "mosquitto $(mosquitto -h | sed -n 's/^mosquitto version //p')," \
		    "pid $pid"
		PIDS_mosquitto=$pid
		;;
	nchan)
		mkdir -p "$WORK/nginx"
		cat >"$WORK/nginx/nginx.conf" <<EOF
# Written by bench/stream/run.sh: nchan with websocket subscribers.
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes auto;
worker_rlimit_nofile $(ulimit -Hn);
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections $(ulimit -Hn); }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$PORT_NCHAN;
    location ~ ^/pub/(\w+)\$ { nchan_publisher; nchan_channel_id \$1; }
    location ~ ^/sub/(\w+)\$ { nchan_subscriber websocket; nchan_channel_id \$1; }
  }
}
EOF
		nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" \
		    -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/out.log" 2>&1 &
		pid=$!
		SERVER_PIDS="$SERVER_PIDS $pid"
		sleep 1
		kill -0 "$pid" 2>/dev/null ||
		    { cat "$WORK/nginx/out.log" "$WORK/nginx/error.log" >&2;
		      die "nginx did not start"; }
		PIDS_nchan="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
		say "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') + nchan" \
		    "$(dpkg-query -W -f='${Version}' libnginx-mod-nchan)," \
		    "pids $PIDS_nchan"
		;;
	*)
		die "unknown server $srv"
		;;
	esac
done

# each_server NAME N COUNT INTERVAL_US: one scenario on every server.
each_server() {
	for s in $SERVERS; do
		eval "p=\$PIDS_$s"
		# Other work on these 2 cores skews every figure: note it.
		read -r l1 _ </proc/loadavg
		echo "$l1" >"$R/$s-$1.load"
		run_scenario "$s" "$1" "$2" "$3" "$4" "$p"
		[ "$s" = tocsind ] || continue
		kill -0 "$TOCSIND_PID" 2>/dev/null ||
		    die "tocsind DIED during $1: see $WORK/tocsind/tocsind.log"
		[ "$1" = "a${N_BIG}r1" ] || continue
		# The peers get messages of the size tocsind's had.
		MSG_SIZE=$(awk '/^RESULT/ {
		    for (i = 2; i <= NF; i++) {split($i, kv, "=");
		    if (kv[1] == "msgs") m += kv[2];
		    if (kv[1] == "bytes") b += kv[2]}}
		    END {if (m > 0) printf "%d", b / m; else print 1000}' \
		    "$R/tocsind-$1.sub1" "$R/tocsind-$1.sub2")
		[ "$MSG_SIZE" -ge 400 ] || MSG_SIZE=400
		say "tocsind's messages: $MSG_SIZE bytes; the peers get the same"
	done
}

read -r l1 _ </proc/loadavg
case $l1 in
0.[0-4]*) ;;
*) say "warning: load average $l1: other work is running on this" \
    "machine, figures will be noisy" ;;
esac
# Round 1 opens the first connections each server ever had: (c) is
# taken from it.
for r in $(seq "$ROUNDS"); do
	say "round $r of $ROUNDS"
	each_server "a${N_BIG}r$r" "$N_BIG" "$COUNT" 1000000
	each_server "a${N_SMALL}r$r" "$N_SMALL" "$COUNT" 1000000
	each_server "burstr$r" "$N_SMALL" "$BURST" 1000
done

tocsind_stop
pg_stop
for p in $SERVER_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
for p in $SERVER_PIDS; do wait "$p" 2>/dev/null || true; done
SERVER_PIDS=""

"$PY" "$here/report.py" "$R" "$N_BIG" "$N_SMALL" "$COUNT" "$BURST" \
    "$SERVERS" "$ROUNDS" | tee "$R/report.txt"
