#!/bin/sh
# pg-cluster.sh: a private PostgreSQL cluster in a directory of one's own,
# for the demo (var/pg) and the integration tests (a temporary directory).
# It never touches the system cluster that the postgresql package may run.
#
#	sh deploy/pg-cluster.sh start DIR PORT	create if needed, start, and
#						print a libpq connection string
#	sh deploy/pg-cluster.sh stop DIR		stop (fast); fine if not running
#	sh deploy/pg-cluster.sh status DIR	exit 0 if running, 3 if not
#	sh deploy/pg-cluster.sh conninfo DIR	print the connection string
#
# DIR/data holds the cluster, DIR/run its Unix socket, DIR/postgresql.log
# the server's log. Authentication is "trust" on the socket and on
# 127.0.0.1 (loopback only); the superuser is "postgres". fsync is off:
# this is for tests and demos, not for data anyone wants to keep.
#
# PostgreSQL refuses to run as root: when run as root, the server runs as
# the user in $PG_RUN_AS (default postgres), who must be able to reach DIR.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

usage() {
	sed -n 's/^#\(	sh deploy.*\)/usage:\1/p' "$0" >&2
	exit 1
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
case $dir in
/*) ;;
*) dir=$(pwd)/$dir ;;
esac
data=$dir/data
sock=$dir/run
log=$dir/postgresql.log

if [ "$(id -u)" -eq 0 ]; then
	runas=${PG_RUN_AS:-postgres}
else
	runas=""
fi

# Run a command as the cluster's owner, from a directory it can enter.
as_owner() {
	if [ -n "$runas" ]; then
		(cd "$dir" && runuser -u "$runas" -- "$@")
	else
		(cd "$dir" && "$@")
	fi
}

conninfo() {
	echo "host=127.0.0.1 port=$(cat "$dir/port") user=postgres dbname=postgres"
}

running() {
	[ -f "$data/PG_VERSION" ] &&
	    as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

create() {
	mkdir -p "$dir"
	if [ -n "$runas" ]; then
		chown "$runas" "$dir"
		chmod 700 "$dir"
		if ! runuser -u "$runas" -- test -x "$dir"; then
			echo "pg-cluster.sh: user $runas cannot reach $dir:" \
			    "a parent directory is closed to it (chmod o+x it," \
			    "or set PG_RUN_AS to a user who can)" >&2
			exit 1
		fi
	fi
	[ -f "$data/PG_VERSION" ] && return 0
	echo "pg-cluster.sh: initdb $data" >&2
	if ! as_owner "$PGBIN/initdb" -D "$data" -U postgres -A trust \
	    -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		exit 1
	fi
	as_owner mkdir -p "$sock"
	echo "include_if_exists = 'tocsin.conf'" >>"$data/postgresql.conf"
}

start() {
	port=$1
	create
	# A socket path longer than sun_path (108 bytes) cannot be bound:
	# then the cluster listens on 127.0.0.1 only.
	sockdirs=$sock
	if [ $((${#sock} + 16)) -gt 100 ]; then
		echo "pg-cluster.sh: $sock is too long for a socket," \
		    "TCP only" >&2
		sockdirs=""
	fi
	cat >"$data/tocsin.conf" <<EOF
# Written by deploy/pg-cluster.sh at each start.
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdirs'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
	[ -z "$runas" ] || chown "$runas" "$data/tocsin.conf"
	echo "$port" >"$dir/port"
	if running; then
		echo "pg-cluster.sh: already running in $dir" >&2
	elif ! as_owner "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
	    start >/dev/null; then
		echo "pg-cluster.sh: PostgreSQL did not start; $log says:" >&2
		tail -n 20 "$log" >&2 || true
		exit 1
	fi
	conninfo
}

stop() {
	if running; then
		as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 \
		    stop >/dev/null
	fi
}

case $cmd in
start)
	[ $# -ge 3 ] || [ -f "$dir/port" ] || usage
	if [ $# -ge 3 ]; then start "$3"; else start "$(cat "$dir/port")"; fi
	;;
stop)
	stop
	;;
status)
	if running; then
		echo "running in $dir, port $(cat "$dir/port")"
	else
		echo "not running in $dir"
		exit 3
	fi
	;;
conninfo)
	[ -f "$dir/port" ] || usage
	conninfo
	;;
*)
	usage
	;;
esac
