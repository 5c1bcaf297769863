#!/bin/sh
# bench/warnings/run.sh: spear-warning attribution, tocsind against
# PostgreSQL's own inet GiST join, on the same cluster, in the same run.
#
#	sh bench/warnings/run.sh	(run bench/setup.sh once first)
#
# 1. gen.py makes ORGS organisations' PREFIXES overlapping CIDR prefixes
#    (60 % IPv4, 40 % IPv6, three deep) and a Shadowserver-style report of
#    ROWS rows (85 % inside a registered prefix). Defaults: 1000, 100000,
#    1000000. Made up: 10.0.0.0/8, 2001:db8::/32 and fd00::/8 only.
# 2. tocsind (optimised build, no sanitizers) on a private cluster, with
#    limits.max_body_bytes at its ceiling (64 MiB): the prefixes are
#    registered through POST /v1/assets/import, then the report is timed
#    end to end through POST /v1/warnings/import?format=shadowserver (one
#    curl request: upload, CSV parsing, attribution, and one transaction
#    writing a warning and its event per organisation). Run twice: the
#    first request also loads the 100,000 assets and builds the matcher.
# 3. PostgreSQL, same cluster and database: the same prefixes (from the
#    assets table) in a table with a GiST index (inet_ops), the report's
#    rows COPYed into a table, then the same attribution by SQL, timed two
#    ways: a join on >>= keeping the longest prefix per row (DISTINCT ON,
#    ORDER BY masklen DESC) and a LATERAL subquery (ORDER BY masklen DESC
#    LIMIT 1); the faster is the figure. Both results are checked against
#    tocsind's: the same number of rows per organisation.
# Prints both times and their ratio. Environment: ORGS, PREFIXES, ROWS,
# TOCSIND (use this binary), BENCH_WORK (default /tmp/tocsin-bench-warnings),
# BENCH_PGPORT, BENCH_HTTP_PORT, SKIP_SQL=1 (tocsind's side only).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/warnings
BENCH_NAME=warnings
. "$top/bench/lib.sh"

ORGS=${ORGS:-1000}
PREFIXES=${PREFIXES:-100000}
ROWS=${ROWS:-1000000}
WORK=${BENCH_WORK:-/tmp/tocsin-bench-warnings}
PORT_PG=$(free_port "${BENCH_PGPORT:-22432}")
PORT_HTTP=$(free_port "${BENCH_HTTP_PORT:-22080}")
PORT_WS=$(free_port $((PORT_HTTP + 1)))

command -v curl >/dev/null || die "curl missing: sh bench/setup.sh"
build_tocsind

cleanup() {
	tocsind_stop
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -d "$WORK/pg" ]; then
	sh "$top/deploy/pg-cluster.sh" stop "$WORK/pg" || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/data" "$WORK/tocsind"
say "generating $PREFIXES prefixes of $ORGS organisations, $ROWS rows"
"$PY" "$here/gen.py" "$WORK/data" "$ORGS" "$PREFIXES" "$ROWS" >&2
report_bytes=$(wc -c <"$WORK/data/report.csv")

pg_start "$WORK/pg" "$PORT_PG"
psql_ -d postgres -c "CREATE DATABASE tocsin_bench" ||
    die "cannot create database tocsin_bench"
TOCSIN_HTTP=http://127.0.0.1:$PORT_HTTP
cat >"$WORK/tocsind/tocsind.yaml" <<EOF
# Written by bench/warnings/run.sh.
listen:
  http: "127.0.0.1:$PORT_HTTP"
  ws: "127.0.0.1:$PORT_WS"
database: "host=127.0.0.1 port=$PGPORT user=postgres dbname=tocsin_bench"
public_url: "$TOCSIN_HTTP"
advisory_id_prefix: "BENCH"
templates: "$top/templates"
limits:
  max_body_bytes: 67108864
log:
  level: info
EOF
cfg=$WORK/tocsind/tocsind.yaml
"$TOCSIND" -c "$cfg" migrate >"$WORK/tocsind/migrate.log" 2>&1 ||
    { cat "$WORK/tocsind/migrate.log" >&2; die "migrate failed"; }
ADMIN_TOKEN=$("$TOCSIND" -c "$cfg" bootstrap-admin admin 2>/dev/null |
    tail -n 1) || die "bootstrap-admin failed"
"$TOCSIND" -c "$cfg" 2>"$WORK/tocsind/tocsind.log" &
TOCSIND_PID=$!
n=0
until curl -fsS -o /dev/null "$TOCSIN_HTTP/healthz" 2>/dev/null; do
	kill -0 "$TOCSIND_PID" 2>/dev/null ||
	    { tail "$WORK/tocsind/tocsind.log" >&2; die "tocsind exited"; }
	n=$((n + 1))
	[ "$n" -lt 150 ] || die "tocsind not ready after 30 s"
	sleep 0.2
done
uid=$(api POST /v1/users "$ADMIN_TOKEN" -d '{"name": "Bench publisher",
    "email": "pub@bench.invalid", "role": "publisher", "language": "en"}' |
    jfield id)
PUB_TOKEN=$(api POST /v1/tokens "$ADMIN_TOKEN" -d "{\"user_id\": $uid}" |
    jfield token)

# The organisations by SQL (ids 1..ORGS in a fresh database).
psql_ -d tocsin_bench -c "INSERT INTO organisations (name, kind, sectors)
    SELECT 'Bench organisation ' || g, 'essential', '{energy}'
    FROM generate_series(1, $ORGS) g" >/dev/null

# post_csv PATH TOKEN FILE OUT: POST a CSV file; prints seconds taken.
post_csv() {
	curl -sS -o "$4" -w '%{http_code} %{time_total}\n' -X POST \
	    -H "Authorization: Bearer $2" -H "Content-Type: text/csv" \
	    --data-binary @"$3" "$TOCSIN_HTTP$1" >"$4.status" ||
	    die "POST $1 failed"
	read -r code secs <"$4.status"
	case $code in
	2??) ;;
	*) cat "$4" >&2; die "POST $1 answered $code" ;;
	esac
	echo "$secs"
}

say "machine: $(machine)"
say "registering $PREFIXES prefixes (POST /v1/assets/import)"
t_assets=$(post_csv /v1/assets/import "$ADMIN_TOKEN" "$WORK/data/assets.csv" \
    "$WORK/assets.json")
created=$(jfield created <"$WORK/assets.json")
[ "$created" -eq "$PREFIXES" ] ||
    { cat "$WORK/assets.json" >&2; die "$created of $PREFIXES registered"; }

psql_ -d tocsin_bench -c CHECKPOINT
load_t=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average: $load_t"
q="format=shadowserver&title=Bench&category=bench"
say "importing the report ($report_bytes bytes), first run"
t_import1=$(post_csv "/v1/warnings/import?$q" "$PUB_TOKEN" \
    "$WORK/data/report.csv" "$WORK/import1.json")
say "importing the report again (matcher cached)"
t_import2=$(post_csv "/v1/warnings/import?$q" "$PUB_TOKEN" \
    "$WORK/data/report.csv" "$WORK/import2.json")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$TOCSIND_PID/status")
kill -0 "$TOCSIND_PID" 2>/dev/null ||
    die "tocsind died during the run; see $WORK/tocsind/tocsind.log"
eval "$("$PY" -c 'import json, sys
b = json.load(open(sys.argv[1]))
for k in ("rows", "malformed", "warnings_created", "observations_matched",
          "observations_unmatched"):
    print("i_%s=%d" % (k, b[k]))' "$WORK/import1.json")"
read_s=$(sed -n 's/.*import of [0-9]* rows read in \([0-9.]*\) s.*/\1/p' \
    "$WORK/tocsind/tocsind.log" | head -n 1)
tocsind_stop

# sqltime SQL: run it with \timing; print the milliseconds it took.
sqltime() {
	printf '\\timing on\n%s\n' "$1" | psql_ -d tocsin_bench 2>&1 |
	    tee -a "$WORK/sql.log" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
	    tail -n 1
}

if [ -n "${SKIP_SQL:-}" ]; then
	printf '\ntocsind: %s s (first), %s s (cached); read %s s; %s\n' \
	    "$t_import1" "$t_import2" "${read_s:-?}" \
	    "peak RSS $((hwm / 1024)) MiB"
	exit 0
fi

say "PostgreSQL: the same prefixes with a GiST index, the report COPYed"
psql_ -d tocsin_bench >>"$WORK/sql.log" 2>&1 <<EOF
CREATE TABLE bench_prefix AS SELECT value::cidr AS net,
    organisation_id AS org FROM assets
    WHERE type = 'cidr' AND status = 'approved';
CREATE TABLE bench_obs (n bigserial PRIMARY KEY, ts text, ip inet,
    port integer, asn bigint, tag text);
EOF
ms_index=$(sqltime "CREATE INDEX bench_prefix_net ON bench_prefix
    USING gist (net inet_ops);")
# (psql's meta-commands end at the line's end: one line.)
ms_copy=$(sqltime "\\copy bench_obs (ts, ip, port, asn, tag) FROM '$WORK/data/report.csv' WITH (FORMAT csv, HEADER true)")
psql_ -d tocsin_bench -c "ANALYZE bench_prefix" -c "ANALYZE bench_obs" \
    -c CHECKPOINT >>"$WORK/sql.log" 2>&1
load_s=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average: $load_s"
say "PostgreSQL: attribution by DISTINCT ON join"
ms_join=$(sqltime "CREATE TABLE bench_att1 AS SELECT DISTINCT ON (o.n)
    o.n, p.org FROM bench_obs o JOIN bench_prefix p ON p.net >>= o.ip
    ORDER BY o.n, masklen(p.net) DESC;")
say "PostgreSQL: attribution by LATERAL ... LIMIT 1"
ms_lateral=$(sqltime "CREATE TABLE bench_att2 AS SELECT o.n, a.org
    FROM bench_obs o CROSS JOIN LATERAL (SELECT p.org FROM bench_prefix p
    WHERE p.net >>= o.ip ORDER BY masklen(p.net) DESC LIMIT 1) a;")
psql_ -d tocsin_bench -c "EXPLAIN SELECT DISTINCT ON (o.n) o.n, p.org
    FROM bench_obs o JOIN bench_prefix p ON p.net >>= o.ip
    ORDER BY o.n, masklen(p.net) DESC" >"$WORK/plan.txt"
plan=$(sed -n 's/.*\(Index Scan using bench_prefix_net\).*/GiST \1/p;
    s/.*Workers Planned: \([0-9]*\).*/\1 parallel workers/p' "$WORK/plan.txt" |
    paste -sd, -)

# The same attribution? Per organisation, SQL's count and tocsind's.
diff1=$(psql_ -d tocsin_bench -c "SELECT count(*) FROM (
    (SELECT org, count(*) FROM bench_att1 GROUP BY org
     EXCEPT SELECT organisation_id, sum(observation_count) / 2
     FROM warnings GROUP BY organisation_id)
    UNION ALL
    (SELECT org, count(*) FROM bench_att2 GROUP BY org
     EXCEPT SELECT org, count(*) FROM bench_att1 GROUP BY org)) x")
sql_rows=$(psql_ -d tocsin_bench -c "SELECT count(*) FROM bench_att1")

ms_sql=$(awk -v a="$ms_join" -v b="$ms_lateral" \
    'BEGIN {print (a < b ? a : b)}')
s() { awk -v ms="$1" 'BEGIN {printf "%.2f", ms / 1000}'; }
ratio=$(awk -v t="$t_import1" -v ms="$ms_sql" \
    'BEGIN {printf "%.1f", ms / 1000 / t}')
cat <<EOF

== Spear warnings: attribution ($(date -u +%Y-%m-%dT%H:%MZ)) ==
machine:   $(machine)
load:      $load_t before tocsind's imports, $load_s before the SQL
data:      $PREFIXES prefixes (60 % IPv4, 40 % IPv6, nested 3 deep) of $ORGS organisations; $ROWS report rows, $report_bytes bytes
assets:    POST /v1/assets/import of $PREFIXES prefixes: ${t_assets} s
tocsind:   POST /v1/warnings/import, end to end: ${t_import1} s (first: matcher built), ${t_import2} s (cached)
           $i_rows rows, $i_malformed malformed, $i_observations_matched matched, $i_observations_unmatched unmatched, $i_warnings_created warnings; reading and attribution ${read_s:-?} s; peak RSS $((hwm / 1024)) MiB
postgres:  GiST index build $(s "$ms_index") s; COPY of the report $(s "$ms_copy") s
           attribution: DISTINCT ON join $(s "$ms_join") s, LATERAL LIMIT 1 $(s "$ms_lateral") s ($sql_rows rows matched; plan: ${plan:-see $WORK/plan.txt})
check:     organisations whose counts differ between tocsind and SQL: $diff1
ratio:     SQL attribution alone / tocsind end to end = $ratio x  (aim: tocsind under 5 s, and faster)
EOF
