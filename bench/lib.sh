# bench/lib.sh: shared by the benchmarks (sourced, not run).
#
# build_tocsind		build an optimised tocsind (no sanitizers) from a copy
#			of the checkout in $BENCH_BUILD (default
#			/tmp/tocsin-bench-build); sets TOCSIND. Set TOCSIND to
#			an existing binary to skip the build.
# pg_start DIR PORT	a private PostgreSQL cluster (deploy/pg-cluster.sh)
# tocsind_setup DIR	config, migrate, admin token, a publisher; sets
#			TOCSIN_HTTP, ADMIN_TOKEN, PUB_TOKEN, TOCSIND_PID
# free_port BASE	the first port from BASE up that nothing listens on
# machine		one line describing this machine
# rss_kb PID...		sum of VmRSS (kB)
# pss_kb PID...		sum of Pss (kB, smaps_rollup): shared pages counted once

# The caller sets top (the checkout) before sourcing this file.
: "${top:?bench/lib.sh: set top first}"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PY=${PY:-python3}

say() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
die() { say "$*"; exit 1; }

machine() {
	printf 'nproc=%s cpu="%s" ram=%s kernel=%s\n' "$(nproc)" \
	    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
	    "$(free -h | awk '/^Mem:/ {print $2}')" "$(uname -r)"
}

free_port() {
	p=$1
	while [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] ||
	    [ -n "$(ss -Htn "sport = :$p" 2>/dev/null)" ]; do
		p=$((p + 1))
	done
	echo "$p"
}

rss_kb() {
	for p in "$@"; do
		awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0
	done | awk '{s += $1} END {print s + 0}'
}

pss_kb() {
	for p in "$@"; do
		awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0
	done | awk '{s += $1} END {print s + 0}'
}

build_tocsind() {
	if [ -n "${TOCSIND:-}" ]; then
		[ -x "$TOCSIND" ] || die "TOCSIND=$TOCSIND is not executable"
		# Its schema: TOCSIN_SCHEMA_DIR, else the checkout's.
		TOCSIN_SCHEMA_DIR=${TOCSIN_SCHEMA_DIR:-$top/schema}
		export TOCSIN_SCHEMA_DIR
		return 0
	fi
	b=${BENCH_BUILD:-/tmp/tocsin-bench-build}
	mkdir -p "$b/src"
	# The checkout's files (tracked and new, not ignored), without its
	# build products: an in-tree ./configure would stop a VPATH build.
	# (Build trees, var/ and the benchmarks themselves are not needed.)
	(cd "$top" && { git ls-files -co --exclude-standard 2>/dev/null ||
	    find . -type f ! -path './.git/*' | sed 's|^\./||'; } |
	    grep -Ev '^(build[^/]*|var|bench)/' |
	    tr '\n' '\0' | xargs -0 cp --parents -u -t "$b/src" 2>/dev/null) ||
	    true
	say "building an optimised tocsind in $b/src (log: $b/build.log)"
	(
		cd "$b/src" && mkdir -p etc &&
		if [ ! -x configure ] || [ configure.ac -nt configure ] ||
		    [ Makefile.am -nt Makefile.in ]; then
			autoreconf -fi
		fi &&
		if [ ! -f Makefile ] || [ configure -nt config.status ]; then
			./configure CFLAGS="-O2 -g"
		fi &&
		make -j"$(nproc)" tocsind
	) >"$b/build.log" 2>&1 || { tail -n 30 "$b/build.log" >&2;
	    die "build failed; see $b/build.log"; }
	TOCSIND=$b/src/tocsind
	TOCSIN_SCHEMA_DIR=$b/src/schema
	export TOCSIN_SCHEMA_DIR
}

# pg_start DIR PORT: start (creating if needed) a private cluster.
pg_start() {
	chmod 755 "$(dirname "$1")" 2>/dev/null || true
	PGCONN=$(sh "$top/deploy/pg-cluster.sh" start "$1" "$2") ||
	    die "PostgreSQL did not start"
	PGPORT=$2
	PGDIR=$1
}

pg_stop() {
	[ -z "${PGDIR:-}" ] || sh "$top/deploy/pg-cluster.sh" stop "$PGDIR" ||
	    true
}

psql_() {
	"$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"
}

# api METHOD PATH TOKEN [curl args]: the response body; dies on refusal.
api() {
	m=$1 p=$2 t=$3
	shift 3
	body=$(curl -sS --fail-with-body -X "$m" -H "Authorization: Bearer $t" \
	    -H "Content-Type: application/json" "$@" "$TOCSIN_HTTP$p") ||
	    die "$m $p refused: $body"
	printf '%s\n' "$body"
}

jfield() {
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# tocsind_setup DIR HTTPPORT WSPORT: a fresh database "tocsin_bench",
# configuration, admin and publisher; tocsind running in the background.
tocsind_setup() {
	d=$1
	mkdir -p "$d"
	psql_ -d postgres -c "DROP DATABASE IF EXISTS tocsin_bench" &&
	    psql_ -d postgres -c "CREATE DATABASE tocsin_bench" ||
	    die "cannot create database tocsin_bench"
	TOCSIN_HTTP=http://127.0.0.1:$2
	TOCSIN_WS_PORT=$3
	# A benchmark measures throughput, not the abuse limits: the per-token
	# and per-address request rates are off (0), when this tocsind has
	# them (older builds refuse the keys).
	for limits in yes no; do
		{
			echo "# Written by bench/lib.sh."
			echo "listen:"
			echo "  http: \"127.0.0.1:$2\""
			echo "  ws: \"127.0.0.1:$3\""
			echo "database: \"host=127.0.0.1 port=$PGPORT" \
			    "user=postgres dbname=tocsin_bench\""
			echo "public_url: \"$TOCSIN_HTTP\""
			echo "templates: \"$top/templates\""
			echo "log:"
			echo "  level: warn"
			# TOCSIND_CONFIG_EXTRA: more top-level YAML.
			[ -z "${TOCSIND_CONFIG_EXTRA:-}" ] ||
			    printf '%s\n' "$TOCSIND_CONFIG_EXTRA"
			if [ "$limits" = yes ]; then
				echo "limits:"
				echo "  rate_per_token: 0"
				echo "  rate_per_address: 0"
			fi
		} >"$d/tocsind.yaml"
		"$TOCSIND" -c "$d/tocsind.yaml" check-config \
		    >"$d/check-config.log" 2>&1 && break
		[ "$limits" = yes ] ||
		    { cat "$d/check-config.log" >&2; die "bad configuration"; }
	done
	[ "$limits" = yes ] ||
	    say "note: this tocsind has no limits.rate_per_token; running without"
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
}

tocsind_stop() {
	if [ -n "${TOCSIND_PID:-}" ] && kill -0 "$TOCSIND_PID" 2>/dev/null; then
		kill -TERM "$TOCSIND_PID"
		wait "$TOCSIND_PID" 2>/dev/null || true
	fi
	TOCSIND_PID=
}
