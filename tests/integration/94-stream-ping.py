#!/usr/bin/python3
"""94-stream-ping: pings and the idle hang-up (CONTRACT.md: "The server
pings every 30 s"; tocsind.yaml(5) stream.ping_interval_s). With
stream.ping_interval_s at 2 (so a silent peer is pinged after 2 s and hung
up on 10 s after an unanswered ping, 12 s after its last frame):

- peers that answer pings stay connected well past the hang-up time: a raw
  client that answers each ping by hand (and counts them) and a
  python-websockets client (which answers by itself), while items of
  20 KB are published, so that pings fall between messages; both then get
  every item, in order, and the raw one's frames are all well formed;
- a raw client that reads but never answers is pinged once, then the
  server ends the TCP connection 12-13 s after the handshake (not before
  11 s, not after 16 s) and says why in its log."""

import select
import threading

from harness import *

PING = 2
HANGUP = PING + 10
BODY = "y" * 20000
HANGUP_LOG = re.compile(r"stream: user (\d+): no pong; hanging up")


class RawClient:
    """The WebSocket handshake by hand; then frames are read as they come,
    pings answered or not (answer=False)."""

    def __init__(self, port, token, answer):
        self.answer = answer
        self.sock, self.buf = raw_stream_socket(port, token)
        self.t0 = time.monotonic()
        self.pings = []		# seconds after the handshake
        self.texts = []		# parsed messages
        self.closes = []	# close frame payloads
        self.eof = None		# seconds after the handshake
        self.stop = threading.Event()

    def _frame(self):
        """One whole server frame off self.buf: (opcode, payload) or None."""
        f = ws_server_frame(self.buf)
        if f is None:
            return None
        self.buf = self.buf[f[2]:]
        return f[0], f[1]

    def _send(self, op, payload):
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | op, 0x80 | len(payload)]) + mask +
                          bytes(c ^ mask[j % 4] for j, c in
                                enumerate(payload)))

    def run(self, seconds):
        """Read for this long, or until the server ends the connection."""
        self.sock.setblocking(False)
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.eof is None:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = time.monotonic() - self.t0
                break
            self.buf += chunk
            while (f := self._frame()) is not None:
                op, payload = f
                if op == 0x9:
                    self.pings.append(time.monotonic() - self.t0)
                    if self.answer:
                        self._send(0xA, payload)
                elif op == 0x1:
                    self.texts.append(jsonlib.loads(payload))
                elif op == 0x8:
                    self.closes.append(payload)
                else:
                    raise AssertionError("unexpected opcode %d" % op)

    def close(self):
        self.sock.close()


def daemon(name):
    d = Daemon(new_database(name), stream={"ping_interval_s": PING})
    org = d.make_org()
    p = d.principal("member", org["id"])
    r = d.api("POST", "/v1/subscriptions", p["token"],
              json={"name": "all", "filter": {}, "channels": ["ws"]})
    assert r.status == 201, "create subscription: %d %r" % r[::2]
    return d, p


@test
async def peers_that_answer_pings_stay_connected():
    d, member = daemon("ping_answered")
    pub = d.principal("publisher")["token"]
    raw = RawClient(d.ws_port, member["token"], answer=True)
    s = Stream(d.ws_url, member["token"])
    await s.connect()
    await s.recv_until(lambda m: m["type"] == "ready", 10)

    # Both read while items are published, past the hang-up time.
    span = HANGUP + 4
    reading = asyncio.ensure_future(asyncio.to_thread(raw.run, span + 3))
    published = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < span:
        a = await asyncio.to_thread(d.publish, pub, title="item %d"
                                    % len(published), body=BODY)
        published.append(a["event_id"])
        await asyncio.sleep(0.7)
    got = []
    while len(got) < len(published):
        m = await s.recv(10)
        if m["type"] != "ready":
            got.append(m["event_id"])
    await reading

    log("raw client: pings at %s s; %d messages; eof %r"
        % (["%.1f" % t for t in raw.pings], len(raw.texts), raw.eof))
    eq(raw.eof, None, "the server ended the connection of a peer that "
       "answers pings after (s)")
    eq(raw.closes, [], "close frames to a peer that answers pings")
    assert len(raw.pings) >= span // (PING + 1), \
        "%d pings in %d s with ping_interval_s %d" % (len(raw.pings), span,
                                                      PING)
    gaps = [b - a for a, b in zip([0] + raw.pings, raw.pings)]
    assert min(gaps) >= PING - 0.5, "pings closer than the interval: %r" % (
        gaps,)
    eq([m["type"] for m in raw.texts[:1]], ["ready"], "raw client's first")
    eq([m["event_id"] for m in raw.texts[1:]], published,
       "raw client: every item, in order, pings between them")
    eq(got, published, "websockets client: every item, in order")
    assert s.close_code is None, "websockets client closed: %r" % (
        s.close_code,)
    eq(HANGUP_LOG.findall(d.stderr()), [], "hang-ups in the daemon's log")

    # And they are still there for the next one.
    a = d.publish(pub, title="after")
    m = await s.recv(10)
    eq(m["event_id"], a["event_id"], "websockets client, afterwards")
    raw.run(5)
    eq(raw.texts[-1]["event_id"], a["event_id"], "raw client, afterwards")
    raw.close()
    await s.close()
    d.stop()


@test
def silent_peers_are_hung_up():
    d, member = daemon("ping_unanswered")
    raw = RawClient(d.ws_port, member["token"], answer=False)
    raw.run(HANGUP + 8)
    raw.close()
    log("silent client: pings at %s s; eof at %r s; close frames %r"
        % (["%.1f" % t for t in raw.pings], raw.eof, raw.closes))
    assert raw.eof is not None, "the server kept a peer that never " \
        "answers a ping for %d s" % (HANGUP + 8)
    eq(len(raw.pings), 1, "pings before the hang-up (one, unanswered)")
    assert PING - 0.5 <= raw.pings[0] <= PING + 1.5, \
        "first ping after %.1f s" % raw.pings[0]
    assert HANGUP - 1 <= raw.eof <= HANGUP + 4, \
        "hung up after %.1f s; expected %d-%d s" % (raw.eof, HANGUP,
                                                    HANGUP + 2)
    wait_until(lambda: HANGUP_LOG.search(d.stderr()), 5, "the hang-up logged")
    eq([int(u) for u in HANGUP_LOG.findall(d.stderr())], [member["id"]],
       "hang-ups in the daemon's log")
    d.stop()


if __name__ == "__main__":
    main()
