#!/usr/bin/python3
"""94-stream-slow-reader: back-pressure (CONTRACT.md: "A client that reads
too slowly (its queue passes ws_send_queue_bytes) is closed with code 1008
and resumes"). With limits.ws_send_queue_bytes at 256 KiB and items of
about 30 KB (so that a few items fetched together never pass the limit for
a reader that keeps up), two subscribers stop reading: a raw socket that completed the
handshake with a tiny receive buffer and never reads, and a
python-websockets client whose reading stops at one queued message. Both
are cut (the daemon says so in its log; the websockets one sees close code
1008 once it reads again; the raw one sees the server end the TCP
connection), while a subscriber that reads keeps receiving every item, in
order, without a gap, and afterwards the cut one resumes from the last item
it got and misses nothing."""

import select

from harness import *

ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")
QUEUE = 262144
BIG = "x" * 30000
SLOW_LOG = re.compile(r"stream: user (\d+): slow reader closed")


def subscribe(d, token):
    r = d.api("POST", "/v1/subscriptions", token,
              json={"name": "all", "filter": {}, "channels": ["ws"]})
    assert r.status == 201, "create subscription: %d %r" % r[::2]


class RawClient:
    """A WebSocket handshake by hand on a socket with a 4 KiB receive
    buffer; then it reads nothing until told to."""

    def __init__(self, port, token):
        self.sock, self.buf = raw_stream_socket(port, token, rcvbuf=4096)

    def drain(self, timeout):
        """Read until the server closes the connection; (bytes, seconds
        until end of file, or None if it did not close)."""
        t0 = time.monotonic()
        self.sock.setblocking(False)
        while time.monotonic() - t0 < timeout:
            r, _, _ = select.select([self.sock], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                return self.buf, time.monotonic() - t0
            if not chunk:
                return self.buf, time.monotonic() - t0
            self.buf += chunk
        return self.buf, None

    def close(self):
        self.sock.close()


def frames(data):
    """Server frames in data: [(opcode, payload)]; a truncated last frame
    is left out."""
    out = []
    while (f := ws_server_frame(data)) is not None:
        out.append(f[:2])
        data = data[f[2]:]
    return out


@test
async def slow_readers_are_cut_with_1008_others_keep_receiving():
    import websockets
    d = Daemon(new_database("slow_reader"), limits={
        "ws_send_queue_bytes": QUEUE})
    org = d.make_org()
    good, raw_p, slow_p = (d.principal("member", org["id"]) for _ in range(3))
    for p in (good, raw_p, slow_p):
        subscribe(d, p["token"])
    pub = d.principal("publisher")["token"]

    # The reader that keeps up, reading in its own task.
    g = Stream(d.ws_url, good["token"])
    await g.connect()
    await g.recv_until(lambda m: m["type"] == "ready", 10)
    g_items = []

    async def reader():
        while True:
            m = await g.recv(120)
            if m["type"] in ITEM_TYPES:
                g_items.append(m["event_id"])
            elif m["type"] != "ready":
                raise AssertionError("good reader got %r" % m)
    g_task = asyncio.ensure_future(reader())

    # The websockets client that stops reading after one message.
    slow = Stream(d.ws_url, slow_p["token"])
    slow.ws = await websockets.connect(
        slow.url, extra_headers=slow.headers, ping_interval=None,
        max_size=None, max_queue=1, read_limit=4096, close_timeout=2)
    raw = RawClient(d.ws_port, raw_p["token"])

    def cut():
        return {int(u) for u in SLOW_LOG.findall(d.stderr())} & \
            {raw_p["id"], slow_p["id"]}

    published = []
    for i in range(400):
        a = await asyncio.to_thread(d.publish, pub, title="big %d" % i,
                                    body=BIG)
        published.append(a["event_id"])
        if len(cut()) == 2:
            break
    log("%d items of %d bytes published before both slow readers were cut"
        % (len(published), len(BIG)))
    eq(cut(), {raw_p["id"], slow_p["id"]},
       "users whose connections the daemon logged as slow readers")
    assert good["id"] not in {int(u) for u in SLOW_LOG.findall(d.stderr())}, \
        "the reader that keeps up was cut"

    # The websockets client reads again: what was sent, then 1008.
    slow_items, code = [], None
    try:
        while True:
            m = await slow.recv(15)
            if m["type"] in ITEM_TYPES:
                slow_items.append(m["event_id"])
    except StreamClosed as e:
        code = e.code
    eq(code, 1008, "close code seen by the websockets client")
    assert len(slow_items) < len(published), "it was not cut short"
    eq(slow_items, published[:len(slow_items)],
       "what the slow client got before the close (a prefix, in order)")

    # The raw one: the server ends the connection (within its grace period
    # of a few seconds); if the close frame got through, it says 1008.
    data, after = raw.drain(15)
    raw.close()
    assert after is not None, "the server kept the raw slow reader open"
    fr = frames(data)
    closes = [p for op, p in fr if op == 0x8]
    log("raw slow reader: %d bytes, %d frames, close frames %r, EOF after "
        "%.2f s" % (len(data), len(fr), closes, after))
    if closes:
        eq(int.from_bytes(closes[0][:2], "big"), 1008, "raw close code")
    raw_items = [jsonlib.loads(p)["event_id"] for op, p in fr if op == 0x1
                 and jsonlib.loads(p)["type"] in ITEM_TYPES]
    eq(raw_items, published[:len(raw_items)], "raw reader's items")
    assert len(raw_items) < len(published), "the raw reader was not cut short"

    # The others keep receiving: every item so far, and more.
    more = [d.publish(pub, title="after the cut %d" % i)["event_id"]
            for i in range(3)]
    deadline = time.monotonic() + 20
    while not (g_items and g_items[-1] == more[-1]):
        assert not g_task.done(), "good reader: %r" % g_task.exception()
        assert time.monotonic() < deadline, "good reader stalled at %r" % (
            g_items[-3:],)
        await asyncio.sleep(0.05)
    eq(g_items, published + more, "every item, once, in order, to the "
       "subscriber that reads")
    g_task.cancel()
    await g.close()

    # The cut subscriber resumes from the last item it got: nothing lost.
    last = slow_items[-1] if slow_items else 0
    async with Stream(d.ws_url, slow_p["token"], since=last) as s:
        ready = await s.recv_until(lambda m: m["type"] == "ready", 20)
        eq([m["event_id"] for m in s.messages if m["type"] in ITEM_TYPES],
           [e for e in published + more if e > last],
           "replay after the 1008")
        eq(ready["last_event_id"], more[-1])
    d.stop()


if __name__ == "__main__":
    main()
