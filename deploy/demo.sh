#!/bin/sh
# demo.sh: from a fresh Debian 12 to a running tocsind with a demo
# organisation, in one command (as root: it installs packages).
#
#	sudo sh deploy/demo.sh
#
# Builds the checkout (deploy/setup.sh), starts a private PostgreSQL in
# var/pg (port 5433), writes var/tocsind.yaml (REST on 127.0.0.1:8080,
# stream on 127.0.0.1:8081), migrates, creates the admin, a demo
# organisation with a member and a publisher, saves their tokens in var/
# (mode 600), then runs tocsind in the foreground. Run it again at will:
# what exists is reused. Start over with: sh deploy/pg-cluster.sh stop var/pg
# && rm -rf var.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

HTTP=127.0.0.1:8080
WS=127.0.0.1:8081
PGPORT=5433
BASE=http://$HTTP
CFG=var/tocsind.yaml
PY=/usr/bin/python3

say() { printf 'demo.sh: %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

sh deploy/setup.sh

mkdir -p var
chmod 755 var

# PostgreSQL will not run as root. The postgres user may not be able to
# reach a checkout in a closed home directory; its owner always can.
if [ "$(id -u)" -eq 0 ] && [ -z "${PG_RUN_AS:-}" ] &&
    ! runuser -u postgres -- test -x "$top/var"; then
	owner=$(stat -c %U "$top")
	[ "$owner" = root ] || export PG_RUN_AS="$owner"
fi
sh deploy/pg-cluster.sh start "$top/var/pg" "$PGPORT" >/dev/null

psql() {
	/usr/lib/postgresql/15/bin/psql -X -q -At -h 127.0.0.1 -p "$PGPORT" \
	    -U postgres "$@"
}
if [ -z "$(psql -d postgres -c \
    "SELECT 1 FROM pg_database WHERE datname = 'tocsin'")" ]; then
	psql -d postgres -c "CREATE DATABASE tocsin"
fi

# E-mail goes to a local catcher (deploy/mail-catcher.py, started below)
# that keeps each message in var/mail/, signed with a demo S/MIME
# certificate made here once.
MAIL=127.0.0.1:2525
if [ ! -s var/smime.key ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 \
	    -keyout var/smime.key -out var/smime.crt \
	    -subj "/CN=CCB Early Warning (demo)" \
	    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
	    -addext "extendedKeyUsage=emailProtection" \
	    -addext "subjectAltName=email:ews@demo.invalid" 2>/dev/null ||
	    die "openssl could not make the demo S/MIME certificate"
	chmod 600 var/smime.key
fi

# The configuration is generated: edit this script, not the file.
cat >"$CFG" <<EOF
# Written by deploy/demo.sh; see tocsind.yaml(5) for every key.
listen:
  http: "$HTTP"
  ws: "$WS"
database: "host=127.0.0.1 port=$PGPORT user=postgres dbname=tocsin"
public_url: "$BASE"
advisory_id_prefix: "CCB"
smtp:
  url: "smtp://$MAIL"
  from: "CCB Early Warning (demo) <ews@demo.invalid>"
smime:
  cert: "$top/var/smime.crt"
  key: "$top/var/smime.key"
webhooks:
  timeout_s: 10
  allow_private_networks: true
templates: "$top/templates"
log:
  level: info
EOF

# Run from the build tree: the schema files are in the checkout.
export TOCSIN_SCHEMA_DIR="$top/schema"
./tocsind -c "$CFG" check-config >/dev/null
./tocsind -c "$CFG" migrate

umask 077
if [ -s var/admin.token ]; then
	say "admin exists, reusing its token in var/admin.token"
else
	if ! out=$(./tocsind -c "$CFG" bootstrap-admin admin); then
		die "bootstrap-admin failed; if an admin already exists but" \
		    "var/admin.token was lost, start over (see the top of" \
		    "deploy/demo.sh)"
	fi
	printf '%s\n' "$out" | tail -n 1 >var/admin.token
	say "admin token saved in $top/var/admin.token (shown only this once)"
fi
chmod 600 var/admin.token
umask 022

# Talk to the API as any client would: the body on stdout; a refusal
# stops the script with the server's problem+json.
api() {
	method=$1 path=$2 token=$3
	shift 3
	if ! body=$(curl -sS --fail-with-body -X "$method" \
	    -H "Authorization: Bearer $token" \
	    -H "Content-Type: application/json" "$@" "$BASE$path"); then
		die "$method $path refused: $body"
	fi
	printf '%s\n' "$body"
}
# field NAME: that member of the JSON object on stdin.
field() {
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

if [ ! -s var/member.token ] || [ ! -s var/publisher.token ]; then
	./tocsind -c "$CFG" 2>var/setup-tocsind.log &
	pid=$!
	trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM
	tries=0
	until curl -fsS -o /dev/null "$BASE/healthz" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null ||
		    die "tocsind exited; see var/setup-tocsind.log"
		tries=$((tries + 1))
		[ "$tries" -lt 150 ] || die "tocsind not ready after 30 s"
		sleep 0.2
	done
	admin=$(cat var/admin.token)

	out=$(api GET "/v1/organisations?limit=200" "$admin")
	org=$(printf '%s\n' "$out" | "$PY" -c '
import json, sys
for o in json.load(sys.stdin)["items"]:
    if o["name"] == "Demo Energy SA" and o.get("active", True):
        print(o["id"])
        break')
	if [ -z "$org" ]; then
		out=$(api POST /v1/organisations "$admin" -d '{
		    "name": "Demo Energy SA", "kind": "essential",
		    "sectors": ["energy.electricity"],
		    "contact_email": "soc@demo-energy.invalid"}')
		org=$(printf '%s\n' "$out" | field id)
	fi
	out=$(api POST /v1/users "$admin" -d "{
	    \"organisation_id\": $org, \"name\": \"Demo member\",
	    \"email\": \"analyst@demo-energy.invalid\", \"role\": \"member\",
	    \"language\": \"en\"}")
	member=$(printf '%s\n' "$out" | field id)
	out=$(api POST /v1/users "$admin" -d '{
	    "name": "Demo publisher", "email": "analyst@csirt.invalid",
	    "role": "publisher", "language": "en"}')
	publisher=$(printf '%s\n' "$out" | field id)
	out=$(api POST /v1/tokens "$admin" -d "{\"user_id\": $member}")
	mtoken=$(printf '%s\n' "$out" | field token)
	out=$(api POST /v1/tokens "$admin" -d "{\"user_id\": $publisher}")
	ptoken=$(printf '%s\n' "$out" | field token)
	# What the member listens for: the stream pushes an item to those who
	# may see it and either are named in it or subscribed to it.
	api POST /v1/subscriptions "$mtoken" -d '{
	    "name": "Energy, high and above",
	    "filter": {"sectors": ["energy"], "min_severity": "high"},
	    "channels": ["ws", "email"]}' >/dev/null
	umask 077
	printf '%s\n' "$mtoken" >var/member.token
	printf '%s\n' "$ptoken" >var/publisher.token
	umask 022
	kill -TERM "$pid"
	tries=0
	while kill -0 "$pid" 2>/dev/null; do    # 10 s, then no more manners
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || kill -KILL "$pid" 2>/dev/null || true
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
	trap - EXIT INT TERM
	say "created organisation $org (Demo Energy SA) with a member" \
	    "(subscribed to energy, high and above), and a publisher"
fi

cat <<EOF

  tocsind is starting on $BASE (stream: ws://$WS/v1/stream).

  Tokens (mode 600):   var/admin.token  var/publisher.token  var/member.token
  Configuration:       var/tocsind.yaml
  PostgreSQL:          var/pg (port $PGPORT), log var/pg/postgresql.log

  In another terminal, listen as the member:

    ./tocsin -T var/member.token subscribe

  and publish as the publisher:

    curl -H "Authorization: Bearer \$(cat var/publisher.token)" \\
         -H "Content-Type: application/json" \\
         --data @deploy/demo-advisory.json $BASE/v1/advisories

  Read it back as the member:

    curl -H "Authorization: Bearer \$(cat var/member.token)" $BASE/v1/advisories

  The member (and the organisation's security contact, for items naming
  it) also gets it by e-mail: a local catcher on $MAIL keeps each
  message in var/mail/NNNN.eml and prints a line here. Check one with:

    openssl smime -verify -in var/mail/0001.eml -CAfile var/smime.crt -out /dev/null

  Stop with Ctrl-C (SIGTERM works too).

EOF
# The catcher ends with tocsind (this process, once exec'd).
"$PY" deploy/mail-catcher.py "$MAIL" "$top/var/mail" $$ &
exec ./tocsind -c "$CFG"
