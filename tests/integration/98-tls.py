#!/usr/bin/python3
"""98-tls: both listeners over TLS from tls.cert/tls.key (tocsind.yaml(5),
"tls"). A test CA and server certificates are made with the openssl CLI.
HTTPS REST and the WSS stream work with `tocsin --cacert ca.pem`; the
client refuses the server without the CA (exit 3); plain HTTP sent to either
TLS port gets no HTTP answer (no page, no redirect); SIGHUP with a new
certificate in place gives new connections on both listeners the new one
(its serial, read with Python's ssl) while a stream opened before keeps
going; a reload whose key does not match is refused and the running
certificate kept."""

import ssl

from harness import *
from tlsutil import *

def tocsin(args, timeout=60):
    log("$ tocsin " + " ".join(args))
    env = {k: v for k, v in os.environ.items()
           if k not in ("TOCSIN_URL", "TOCSIN_TOKEN", "TOCSIN_WS_URL")}
    p = subprocess.run([TOCSIN] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    log("  exit %d" % p.returncode)
    for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
        for line in text.splitlines()[:40]:
            log("  %s| %s" % (name, line))
    check_sanitizers(p.stdout + p.stderr, "tocsin")
    return p


_state = {}


def daemon():
    if "d" not in _state:
        crt, key = make_cert("first", 0x1001)
        live_crt = os.path.join(TLSDIR, "live.crt")
        live_key = os.path.join(TLSDIR, "live.key")
        install(crt, key, live_crt, live_key)
        d = TLSDaemon(new_database("tls"), live_crt, live_key)
        pub = d.principal("publisher")
        org = d.make_org()
        member = d.principal("member", org["id"])
        r = d.api("POST", "/v1/subscriptions", member["token"],
                  json={"name": "all", "filter": {}, "channels": ["ws"]})
        eq(r.status, 201, "create a ws subscription")
        _state.update(d=d, pub=pub, member=member, crt=live_crt,
                      key=live_key)
    return _state["d"]


@test
def https_rest_and_discovery():
    d = daemon()
    r = d.api("GET", "/healthz")
    eq(r.status, 200, "GET /healthz over HTTPS")
    r = d.api("GET", "/v1")
    eq(r.status, 200, "GET /v1")
    eq(r.body["stream_url"], d.ws_url, "stream_url of a TLS daemon")
    eq(served_serial(d.http_port), 0x1001, "REST certificate serial")
    eq(served_serial(d.ws_port), 0x1001, "stream certificate serial")


@test
def client_with_cacert_publishes_and_subscribes():
    d = daemon()
    pub = _state["pub"]
    ca = make_ca()[1]
    doc = os.path.join(WORKDIR, "tls-advisory.json")
    with open(doc, "w") as f:
        jsonlib.dump(advisory(title="Over TLS"), f)
    p = tocsin(["-u", d.url, "-t", pub["token"], "--cacert", ca, "publish",
                doc])
    eq(p.returncode, 0, "tocsin --cacert publish exit status")
    p = tocsin(["-u", d.url, "-t", pub["token"], "--cacert", ca, "list"])
    eq(p.returncode, 0, "tocsin --cacert list exit status")
    assert "Over TLS" in p.stdout, "list does not show the advisory"
    # subscribe over wss (discovered from GET /v1): replays from 0, then
    # stops at once when asked with --max-retries and a bounded time.
    sub = subprocess.Popen([TOCSIN, "-u", d.url, "-t",
                            _state["member"]["token"],
                            "--cacert", ca, "subscribe", "--since", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    try:
        line = None
        deadline = time.monotonic() + 20
        import select
        while time.monotonic() < deadline:
            r, _, _ = select.select([sub.stdout], [], [], 1)
            if r:
                line = sub.stdout.readline().decode()
                break
        assert line, "tocsin subscribe over wss printed nothing"
        ev = jsonlib.loads(line)
        eq(ev["data"]["title"], "Over TLS", "event over wss")
    finally:
        sub.send_signal(signal.SIGTERM)
        out, err = sub.communicate(timeout=15)
        log("  subscriber stderr| " + err.decode()[:2000])
        check_sanitizers(err.decode(), "tocsin subscribe")


@test
def client_refuses_unknown_ca():
    d = daemon()
    pub = _state["pub"]
    # No --cacert: the system store does not know the test CA.
    p = tocsin(["-u", d.url, "-t", pub["token"], "list"])
    eq(p.returncode, 3, "tocsin list against an unknown CA")
    p = tocsin(["-u", d.url, "-t", pub["token"], "-w", d.ws_url, "subscribe",
                "--max-retries", "2"])
    eq(p.returncode, 3, "tocsin subscribe against an unknown CA")
    # Another CA's certificate does not do either.
    other = os.path.join(TLSDIR, "other-ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            os.path.join(TLSDIR, "other-ca.key"), "-out", other, "-days", "1",
            "-subj", "/CN=another CA")
    p = tocsin(["-u", d.url, "-t", pub["token"], "--cacert", other, "list"])
    eq(p.returncode, 3, "tocsin list with another CA")


def plain_answer(port):
    """What a plain-HTTP request to a TLS port gets back (bytes)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        try:
            while len(got) < 65536:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
    return got


@test
def plain_http_is_refused():
    d = daemon()
    for port, what in ((d.http_port, "REST"), (d.ws_port, "stream")):
        got = plain_answer(port)
        log("plain HTTP to the %s port got %r" % (what, got[:80]))
        assert b"HTTP/" not in got, \
            "the %s TLS port answered plain HTTP: %r" % (what, got[:200])
        assert b"Location" not in got, "redirect from the %s port" % what
    # and the daemon still serves TLS afterwards
    eq(d.api("GET", "/healthz").status, 200, "HTTPS after plain attempts")


async def _reload():
    d = daemon()
    pub = _state["pub"]
    ctx = ca_context()
    import websockets
    # A stream opened before the reload keeps going after it.
    ws = await websockets.connect(d.ws_url, ssl=ctx, extra_headers=[
        ("Authorization", "Bearer " + _state["member"]["token"])],
        ping_interval=None,
        max_size=None, open_timeout=10)
    try:
        crt, key = make_cert("second", 0x2002, keytype="rsa")
        install(crt, key, _state["crt"], _state["key"])
        mark = len(d.stderr_lines)
        d.signal(signal.SIGHUP)
        wait_until(lambda: any("tls: reloaded" in l
                               for l in d.stderr_lines[mark:]), 10,
                   "the reload's log line")
        eq(served_serial(d.http_port), 0x2002, "REST serial after SIGHUP")
        eq(served_serial(d.ws_port), 0x2002, "stream serial after SIGHUP")
        eq(d.api("GET", "/healthz").status, 200, "HTTPS after the reload")
        a = d.publish(pub["token"], title="After the reload")
        deadline = time.monotonic() + 15
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the old stream got nothing after the reload"
            m = jsonlib.loads(await asyncio.wait_for(ws.recv(), left))
            if m.get("data", {}).get("id") == a["id"]:
                break
    finally:
        await ws.close()

    # A key that does not match: refused, the running pair kept.
    crt3, key3 = make_cert("third", 0x3003)
    install(crt3, os.path.join(TLSDIR, "first.key"), _state["crt"],
            _state["key"])
    mark = len(d.stderr_lines)
    d.signal(signal.SIGHUP)
    wait_until(lambda: any("reload refused" in l
                           for l in d.stderr_lines[mark:]), 10,
               "the refused reload's log line")
    eq(served_serial(d.http_port), 0x2002, "REST serial after a bad reload")
    eq(served_serial(d.ws_port), 0x2002, "stream serial after a bad reload")
    # Put a good pair back, so the daemon is left as it should be.
    install(crt3, key3, _state["crt"], _state["key"])
    d.signal(signal.SIGHUP)
    wait_until(lambda: served_serial(d.http_port) == 0x3003, 10,
               "serial 0x3003 after the last reload")
    eq(served_serial(d.ws_port), 0x3003, "stream serial after the last reload")


@test
def sighup_reloads_certificate():
    asyncio.run(_reload())


@test
def unreadable_or_mismatched_pair_refuses_to_start():
    crt, _ = make_cert("fourth", 0x4004)
    _, other_key = make_cert("fifth", 0x5005)
    d = Daemon(new_database("tls_bad"), start=False,
               tls={"cert": crt, "key": other_key})
    p = subprocess.run([TOCSIND, "-c", d.cfg], capture_output=True,
                       text=True, timeout=30, env=TOCSIND_ENV)
    log(p.stderr)
    check_sanitizers(p.stderr, "tocsind")
    eq(p.returncode, 1, "exit status with a key that does not match")
    assert "does not match" in p.stderr, "no clear message: %r" % p.stderr


if __name__ == "__main__":
    main()
