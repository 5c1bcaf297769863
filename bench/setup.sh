#!/bin/sh
# bench/setup.sh: install what the benchmarks need on Debian 12 (as root),
# then build the stream load generator. Idempotent: apt runs only when a
# package is missing. tocsind itself is built by each run.sh (optimised,
# without sanitizers) from the checkout's own build dependencies, which
# deploy/setup.sh installs; they are listed here too so this script alone
# prepares a fresh machine.
#
#	sh bench/setup.sh
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES="build-essential autoconf automake libtool pkg-config git curl
	ca-certificates python3
	libmicrohttpd-dev libwebsockets-dev libpq-dev libssl-dev libyaml-dev
	libjansson-dev libcurl4-openssl-dev libcmark-dev
	postgresql postgresql-client postgresql-contrib
	wrk mosquitto mosquitto-clients nginx libnginx-mod-nchan
	postfix"

missing=""
for p in $PACKAGES; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
missing=$(printf '%s' "$missing" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench/setup.sh: missing Debian packages: $missing" >&2
		echo "bench/setup.sh: run as root to install them" >&2
		exit 1
	fi
	echo "bench/setup.sh: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	# postfix for its smtp-sink and smtp-source (bench/email), not as
	# this machine's mail system: "No configuration" starts nothing.
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections
	apt-get update
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
else
	echo "bench/setup.sh: Debian packages already installed"
fi

# The packaged services are not wanted: the benchmarks start their own
# instances on their own ports and stop them afterwards.
for s in mosquitto nginx postfix; do
	if command -v systemctl >/dev/null 2>&1 &&
	    systemctl is-active --quiet "$s" 2>/dev/null; then
		echo "bench/setup.sh: note: the system $s service is running;" \
		    "the benchmark uses its own instance on other ports"
	fi
done

make -C "$top/bench/stream" >/dev/null
echo "bench/setup.sh: built bench/stream/wsbench and bench/stream/pubbench"
