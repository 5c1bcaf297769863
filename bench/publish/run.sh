#!/bin/sh
# bench/publish/run.sh: tocsind's publish throughput against pgbench, on the
# same PostgreSQL cluster, in the same run.
#
#	sh bench/publish/run.sh		(run bench/setup.sh once first)
#
# 1. tocsind (optimised build, no sanitizers) on a private cluster: wrk with
#    8 connections (2 threads) posts bench/publish/advisory.json to
#    POST /v1/advisories for DURATION seconds; one advisory per request,
#    one transaction each; only 201 answers count.
# 2. pgbench -c 8 -j 2 -T DURATION -M extended on the same cluster and
#    database: one INSERT per transaction of a row holding, as jsonb, the
#    very bytes of a stored advisory (its GET /v1/advisories/{id}) plus a
#    few columns (id, title, tlp, severity, created_at).
# ROUNDS times (default 3), alternating; prints each round's rates, the
# medians and tocsind/pgbench. Everything is on 127.0.0.1; the
# cluster lives in $BENCH_WORK (default /tmp/tocsin-bench-publish) and is
# stopped at the end. Environment: DURATION (s, default 20), ROUNDS, TOCSIND (use
# this binary instead of building one), BENCH_PGPORT, BENCH_HTTP_PORT (the
# first ports tried; the next free ones are taken).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/publish
BENCH_NAME=publish
. "$top/bench/lib.sh"

DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-3}
CLIENTS=8
THREADS=2
WORK=${BENCH_WORK:-/tmp/tocsin-bench-publish}
PORT_PG=$(free_port "${BENCH_PGPORT:-21432}")
PORT_HTTP=$(free_port "${BENCH_HTTP_PORT:-21080}")
PORT_WS=$(free_port $((PORT_HTTP + 1)))
PGBENCH=$PGBIN/pgbench

command -v wrk >/dev/null || die "wrk missing: sh bench/setup.sh"
[ -x "$PGBENCH" ] || die "pgbench missing: sh bench/setup.sh"

build_tocsind

cleanup() {
	tocsind_stop
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh cluster each run, so both sides start from the same state.
if [ -d "$WORK/pg" ]; then
	sh "$top/deploy/pg-cluster.sh" stop "$WORK/pg" || true
fi
rm -rf "$WORK"
mkdir -p "$WORK"
pg_start "$WORK/pg" "$PORT_PG"
tocsind_setup "$WORK/tocsind" "$PORT_HTTP" "$PORT_WS"

# One advisory first: it warms up, and its stored form sizes pgbench's rows.
id=$(api POST /v1/advisories "$PUB_TOKEN" --data @"$here/advisory.json" |
    jfield id)
api GET "/v1/advisories/$id" "$PUB_TOKEN" >"$WORK/stored.json"
doc=$("$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin),
    separators=(",", ":"), ensure_ascii=False))' <"$WORK/stored.json")
docbytes=$(printf '%s' "$doc" | wc -c)
reqbytes=$(wc -c <"$here/advisory.json")

say "machine: $(machine)"
read -r load0 _ </proc/loadavg
case $load0 in
0.[0-4]*) ;;
*) say "warning: load average $load0: other work is running on this" \
    "machine, figures will be noisy" ;;
esac
psql_ -d tocsin_bench <<'EOF'
CREATE TABLE bench_rows (
	id		bigserial PRIMARY KEY,
	title		text NOT NULL,
	tlp		text NOT NULL,
	severity	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	doc		jsonb NOT NULL
);
EOF
cat >"$WORK/insert.sql" <<'EOF'
INSERT INTO bench_rows (title, tlp, severity, doc) VALUES (:title, :tlp, :severity, CAST(:doc AS jsonb));
EOF
title=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["title"])' \
    <"$WORK/stored.json")

say "$ROUNDS rounds of: tocsind (wrk -t$THREADS -c$CLIENTS -d${DURATION}s," \
    "$reqbytes-byte advisory), then pgbench (-c $CLIENTS -j $THREADS" \
    "-T $DURATION -M extended, $docbytes-byte jsonb rows)"
: >"$WORK/rounds"
for r in $(seq "$ROUNDS"); do
	read -r load _ </proc/loadavg
	psql_ -d tocsin_bench -c CHECKPOINT
	cpu0=$(awk '{print $14 + $15}' "/proc/$TOCSIND_PID/stat")
	ADVISORY_FILE=$here/advisory.json TOCSIN_TOKEN=$PUB_TOKEN \
	    wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" \
	    -s "$here/publish.lua" "$TOCSIN_HTTP/v1/advisories" \
	    >"$WORK/wrk.out" 2>"$WORK/wrk.err" ||
	    { cat "$WORK/wrk.err" >&2; die "wrk failed"; }
	cpu1=$(awk '{print $14 + $15}' "/proc/$TOCSIND_PID/stat")
	kill -0 "$TOCSIND_PID" 2>/dev/null ||
	    die "tocsind died during the run; see $WORK/tocsind/tocsind.log"
	line=$(grep '^WRK ' "$WORK/wrk.out") ||
	    { cat "$WORK/wrk.out" "$WORK/wrk.err" >&2; die "no result from wrk"; }
	head -n 3 "$WORK/wrk.err" >&2 || true
	eval "$(printf '%s\n' "$line" | tr ' ' '\n' | grep '=' | sed 's/^/w_/')"
	t_rate=$(awk -v c="$w_created" -v d="$w_duration_us" \
	    'BEGIN {printf "%.1f", c / (d / 1e6)}')
	t_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v d="$w_duration_us" \
	    -v hz="$(getconf CLK_TCK)" \
	    'BEGIN {printf "%.0f", (b - a) / hz / (d / 1e6) * 100}')

	psql_ -d tocsin_bench -c CHECKPOINT
	"$PGBENCH" -n -h 127.0.0.1 -p "$PGPORT" -U postgres -M extended \
	    -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -f "$WORK/insert.sql" \
	    -D title="$title" -D tlp=CLEAR -D severity=high -D doc="$doc" \
	    tocsin_bench >"$WORK/pgbench.out" 2>&1 ||
	    { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
	p_rate=$(sed -n \
	    's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' \
	    "$WORK/pgbench.out")
	[ -n "$p_rate" ] ||
	    { cat "$WORK/pgbench.out" >&2; die "no tps from pgbench"; }
	p_rate=$(awk -v v="$p_rate" 'BEGIN {printf "%.1f", v}')
	ratio=$(awk -v a="$t_rate" -v b="$p_rate" \
	    'BEGIN {printf "%.1f", 100 * a / b}')
	printf '%s %s %s %s %s %s %s %s %s\n' "$r" "$t_rate" "$p_rate" \
	    "$ratio" "$w_refused" "$w_errors" $((w_p50_us / 1000)) \
	    $((w_p99_us / 1000)) "$t_cpu $load" >>"$WORK/rounds"
	say "round $r: tocsind $t_rate/s, pgbench $p_rate/s, $ratio %" \
	    "(load average before: $load)"
done
tocsind_stop
pg_size=$(psql_ -d tocsin_bench -c \
    "SELECT round(avg(pg_column_size(doc))) FROM bench_rows")

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
t_med=$(awk '{print $2}' "$WORK/rounds" | median)
p_med=$(awk '{print $3}' "$WORK/rounds" | median)
r_med=$(awk '{print $4}' "$WORK/rounds" | median)
{
	echo
	echo "== Publish throughput ($(date -u +%Y-%m-%dT%H:%MZ)) =="
	echo "machine: $(machine)"
	echo "command: DURATION=$DURATION ROUNDS=$ROUNDS sh bench/publish/run.sh"
	echo "advisory: $reqbytes bytes posted, stored as $docbytes bytes of" \
	    "JSON; pgbench rows carry the same $docbytes bytes (jsonb" \
	    "$pg_size bytes)"
	echo
	printf '%-6s %14s %14s %8s %9s %12s %10s %8s\n' round "tocsind adv/s" \
	    "pgbench ins/s" ratio refused "p50/p99 ms" "tocsind %" load
	while read -r r t p ra ref err p50 p99 cpu load; do
		printf '%-6s %14s %14s %7s%% %9s %12s %9s%% %8s\n' "$r" "$t" \
		    "$p" "$ra" "$((ref + err))" "$p50/$p99" "$cpu" "$load"
	done <"$WORK/rounds"
	printf '%-6s %14s %14s %7s%%\n' median "$t_med" "$p_med" "$r_med"
	echo
	echo "ratio tocsind / pgbench (median of the per-round ratios):" \
	    "$r_med %  (aim: >= 50 %)"
	echo "(refused: non-201 answers and socket errors; tocsind %: CPU of" \
	    "tocsind, % of one core; load: load average before the round)"
} | tee "$WORK/report.txt"
