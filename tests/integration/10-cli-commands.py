#!/usr/bin/python3
"""10-cli-commands: the daemon's command line (CONTRACT.md, "Daemon
commands"): --version, --help, check-config, migrate, bootstrap-admin,
SIGTERM and SIGHUP."""

import glob

from harness import *


def package_version():
    """The version configure.ac declares (AC_INIT)."""
    with open(os.path.join(SRCDIR, "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[tocsin\],\s*\[([^\]]+)\]", f.read())
    assert m, "no AC_INIT version in configure.ac"
    return m.group(1)


def write(name, text):
    path = os.path.join(WORKDIR, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def error_lines(path, output):
    """{line: message} of the FILE:LINE: message lines about path."""
    found = {}
    for line in output.splitlines():
        m = re.match(re.escape(path) + r":(\d+): (.+)$", line)
        if m:
            found.setdefault(int(m.group(1)), m.group(2))
    return found


def daemon():
    return shared_daemon("cli")


@test
def version_and_help():
    p = run_tocsind(["--version"])
    eq(p.returncode, 0, "--version exit status")
    assert package_version() in p.stdout, \
        "--version does not print %s: %r" % (package_version(), p.stdout)
    p = run_tocsind(["--help"])
    eq(p.returncode, 0, "--help exit status")
    for word in ("check-config", "migrate", "bootstrap-admin", "-c"):
        assert word in p.stdout, "--help on stdout does not mention %s" % word


@test
def unknown_command_is_usage_error():
    cfg = write("unknown-cmd.yaml", 'database: "%s"\n' % cluster().dsn())
    p = run_tocsind(["-c", cfg, "frobnicate"])
    assert p.returncode != 0, "an unknown command exited 0"
    p = run_tocsind(["--no-such-option"])
    assert p.returncode != 0, "an unknown option exited 0"


@test
def check_config_accepts_good_files():
    d = daemon()
    p = d.cmd("check-config")
    eq(p.returncode, 0, "check-config on the harness's config")
    # Every key of CONTRACT.md's example (tls and smime need real files).
    full = write("full.yaml", """\
listen:
  http: "127.0.0.1:%d"
  ws: "127.0.0.1:%d"
database: "%s"
public_url: "https://ews.example.be"
advisory_id_prefix: "CCB"
smtp:
  url: "smtp://127.0.0.1:25"
  from: "CCB Early Warning <ews@example.be>"
webhooks:
  timeout_s: 10
  allow_private_networks: false
limits:
  max_body_bytes: 1048576
  ws_send_queue_bytes: 1048576
retention:
  deliveries_days: 90
templates: "%s"
log: { level: info }
""" % (free_port(), free_port(), cluster().dsn(), os.path.join(SRCDIR, "templates")))
    p = run_tocsind(["-c", full, "check-config"])
    eq(p.returncode, 0, "check-config on the contract's example")


@test
def check_config_reports_every_error_with_its_line():
    bad = write("bad.yaml", """\
listen:
  http: "127.0.0.1:%d"
  ws: "127.0.0.1:%d"
database: "%s"
colour: "blue"
limits:
  max_body_bytes: "lots"
webhooks:
  timeout_s: -5
log:
  level: "loud"
""" % (free_port(), free_port(), cluster().dsn()))
    p = run_tocsind(["-c", bad, "check-config"])
    eq(p.returncode, 1, "check-config exit status on a bad file")
    found = error_lines(bad, p.stdout + p.stderr)
    # unknown key, wrong type, impossible value, impossible value
    for line in (5, 7, 9, 11):
        assert line in found, "no %s:%d: error; got %r" % (bad, line, found)
    assert "colour" in found[5], "line 5 does not name the key: %r" % found[5]
    # The daemon itself refuses to start on it, the same way.
    p = run_tocsind(["-c", bad], timeout=30)
    eq(p.returncode, 1, "tocsind on a bad file")
    assert error_lines(bad, p.stdout + p.stderr), "no FILE:LINE: on start-up"


@test
def check_config_yaml_syntax_and_missing_file():
    broken = write("broken.yaml", 'database: "x"\nlisten: [unclosed\n')
    p = run_tocsind(["-c", broken, "check-config"])
    eq(p.returncode, 1, "check-config on broken YAML")
    assert error_lines(broken, p.stdout + p.stderr), \
        "no FILE:LINE: for a YAML syntax error"
    missing = os.path.join(WORKDIR, "does-not-exist.yaml")
    p = run_tocsind(["-c", missing, "check-config"])
    eq(p.returncode, 1, "check-config on a missing file")
    assert missing in p.stderr, "the error does not name the missing file"
    nodb = write("nodb.yaml", 'log: { level: info }\n')
    p = run_tocsind(["-c", nodb, "check-config"])
    eq(p.returncode, 1, "check-config without the database key")


def schema_tables():
    """Tables the schema files create."""
    names = set()
    for path in glob.glob(os.path.join(SRCDIR, "schema", "*.sql")):
        with open(path) as f:
            names |= set(re.findall(r"(?im)^\s*CREATE TABLE\s+(?:IF NOT EXISTS\s+)?(\w+)",
                                    f.read()))
    assert names, "no CREATE TABLE in schema/*.sql"
    return names


def schema_fingerprint(db):
    cols = db.sql("SELECT table_name, column_name, data_type FROM "
                  "information_schema.columns WHERE table_schema = 'public' "
                  "ORDER BY 1, 2")
    idx = db.sql("SELECT indexname, indexdef FROM pg_indexes "
                 "WHERE schemaname = 'public' ORDER BY 1")
    return cols, idx, db.snapshot()


@test
def migrate_creates_schema_and_is_idempotent():
    db = new_database("migrate")
    d = Daemon(db, bootstrap=False, start=False)   # migrate ran once
    have = db.tables()
    missing = schema_tables() - have
    assert not missing, "migrate did not create %s" % sorted(missing)
    before = schema_fingerprint(db)
    p = d.cmd("migrate")
    eq(p.returncode, 0, "second migrate exit status")
    eq(schema_fingerprint(db), before, "schema after a second migrate")
    p = d.cmd("migrate")
    eq(p.returncode, 0, "third migrate exit status")


@test
def migrate_fails_cleanly_without_database():
    dead = "host=127.0.0.1 port=%d user=postgres dbname=x connect_timeout=3" \
        % free_port()
    cfg = write("dead.yaml", 'database: "%s"\n' % dead)
    p = run_tocsind(["-c", cfg, "migrate"])
    assert p.returncode != 0, "migrate against no database exited 0"


@test
def bootstrap_admin_token_works_and_is_not_kept():
    d = daemon()
    tok = d.admin_token
    assert len(tok) >= 43, "token shorter than 32 random bytes encoded"
    r = d.api("GET", "/v1/organisations", tok)
    eq(r.status, 200, "GET /v1/organisations with the admin token")
    r = d.api("GET", "/v1/organisations", tok[:-1] + ("A" if tok[-1] != "A" else "B"))
    problem_ok(r, 401)
    # The admin can make users and tokens: the bootstrap is complete.
    pub = d.principal("publisher")
    r = d.api("GET", "/v1/advisories", pub["token"])
    eq(r.status, 200, "GET /v1/advisories with a token the admin made")
    # Shown once: never in a log, never in the database in clear.
    assert tok not in d.stderr(), "the admin token appears in the daemon's log"
    dump = subprocess.run([os.path.join(PGBIN, "pg_dump"), "-a", "-d", d.db.dsn],
                          capture_output=True, text=True, timeout=60)
    eq(dump.returncode, 0, "pg_dump exit status")
    for t in (tok, pub["token"]):
        assert t not in dump.stdout, "a token is stored in clear"


@test
def a_port_in_use_is_a_clear_error():
    """listen.http or metrics.listen on a port something else holds: exit
    1 at start with the key and the address, nothing served."""
    import socket
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    busy = "127.0.0.1:%d" % held.getsockname()[1]
    try:
        for key, over in (("listen.http", {"listen": {"http": busy}}),
                          ("metrics.listen", {"metrics": {"listen": busy}})):
            d = Daemon(new_database("busy"), start=False, **over)
            p = d.cmd(timeout=30)
            eq(p.returncode, 1, "exit status with %s busy" % key)
            assert "%s: cannot listen on %s" % (key, busy) in p.stderr, \
                "no clear message for %s: %r" % (key, p.stderr)
    finally:
        held.close()


@test
def a_key_file_that_cannot_be_made_is_a_clear_error():
    """key_file or webhooks.signing_key where no file can be created: exit
    1 at start naming the file, nothing served."""
    for key, over in (("key_file", {"key_file": "/proc/tocsin/server.key"}),
                      ("webhooks.signing_key",
                       {"webhooks": {"signing_key":
                                     "/proc/tocsin/signing.pem"}})):
        d = Daemon(new_database("nokey"), start=False, **over)
        p = d.cmd(timeout=30)
        eq(p.returncode, 1, "exit status with %s unwritable" % key)
        assert "/proc/tocsin/" in p.stderr and "cannot create" in p.stderr, \
            "no clear message for %s: %r" % (key, p.stderr)


@test
def sigterm_exits_zero_within_10s():
    db = new_database("sigterm")
    d = Daemon(db)
    pub = d.principal("publisher")
    d.publish(pub["token"])
    t0 = time.monotonic()
    d.stop()                        # asserts exit 0 within 10 s
    log("stopped in %.2fs" % (time.monotonic() - t0))
    try:
        d.api("GET", "/healthz", timeout=2)
        raise AssertionError("still answering after SIGTERM")
    except OSError:
        pass
    # Restartable on the same data.
    d.start()
    eq(d.api("GET", "/v1/advisories", pub["token"]).status, 200, "after restart")


@test
def sighup_keeps_serving():
    d = daemon()
    pub = d.principal("publisher")
    d.config["log"] = {"level": "info"}
    d.write_config()
    for _ in range(3):
        d.signal(signal.SIGHUP)
        # Still serving: each request below must find it alive.
        for _ in range(5):
            assert d.alive(), "tocsind exited on SIGHUP"
            eq(d.api("GET", "/healthz").status, 200, "/healthz after SIGHUP")
    r = d.api("GET", "/v1/advisories", pub["token"])
    eq(r.status, 200, "authenticated request after SIGHUP")
    d.publish(pub["token"])
    # A broken file on SIGHUP is refused; the daemon keeps its config.
    with open(d.cfg, "a") as f:
        f.write("no_such_key: 1\n")
    d.signal(signal.SIGHUP)
    for _ in range(5):
        assert d.alive(), "tocsind exited on SIGHUP with a bad file"
        eq(d.api("GET", "/healthz").status, 200, "/healthz after a bad reload")
    d.write_config()


if __name__ == "__main__":
    main()
