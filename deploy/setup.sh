#!/bin/sh
# setup.sh: install the Debian 12 packages tocsin needs, then build it in
# the checkout. Idempotent: apt is skipped when every package is there,
# autoreconf and configure run again only when their inputs or the options
# changed. Arguments go to configure.
#
#	sh deploy/setup.sh [--enable-asan --enable-werror ...]
#
# Used by deploy/demo.sh and deploy/test.sh; may be run on its own.
set -eu

# Build tools, the libraries named in configure.ac, PostgreSQL for the
# demo and the tests, mandoc for the man pages, what the Python
# integration harness imports (tests/integration/), and clang with its
# libFuzzer runtime for fuzz/run.sh; nginx and systemd (systemd-analyze)
# for the deployment tests (98-deploy-units, 99-three-instances).
PACKAGES="build-essential autoconf automake libtool pkg-config
	libmicrohttpd-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev
	libpq-dev libssl-dev libyaml-dev
	libjansson-dev libcurl4-openssl-dev libcmark-dev libgnutls28-dev
	postgresql postgresql-client mandoc
	python3 python3-websockets python3-aiosmtpd curl ca-certificates
	clang libclang-rt-14-dev
	nginx systemd
	chromium"

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

missing=""
for p in $PACKAGES; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
# The browser tests (tests/e2e, run by tests/integration/97-web-e2e.py)
# drive Debian's chromium (above) with npm's playwright-core, which never
# downloads a browser. Node.js and npm: Debian's, unless already there.
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: missing Debian packages:$missing" >&2
		echo "setup.sh: run as root (sudo) to install them" >&2
		exit 1
	fi
	echo "setup.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# Only what is missing: never upgrade behind the user's back.
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
else
	echo "setup.sh: Debian packages already installed"
fi

# The system user tocsind becomes when started as root (tocsind.yaml(5),
# "user"; deploy/README), as a package's postinst would make it.
if [ "$(id -u)" -eq 0 ] && ! getent passwd tocsin >/dev/null; then
	echo "setup.sh: adding the system user tocsin"
	adduser --system --group --home /var/lib/tocsin --no-create-home \
	    --gecos "tocsin early-warning daemon" tocsin
fi

# newer A B: is file A more recent than B (POSIX, unlike test -nt)?
newer() { [ -n "$(find "$1" -prune -newer "$2" 2>/dev/null)" ]; }

# configure.ac keeps its auxiliary files and m4 in etc/ (as tmux does).
mkdir -p etc
if [ ! -x configure ] || newer configure.ac configure ||
    [ ! -f Makefile.in ] || newer Makefile.am Makefile.in; then
	echo "setup.sh: autoreconf -fi"
	autoreconf -fi
fi

# Reconfigure when the options differ from the last run: an ASan build and
# a plain one must not share object files, hence the clean first.
stamp=etc/setup-configure-args
args="$*"
if [ ! -f config.status ] || [ ! -f Makefile ] || newer configure config.status ||
    [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$args" ]; then
	if [ -f Makefile ]; then
		make clean >/dev/null 2>&1 || true
	fi
	echo "setup.sh: ./configure $args"
	./configure "$@"
	printf '%s\n' "$args" >"$stamp"
fi

echo "setup.sh: make -j2"
make -j2

# tests/e2e's node_modules, exactly as package-lock.json says.
if [ ! -d tests/e2e/node_modules/playwright-core ] ||
    newer tests/e2e/package-lock.json tests/e2e/node_modules/.package-lock.json; then
	echo "setup.sh: npm ci (tests/e2e)"
	(cd tests/e2e && npm ci --no-audit --no-fund)
fi
