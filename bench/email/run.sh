#!/bin/sh
# bench/email/run.sh: e-mail throughput. tocsind renders, S/MIME-signs and
# hands RECIPIENTS messages (default 10,000) to a local Postfix smtp-sink;
# in the same run, Postfix's smtp-source sends as many messages of the
# same size (one of tocsind's own, byte for byte) to the same sink.
#
#	sh bench/email/run.sh		(run bench/setup.sh once first)
#
# 1. A test CA and the CSIRT's signing certificate (KEY, default rsa:2048)
#    made with the openssl command line.
# 2. tocsind (optimised build, no sanitizers) on a private PostgreSQL
#    cluster, smtp.url on a first smtp-sink that dumps what it receives:
#    one advisory (bench/publish/advisory.json: CVSS, CVEs, products,
#    Markdown body, references) to one user gives the sample message.
# 3. tocsind restarted on a second smtp-sink (no dump), RECIPIENTS users of
#    100 organisations (languages fr, nl, de, en in turn) with an e-mail
#    subscription, made by SQL; one advisory is published and timed from
#    the POST until every delivery is 'delivered' (planning the outbox
#    rows in the publishing transaction, claiming them in priority order,
#    rendering the templates with cmark and signing, composing each
#    message, SMTP, recording the outcomes).
# 4. smtp-source -s SESSIONS -d -m RECIPIENTS -F sample to the same sink,
#    timed: the same number of messages of the same bytes, over SESSIONS
#    connections kept open (tocsind keeps at most 32 to the relay).
# Every recipient of an item in one language gets the same body, rendered
# and signed once per batch (the body holds nothing about its recipient);
# ENCRYPT=1 gives every recipient an S/MIME certificate instead, so each
# message is signed and encrypted on its own (RSA-2048, AES-256-CBC).
# Prints both rates and tocsind's time / smtp-source's. Environment:
# RECIPIENTS, SESSIONS (default 16), ENCRYPT, KEY (the signing key, as
# openssl req -newkey takes it; default rsa:2048), TOCSIND (use this binary),
# BENCH_WORK (default /tmp/tocsin-bench-email), BENCH_PGPORT,
# BENCH_HTTP_PORT, BENCH_SMTP_PORT.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_NAME=email
. "$top/bench/lib.sh"

RECIPIENTS=${RECIPIENTS:-10000}
ENCRYPT=${ENCRYPT:-0}
SESSIONS=${SESSIONS:-16}
KEY=${KEY:-rsa:2048}
WORK=${BENCH_WORK:-/tmp/tocsin-bench-email}
PORT_PG=$(free_port "${BENCH_PGPORT:-22532}")
PORT_HTTP=$(free_port "${BENCH_HTTP_PORT:-22180}")
PORT_WS=$(free_port $((PORT_HTTP + 1)))
PORT_DUMP=$(free_port "${BENCH_SMTP_PORT:-22525}")
PORT_SINK=$(free_port $((PORT_DUMP + 1)))
SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source

[ -x "$SINK" ] && [ -x "$SOURCE" ] ||
    die "smtp-sink/smtp-source missing (package postfix): sh bench/setup.sh"
command -v openssl >/dev/null || die "openssl missing"
build_tocsind

SINK_PIDS=
cleanup() {
	tocsind_stop
	for p in $SINK_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -d "$WORK/pg" ]; then
	sh "$top/deploy/pg-cluster.sh" stop "$WORK/pg" || true
fi
rm -rf "$WORK"
mkdir -p "$WORK/pki" "$WORK/tocsind" "$WORK/dump"
# smtp-sink drops privileges to this user; it writes the dump.
SINK_USER=nobody
chmod 777 "$WORK/dump"

say "machine: $(machine)"
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. the signing certificate
(
	cd "$WORK/pki"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
	    -days 30 -subj "/CN=tocsin bench CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign"
	openssl req -newkey "$KEY" -nodes -keyout signer.key -out signer.csr \
	    -subj "/CN=CSIRT bench"
	printf '%s\n' "basicConstraints=CA:FALSE" \
	    "keyUsage=critical,digitalSignature,keyEncipherment" \
	    "extendedKeyUsage=emailProtection" \
	    "subjectAltName=email:ews@bench.invalid" >signer.ext
	openssl x509 -req -in signer.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 30 -extfile signer.ext -out signer.pem
	# One recipient certificate that every recipient gets (ENCRYPT=1).
	openssl req -newkey rsa:2048 -nodes -keyout rcpt.key -out rcpt.csr \
	    -subj "/CN=Bench recipient"
	sed 's/ews@bench.invalid/rcpt@bench.invalid/' signer.ext >rcpt.ext
	openssl x509 -req -in rcpt.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 30 -extfile rcpt.ext -out rcpt.pem
) >"$WORK/pki/openssl.log" 2>&1 || { cat "$WORK/pki/openssl.log" >&2;
    die "openssl failed"; }

# ---- 2. PostgreSQL, tocsind, the sample message
pg_start "$WORK/pg" "$PORT_PG"
psql_ -d postgres -c "DROP DATABASE IF EXISTS tocsin_bench" >/dev/null
psql_ -d postgres -c "CREATE DATABASE tocsin_bench" >/dev/null
TOCSIN_HTTP=http://127.0.0.1:$PORT_HTTP
user_line=
[ "$(id -u)" -ne 0 ] || user_line="user: root"

write_config() {
	cat >"$WORK/tocsind/tocsind.yaml" <<EOF
# Written by bench/email/run.sh.
listen:
  http: "127.0.0.1:$PORT_HTTP"
  ws: "127.0.0.1:$PORT_WS"
database: "host=127.0.0.1 port=$PGPORT user=postgres dbname=tocsin_bench"
public_url: "https://ews.bench.invalid"
templates: "$top/templates"
key_file: "$WORK/tocsind/server.key"
webhooks:
  signing_key: "$WORK/tocsind/webhook.pem"
smtp:
  url: "smtp://127.0.0.1:$1"
  from: "CSIRT Early Warning <ews@bench.invalid>"
smime:
  cert: "$WORK/pki/signer.pem"
  key: "$WORK/pki/signer.key"
$user_line
log:
  level: warn
EOF
}

start_tocsind() {
	"$TOCSIND" -c "$WORK/tocsind/tocsind.yaml" \
	    2>>"$WORK/tocsind/tocsind.log" &
	TOCSIND_PID=$!
	n=0
	until curl -fsS -o /dev/null "$TOCSIN_HTTP/healthz" 2>/dev/null; do
		kill -0 "$TOCSIND_PID" 2>/dev/null ||
		    { tail "$WORK/tocsind/tocsind.log" >&2; die "tocsind exited"; }
		n=$((n + 1))
		[ "$n" -lt 150 ] || die "tocsind not ready after 30 s"
		sleep 0.2
	done
}

delivered() {
	psql_ -d tocsin_bench -c "SELECT count(*) FILTER (WHERE state = \
'delivered'), count(*) FILTER (WHERE state IN ('failed', 'cancelled')) \
FROM deliveries WHERE event_id = $1"
}

# wait_delivered EVENT N: until N deliveries of EVENT are delivered.
wait_delivered() {
	while :; do
		r=$(delivered "$1")
		[ "${r%%|*}" -lt "$2" ] || return 0
		[ "${r#*|}" -eq 0 ] || die "deliveries failed: $r (see the log)"
		kill -0 "$TOCSIND_PID" 2>/dev/null || die "tocsind exited"
		sleep 0.05
	done
}

"$SINK" -u "$SINK_USER" -d "$WORK/dump/%H%M%S." "127.0.0.1:$PORT_DUMP" 256 &
SINK_PIDS="$SINK_PIDS $!"
"$SINK" -u "$SINK_USER" "127.0.0.1:$PORT_SINK" 1024 &
SINK_PIDS="$SINK_PIDS $!"
write_config "$PORT_DUMP"
"$TOCSIND" -c "$WORK/tocsind/tocsind.yaml" migrate >"$WORK/tocsind/migrate.log" \
    2>&1 || { cat "$WORK/tocsind/migrate.log" >&2; die "migrate failed"; }
ADMIN_TOKEN=$("$TOCSIND" -c "$WORK/tocsind/tocsind.yaml" bootstrap-admin \
    admin 2>/dev/null | tail -n 1) || die "bootstrap-admin failed"
start_tocsind
uid=$(api POST /v1/users "$ADMIN_TOKEN" -d '{"name": "Bench publisher",
    "email": "pub@bench.invalid", "role": "publisher",
    "language": "en"}' | jfield id)
PUB_TOKEN=$(api POST /v1/tokens "$ADMIN_TOKEN" -d "{\"user_id\": $uid}" |
    jfield token)

# Organisations, and the sample recipient (French: the longest wording).
psql_ -d tocsin_bench >/dev/null <<EOF
INSERT INTO organisations (name, kind, sectors)
SELECT 'Bench org ' || i, (ARRAY['essential','authority','important',
    'private','public'])[1 + i % 5], ARRAY['energy']
FROM generate_series(1, 100) AS i;
INSERT INTO users (organisation_id, name, email, role, language)
VALUES (1, 'Sample Recipient', 'sample@bench.invalid', 'member', 'fr');
INSERT INTO subscriptions (user_id, name, filter, channels)
SELECT id, 'all', '{}', '["email"]' FROM users WHERE email = 'sample@bench.invalid';
EOF
if [ "$ENCRYPT" = 1 ]; then
	echo "UPDATE users SET smime_cert = :'cert' WHERE role = 'member';" |
	    psql_ -d tocsin_bench -v cert="$(cat "$WORK/pki/rcpt.pem")" \
	    >/dev/null
fi
ev=$(api POST /v1/advisories "$PUB_TOKEN" \
    --data-binary "@$top/bench/publish/advisory.json" | jfield event_id)
wait_delivered "$ev" 1
tocsind_stop
sample=$(ls "$WORK/dump" | head -n 1)
[ -n "$sample" ] || die "the dump sink received nothing"
# What tocsind sent: the dump less smtp-sink's own lines (X-..., then
# Received: and its continuation lines).
"$PY" - "$WORK/dump/$sample" "$WORK/sample.eml" <<'EOF'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
i = 0
while not lines[i].startswith(b"Received:"):
    i += 1
i += 1
while lines[i][:1] in (b" ", b"\t"):
    i += 1
open(sys.argv[2], "wb").write(b"\n".join(lines[i:]))
EOF
# As sent: CRLF line ends.
bytes=$(($(wc -c <"$WORK/sample.eml") + $(wc -l <"$WORK/sample.eml")))
if [ "$ENCRYPT" = 1 ]; then
	openssl smime -decrypt -in "$WORK/sample.eml" -recip "$WORK/pki/rcpt.pem" \
	    -inkey "$WORK/pki/rcpt.key" -out "$WORK/sample.dec" 2>/dev/null ||
	    die "the sample message does not decrypt"
	say "sample message: $bytes bytes, encrypted, signed inside ($(openssl \
	    smime -verify -in "$WORK/sample.dec" -CAfile "$WORK/pki/ca.pem" \
	    -out /dev/null 2>&1))"
else
	grep -q "^Content-Type: multipart/signed" "$WORK/sample.eml" ||
	    die "the sample message is not signed"
	say "sample message: $bytes bytes, signed ($(openssl smime -verify \
	    -in "$WORK/sample.eml" -CAfile "$WORK/pki/ca.pem" -out /dev/null \
	    2>&1))"
fi

# ---- 3. tocsind: RECIPIENTS users, one advisory, timed
psql_ -d tocsin_bench >/dev/null <<EOF
DELETE FROM subscriptions;
INSERT INTO users (organisation_id, name, email, role, language)
SELECT 1 + i % 100, 'Recipient ' || i, 'r' || i || '@bench.invalid',
    'member', (ARRAY['fr','nl','de','en'])[1 + i % 4]
FROM generate_series(1, $RECIPIENTS) AS i;
INSERT INTO subscriptions (user_id, name, filter, channels)
SELECT id, 'all', '{}', '["email"]' FROM users
WHERE email LIKE 'r%@bench.invalid';
ANALYZE;
EOF
if [ "$ENCRYPT" = 1 ]; then
	echo "UPDATE users SET smime_cert = :'cert' WHERE role = 'member';" |
	    psql_ -d tocsin_bench -v cert="$(cat "$WORK/pki/rcpt.pem")" \
	    >/dev/null
fi
write_config "$PORT_SINK"
start_tocsind
cpu0=$(awk '{print $14 + $15}' "/proc/$TOCSIND_PID/stat")
say "tocsind: publishing to $RECIPIENTS e-mail subscribers"
t0=$(date +%s.%N)
ev=$(api POST /v1/advisories "$PUB_TOKEN" \
    --data-binary "@$top/bench/publish/advisory.json" | jfield event_id)
t1=$(date +%s.%N)
wait_delivered "$ev" "$RECIPIENTS"
t2=$(date +%s.%N)
cpu1=$(awk '{print $14 + $15}' "/proc/$TOCSIND_PID/stat")
tocsind_stop

# ---- 4. smtp-source: the same messages to the same sink
say "smtp-source: $RECIPIENTS messages of $bytes bytes, $SESSIONS sessions"
s0=$(date +%s.%N)
"$SOURCE" -s "$SESSIONS" -d -m "$RECIPIENTS" -F "$WORK/sample.eml" \
    -f ews@bench.invalid -t sample@bench.invalid "127.0.0.1:$PORT_SINK" ||
    die "smtp-source failed"
s1=$(date +%s.%N)

"$PY" - "$RECIPIENTS" "$t0" "$t1" "$t2" "$s0" "$s1" "$cpu0" "$cpu1" \
    "$bytes" <<'EOF'
import os, sys
n = int(sys.argv[1])
t0, t1, t2, s0, s1 = map(float, sys.argv[2:7])
cpu = (int(sys.argv[8]) - int(sys.argv[7])) / os.sysconf("SC_CLK_TCK")
tt, st = t2 - t0, s1 - s0
print("email: %d %s messages of ~%s bytes" % (n, "signed and encrypted"
      if os.environ.get("ENCRYPT") == "1" else "signed", sys.argv[9]))
print("email: tocsind      %6.2f s  %7.0f msg/s  (publish and plan %.2f s;"
      " tocsind CPU %.1f s)" % (tt, n / tt, t1 - t0, cpu))
print("email: smtp-source  %6.2f s  %7.0f msg/s" % (st, n / st))
print("email: ratio tocsind/smtp-source time: %.2f (aim: < 3; and < 60 s: %s)"
      % (tt / st, "yes" if tt < 60 else "NO"))
EOF
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
