#!/usr/bin/python3
"""mail-catcher.py: a local SMTP server for the demo (deploy/demo.sh).

    /usr/bin/python3 deploy/mail-catcher.py HOST:PORT DIR [PID]

Accepts every message (Debian's python3-aiosmtpd), writes each one to
DIR/NNNN.eml as received, and prints one line per message: the recipient,
the decoded Subject, the file. Read a message with any mail reader, or
check its signature with:

    openssl smime -verify -in DIR/0001.eml -noverify -out /dev/null

Exits when process PID (the demo's tocsind) is gone, or on Ctrl-C. Never
expose it: it keeps whatever anyone sends it.
"""

import email
import email.policy
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)
    out = sys.argv[2]
    parent = int(sys.argv[3]) if len(sys.argv) == 4 else 0
    os.makedirs(out, exist_ok=True)
    lock = threading.Lock()
    count = [len([f for f in os.listdir(out) if f.endswith(".eml")])]

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with lock:
                count[0] += 1
                path = os.path.join(out, "%04d.eml" % count[0])
            with open(path, "wb") as f:
                f.write(envelope.content)
            msg = email.message_from_bytes(envelope.content,
                                           policy=email.policy.default)
            print("mail-catcher: to %s: %s -> %s" % (
                ", ".join(envelope.rcpt_tos), msg["Subject"], path),
                flush=True)
            return "250 Message accepted"

    ctl = Controller(Handler(), hostname=host, port=int(port))
    ctl.start()
    print("mail-catcher: listening on %s:%s, messages in %s" % (host, port,
                                                                out),
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.is_set():
        if parent:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                break
        stop.wait(1)
    ctl.stop()


if __name__ == "__main__":
    main()
