#!/usr/bin/python3
"""00-harness-selftest: the harness itself, without tocsind: the shared
cluster, databases and snapshots, a private cluster, the HTTP helper and
problem_ok against a stub server, the WebSocket helper against a stub
stream. If this fails, the other tests' verdicts mean nothing."""

import http.server

from harness import *


@test
def shared_cluster_and_snapshots():
    db = new_database("selftest")
    eq(db.scalar("SELECT current_database()"), db.name, "database")
    db.sql("CREATE TABLE advisories (id int, title text)")
    db.sql("CREATE TABLE tokens (id int, revoked_at timestamptz, "
           "last_used_at timestamptz)")
    db.sql("INSERT INTO tokens VALUES (1, NULL, NULL)")
    with db.unchanged("reading"):
        db.sql("SELECT * FROM advisories")
        db.sql("UPDATE tokens SET last_used_at = now()")   # allowed
    for change in ("INSERT INTO advisories VALUES (1, 'x')",
                   "UPDATE advisories SET title = 'y'",
                   "UPDATE tokens SET revoked_at = now()"):
        try:
            with db.unchanged(change):
                db.sql(change)
        except AssertionError as e:
            log("detected: %s" % e)
        else:
            raise AssertionError("unchanged() missed: " + change)
    # A second database of the same name starts empty.
    eq(new_database("selftest").tables(), set(), "tables of a recreated database")


@test
def private_cluster_stops_and_starts():
    pg = PrivateCluster("pg-selftest").start()
    db = new_database("one", on=pg)
    db.sql("CREATE TABLE t (x int)")
    pg.stop()
    try:
        db.sql("SELECT 1")
        raise AssertionError("query worked on a stopped cluster")
    except AssertionError as e:
        assert "psql failed" in str(e), e
    pg.start()
    eq(db.scalar("SELECT count(*) FROM t"), "0", "data kept across restart")
    pg.stop()


class Stub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
            return
        body = jsonlib.dumps({"type": "/problems/invalid-field",
                              "title": "Invalid field", "status": 422,
                              "detail": "audience.users is empty",
                              "field": "audience.users"}).encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@test
def http_helper_and_problem_ok():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        r = request(base, "GET", "/x")
        problem_ok(r, 422, "audience")
        problem_ok(r, 422, "audience.users")
        for args in ((r, 422, "audience.use"), (r, 400), (r, 422, "tlp")):
            try:
                problem_ok(*args)
            except AssertionError:
                continue
            raise AssertionError("problem_ok accepted %r" % (args[1:],))
        eq(request(base, "GET", "/redirect").status, 302, "redirects not followed")
    finally:
        srv.shutdown()


@test
async def stream_helper():
    import websockets
    got = []

    async def handler(ws, path):
        got.append((path, ws.request_headers.get("Authorization")))
        await ws.send(jsonlib.dumps({"type": "ready", "last_event_id": 7}))
        await ws.send(jsonlib.dumps({"type": "advisory.published",
                                     "event_id": 8, "tlp": "CLEAR", "data": {}}))
        msg = jsonlib.loads(await ws.recv())
        if msg.get("type") == "bye":
            await ws.close(4401, "go away")

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with Stream("ws://127.0.0.1:%d/v1/stream" % port, "tok",
                          since=5) as s:
            m = await s.recv_until(lambda m: m["type"] == "advisory.published", 5)
            eq(m["event_id"], 8, "event_id")
            eq(len(s.messages), 2, "messages kept")
            await s.expect_nothing(0.3)
            await s.send({"type": "bye"})
            try:
                await s.recv(5)
                raise AssertionError("no close")
            except StreamClosed as e:
                eq(e.code, 4401, "close code")
    eq(got, [("/v1/stream?since=5", "Bearer tok")], "request seen by the server")


@test
def yaml_writer():
    text = to_yaml(merge({"listen": {"http": "a:1", "ws": "b:2"}, "log": {},
                          "x": [1, "two"], "drop": 1},
                         {"listen": {"ws": "c:3"}, "drop": None, "t": True}))
    eq(text, 'listen:\n  http: "a:1"\n  ws: "c:3"\nlog: {}\nx: [1, "two"]\n'
       't: true', "YAML")


if __name__ == "__main__":
    main()
