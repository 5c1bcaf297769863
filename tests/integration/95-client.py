#!/usr/bin/python3
"""95-client: tocsin(1) against a real tocsind (CONTRACT.md, "Client";
man/tocsin.1). subscribe prints each event once (jsonl and text), and
killed with SIGKILL then started again with the same --state prints
exactly what it missed; --exec runs once per event; exit statuses 0, 1
(usage), 2 (authentication refused), 3 (unreachable, within the retry
bound of the man page), 4 (request refused); publish, get, list;
TOCSIN_URL, TOCSIN_TOKEN and -T."""

from harness import *

ITEM_TYPES = ("advisory.published", "advisory.updated", "advisory.revoked",
              "warning.issued")
CLIENT_ENV_KEYS = ("TOCSIN_URL", "TOCSIN_TOKEN", "TOCSIN_WS_URL")

# man/tocsin.1, subscribe: the delay before attempt n+1 starts at 0.5 s and
# doubles after each failed attempt, up to 30 s, each shortened at random
# by up to a quarter; a refused connection takes no time to fail.
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0


def backoff_bound(attempts):
    """(least, most) seconds spent waiting between `attempts` attempts."""
    most = sum(min(BACKOFF_MIN * 2 ** n, BACKOFF_MAX)
               for n in range(attempts - 1))
    return 0.75 * most, most


def client_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_ENV_KEYS}
    env.update(extra or {})
    return env


def tocsin(args, env=None, timeout=30, stdin=None):
    """Run ./tocsin to completion; log it; fail on a sanitizer report."""
    assert os.access(TOCSIN, os.X_OK), "%s is not built" % TOCSIN
    log("$ tocsin " + " ".join(args))
    t0 = time.monotonic()
    p = subprocess.run([TOCSIN] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=client_env(env), input=stdin)
    p.elapsed = time.monotonic() - t0
    log("  exit %d after %.2f s" % (p.returncode, p.elapsed))
    for name, text in (("stdout", p.stdout), ("stderr", p.stderr)):
        for line in text.splitlines()[:60]:
            log("  %s| %s" % (name, line))
    check_sanitizers(p.stdout + p.stderr, "tocsin " + " ".join(args))
    return p


class Subscriber:
    """`tocsin ... subscribe ARGS` running in the background; its stdout
    lines in .lines, its stderr logged."""

    def __init__(self, d, token, *args, env=None, globals_=(), url=True):
        assert os.access(TOCSIN, os.X_OK), "%s is not built" % TOCSIN
        cmd = [TOCSIN] + (["-u", d.url] if url else []) + \
            (["-t", token] if token else []) + \
            list(globals_) + ["subscribe"] + list(args)
        log("$ " + " ".join(cmd[1:]) + " &")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL,
                                     env=client_env(env))
        self.lines, self.err = [], []
        self.t_out = threading.Thread(target=self._read, args=(
            self.proc.stdout, self.lines, "out"), daemon=True)
        self.t_err = threading.Thread(target=self._read, args=(
            self.proc.stderr, self.err, "err"), daemon=True)
        self.t_out.start()
        self.t_err.start()

    @staticmethod
    def _read(f, into, name):
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            into.append(line)
            log("  subscriber %s| %s" % (name, line[:300]))

    def wait_lines(self, n, timeout=15):
        wait_until(lambda: len(self.lines) >= n or self.proc.poll() is not None,
                   timeout, "%d lines from tocsin subscribe (have %d)"
                   % (n, len(self.lines)))
        assert len(self.lines) >= n, "tocsin subscribe exited %s after %d " \
            "lines" % (self.proc.returncode, len(self.lines))
        return self.lines[:n]

    def wait_exit(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("tocsin subscribe still running after %ss"
                                 % timeout)
        self.t_out.join(5)
        self.t_err.join(5)
        check_sanitizers("\n".join(self.err), "tocsin subscribe")
        return self.proc.returncode

    def terminate(self):
        """SIGTERM: exit status 0 (man page, EXIT STATUS)."""
        self.proc.send_signal(signal.SIGTERM)
        eq(self.wait_exit(10), 0, "tocsin subscribe exit status after SIGTERM")

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.t_out.join(5)
        self.t_err.join(5)


_subscribers = []


def subscriber(*a, **kw):
    s = Subscriber(*a, **kw)
    _subscribers.append(s)
    return s


def kill_subscribers():
    while _subscribers:
        s = _subscribers.pop()
        if s.proc.poll() is None:
            s.kill()


def client_test(fn):
    """A test whose background subscribers are killed when it ends."""
    def run():
        try:
            fn()
        finally:
            kill_subscribers()
    run.__name__ = fn.__name__
    return test(run)


def read_state(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def wait_state(path, want, timeout=15):
    wait_until(lambda: read_state(path) == want, timeout,
               "state file %s holding %s (has %s)" % (path, want,
                                                       read_state(path)))


def last_event_id(d):
    return int(d.db.scalar("SELECT coalesce(max(event_id), 0) FROM events"))


class World:
    """A daemon shared by the tests, an organisation, a subscribed member,
    a publisher, and another organisation for hidden items."""

    def __init__(self):
        self.d = d = shared_daemon("client")
        self.org = d.make_org(sectors=["energy"])
        self.other = d.make_org(sectors=["health"])
        self.member = d.principal("member", self.org["id"])
        r = d.api("POST", "/v1/subscriptions", self.member["token"],
                  json={"name": "all", "filter": {}, "channels": ["ws"]})
        eq(r.status, 201, "subscription")
        self.pub = d.principal("publisher")["token"]

    def item(self, **fields):
        """An item the member is pushed; the advisory (with event_id)."""
        return self.d.publish(self.pub, **fields)

    def hidden(self):
        """An item the member is not pushed (AMBER for another org)."""
        return self.d.publish(self.pub, tlp="AMBER", audience={
            "organisations": [self.other["id"]]})

    def state_path(self, name):
        p = os.path.join(WORKDIR, name)
        for q in (p, p + ".exec"):
            if os.path.exists(q):
                os.unlink(q)
        return p


def parse_jsonl(lines):
    out = []
    for line in lines:
        try:
            m = jsonlib.loads(line)
        except ValueError:
            raise AssertionError("not a JSON line: %r" % line)
        assert isinstance(m, dict) and m.get("type") in ITEM_TYPES, \
            "not an event: %r" % line
        out.append(m)
    return out


def ids(msgs):
    return [m["event_id"] for m in msgs]


# ---------------------------------------------------------------- subscribe

@client_test
def subscribe_jsonl_prints_each_event_once():
    w = World()
    d = w.d
    state = w.state_path("jsonl.state")
    head = last_event_id(d)
    s = subscriber(d, w.member["token"], "--format", "jsonl", "--state",
                   state)
    # Started without a position: it records the server's (man page).
    wait_state(state, head)

    a = w.item(title="first")
    w.hidden()
    b = w.item(tlp="AMBER", audience={"organisations": [w.org["id"]]},
               title="second")
    r = d.api("PUT", "/v1/advisories/" + a["id"], w.pub,
              json=advisory(title="first, revised"))
    eq(r.status, 200, "revise")
    w.hidden()
    r2 = d.api("POST", "/v1/advisories/%s/revoke" % b["id"], w.pub)
    eq(r2.status, 200, "revoke")
    want = [(a["event_id"], "advisory.published", a["id"], "CLEAR"),
            (b["event_id"], "advisory.published", b["id"], "AMBER"),
            (r.body["event_id"], "advisory.updated", a["id"], "CLEAR"),
            (r2.body["event_id"], "advisory.revoked", b["id"], "AMBER")]
    # The hidden items come before the last one: had they been printed,
    # they would be among these lines.
    msgs = parse_jsonl(s.wait_lines(len(want)))
    eq([(m["event_id"], m["type"], m["data"]["id"], m["tlp"]) for m in msgs],
       want, "printed events")
    eq(msgs[0]["data"]["title"], "first", "data of the first event")
    wait_state(state, want[-1][0])
    s.terminate()
    eq(len(s.lines), len(want), "lines printed in all")

    # --format text, replaying the same from --since.
    t = subscriber(d, w.member["token"], "--format", "text", "--since",
                   str(head))
    lines = t.wait_lines(len(want))
    # A revocation notice carries the identifier and label only (TLP.md):
    # "parts the event lacks are left out" (man page).
    rx = re.compile(r"^(\d+) (\S+) \[TLP:([A-Z+]+)\] (\S+) r(\d+)(: .*)?$")
    got = []
    for line in lines:
        m = rx.match(line)
        assert m, "text line %r does not read 'EVENT_ID TYPE [TLP:LABEL] " \
            "ID rREVISION: title'" % line
        got.append((int(m.group(1)), m.group(2), m.group(4), m.group(3)))
    eq(got, want, "text lines")
    eq([l.split(": ", 1)[1] if ": " in l else None for l in lines],
       ["first", "second", "first, revised", None], "titles in text lines")
    # One more live, and nothing else in between.
    c = w.item(title="third")
    line = t.wait_lines(len(want) + 1)[-1]
    assert line.startswith("%d advisory.published [TLP:CLEAR] %s r1: third"
                           % (c["event_id"], c["id"])), line
    t.terminate()
    eq(len(t.lines), len(want) + 1, "text lines in all")


@client_test
def subscribe_killed_and_restarted_prints_exactly_what_it_missed():
    w = World()
    d = w.d
    state = w.state_path("kill.state")
    s = subscriber(d, w.member["token"], "--state", state)
    wait_state(state, last_event_id(d))
    first = [w.item()["event_id"] for _ in range(2)]
    eq(ids(parse_jsonl(s.wait_lines(2))), first, "before the kill")
    wait_state(state, first[-1])
    s.kill()

    missed = []
    for _ in range(3):
        w.hidden()
        missed.append(w.item()["event_id"])
    s2 = subscriber(d, w.member["token"], "--state", state)
    eq(ids(parse_jsonl(s2.wait_lines(3))), missed, "after the restart")
    wait_state(state, missed[-1])
    live = w.item()["event_id"]
    eq(ids(parse_jsonl(s2.wait_lines(4))), missed + [live],
       "after the restart, then live (no duplicate, no gap)")
    wait_state(state, live)
    eq(len(s2.lines), 4, "lines of the second run")

    # Killed again, nothing missed this time: nothing printed but the
    # next live item.
    s2.kill()
    s3 = subscriber(d, w.member["token"], "--state", state, globals_=["-v"])
    wait_until(lambda: any("ready" in l for l in s3.err), 15,
               "tocsin -v reporting the server's ready")
    nxt = w.item()["event_id"]
    eq(ids(parse_jsonl(s3.wait_lines(1))), [nxt], "third run")
    wait_state(state, nxt)
    s3.terminate()
    eq(len(s3.lines), 1, "lines of the third run")


@client_test
def exec_runs_once_per_event():
    w = World()
    d = w.d
    state = w.state_path("exec.state")
    out = os.path.join(WORKDIR, "exec.out")
    envs = os.path.join(WORKDIR, "exec.env")
    for p in (out, envs):
        if os.path.exists(p):
            os.unlink(p)
    cmd = ('cat >> %s; echo "$TOCSIN_EVENT_ID $TOCSIN_EVENT_TYPE '
           '${TOCSIN_TOKEN:-no-token}" >> %s' % (out, envs))
    # The token through the environment: the command must not see it.
    env = {"TOCSIN_TOKEN": w.member["token"]}
    s = subscriber(d, None, "--state", state, "--exec", cmd, env=env)
    wait_state(state, last_event_id(d))
    want = []
    for i in range(5):
        if i % 2:
            w.hidden()
        want.append(w.item()["event_id"])
    eq(ids(parse_jsonl(s.wait_lines(5))), want, "printed")
    wait_state(state, want[-1])      # recorded after the command finished
    s.kill()

    def runs():
        with open(out) as f:
            return [jsonlib.loads(l)["event_id"] for l in f if l.strip()]
    eq(runs(), want, "events given to the command, one run each")
    with open(envs) as f:
        eq([l.split() for l in f],
           [[str(e), "advisory.published", "no-token"] for e in want],
           "TOCSIN_EVENT_ID, TOCSIN_EVENT_TYPE, and no TOCSIN_TOKEN")

    # Restarted after a kill: the command runs for the missed events only.
    missed = [w.item()["event_id"] for _ in range(2)]
    s2 = subscriber(d, None, "--state", state, "--exec", cmd, env=env)
    s2.wait_lines(2)
    wait_state(state, missed[-1])
    s2.terminate()
    eq(runs(), want + missed, "command runs after the restart")


# ------------------------------------------------------------ exit statuses

@client_test
def bad_token_exits_2():
    w = World()
    d = w.d
    bogus = "tcs_" + "Q" * 43
    for args in (["-t", bogus, "subscribe"],
                 ["-t", bogus, "subscribe", "--since", "0"],
                 ["-t", bogus, "list"],
                 ["-t", bogus, "get", "TST-2026-0001"]):
        p = tocsin(["-u", d.url] + args, timeout=30)
        eq(p.returncode, 2, "exit status of %s with a bad token" % args)
        assert p.elapsed < 10, "took %.1f s" % p.elapsed
    # Through -w straight to the stream, and with a revoked token.
    r = d.api("POST", "/v1/tokens", d.admin_token,
              json={"user_id": w.member["id"]})
    eq(d.api("DELETE", "/v1/tokens/%d" % r.body["id"],
             d.admin_token).status, 204)
    for token in (bogus, r.body["token"]):
        p = tocsin(["-u", d.url, "-w", d.ws_url, "-t", token, "subscribe"])
        eq(p.returncode, 2, "subscribe -w with a refused token")
    # A member may not publish: 403 is "authentication refused" too.
    f = os.path.join(WORKDIR, "member.json")
    with open(f, "w") as fh:
        jsonlib.dump(advisory(), fh)
    p = tocsin(["-u", d.url, "-t", w.member["token"], "publish", f])
    eq(p.returncode, 2, "publish as a member")


@client_test
def unreachable_server_exits_3_within_the_retry_bound():
    w = World()
    d = w.d
    dead = "127.0.0.1:%d" % free_port()
    cases = (
        # (args, attempts): REST discovery refused; the stream refused.
        (["-u", "http://" + dead, "-t", w.member["token"], "subscribe",
          "--max-retries", "4"], 4),
        (["-u", d.url, "-w", "ws://%s/v1/stream" % dead,
          "-t", w.member["token"], "subscribe", "--max-retries", "3"], 3),
        (["-u", "http://" + dead, "-t", w.member["token"], "subscribe",
          "--max-retries", "1"], 1),
    )
    for args, attempts in cases:
        least, most = backoff_bound(attempts)
        p = tocsin(args, timeout=60)
        eq(p.returncode, 3, "exit status, server unreachable")
        log("%d attempts: %.2f s, bound [%.3f, %.3f] + 2 s of slack"
            % (attempts, p.elapsed, least, most))
        assert least - 0.05 <= p.elapsed <= most + 2.0, \
            "gave up after %.2f s; the man page's delays give %.3f..%.3f s" \
            % (p.elapsed, least, most)
    for args in (["list"], ["get", "TST-2026-0001"]):
        p = tocsin(["-u", "http://" + dead, "-t", w.member["token"]] + args)
        eq(p.returncode, 3, "%s against a dead server" % args)


@client_test
def usage_errors_exit_1():
    w = World()
    d = w.d
    tok = ["-u", d.url, "-t", w.member["token"]]
    state = os.path.join(WORKDIR, "usage.state")
    f = os.path.join(WORKDIR, "usage-token")
    with open(f, "w") as fh:
        fh.write(w.member["token"] + "\n")
    for args in ([],
                 ["-u", d.url, "-t", w.member["token"]],
                 tok + ["frobnicate"],
                 tok + ["--no-such-option", "list"],
                 tok + ["subscribe", "--format", "xml"],
                 tok + ["subscribe", "--since", "1", "--state", state],
                 tok + ["subscribe", "--since", "minus-one"],
                 tok + ["subscribe", "extra-argument"],
                 tok + ["subscribe", "--max-retries", "x"],
                 tok + ["publish"],
                 tok + ["publish", "a.json", "b.json"],
                 tok + ["publish", os.path.join(WORKDIR, "missing.json")],
                 tok + ["get"],
                 ["-u", d.url, "-t", w.member["token"], "-T", f, "list"],
                 ["-u", d.url, "list"],                    # no token at all
                 ["-u", d.url, "-T", os.path.join(WORKDIR, "nope"), "list"],
                 ["-u", "ftp://example.invalid", "-t", w.member["token"],
                  "list"]):
        p = tocsin(args)
        eq(p.returncode, 1, "exit status of tocsin %s" % " ".join(args))
        assert p.stderr.strip(), "no message for %s" % args
        eq(p.stdout, "", "stdout of a usage error")


# ------------------------------------------------------ publish, get, list

@client_test
def publish_get_list():
    w = World()
    d = w.d
    pub = ["-u", d.url, "-t", w.pub]
    f = os.path.join(WORKDIR, "advisory.json")
    doc = advisory(title="Published with the client", severity="high",
                   sectors=["energy"], cves=["CVE-2024-21762"])
    with open(f, "w") as fh:
        jsonlib.dump(doc, fh)
    p = tocsin(pub + ["publish", f])
    eq(p.returncode, 0, "publish")
    m = re.fullmatch(r"(TST-\d{4}-\d{4,}) \(event (\d+)\)\n", p.stdout)
    assert m, "publish printed %r, want 'ID (event N)'" % p.stdout
    aid, event = m.group(1), int(m.group(2))
    r = d.api("GET", "/v1/advisories/" + aid, w.pub)
    eq((r.status, r.body.get("title")), (200, doc["title"]), "it exists")
    eq(d.db.scalar("SELECT item_id FROM events WHERE event_id = %d" % event),
       aid, "the event printed announced it")

    p = tocsin(pub + ["publish", "--json", "-"], stdin=jsonlib.dumps(
        advisory(title="From stdin")))
    eq(p.returncode, 0, "publish --json from stdin")
    body = jsonlib.loads(p.stdout)
    eq((body["title"], body["revision"]), ("From stdin", 1))
    second = body["id"]

    # Refused by the server: 4; not JSON: 1 (nothing sent).
    bad = os.path.join(WORKDIR, "bad.json")
    with open(bad, "w") as fh:
        jsonlib.dump(advisory(tlp="PURPLE"), fh)
    eq(tocsin(pub + ["publish", bad]).returncode, 4, "publish, 422")
    with open(bad, "w") as fh:
        fh.write('{"title": ')
    with d.db.unchanged("publishing a file that is not JSON"):
        eq(tocsin(pub + ["publish", bad]).returncode, 1, "malformed file")

    p = tocsin(pub + ["get", aid])
    eq(p.returncode, 0, "get")
    got = jsonlib.loads(p.stdout)
    eq((got["id"], got["title"], got["revision"], got["severity"]),
       (aid, doc["title"], 1, "high"), "get output")
    r = d.api("PUT", "/v1/advisories/" + aid, w.pub,
              json=dict(doc, title="Revised"))
    eq(r.status, 200)
    got = jsonlib.loads(tocsin(pub + ["get", aid]).stdout)
    eq((got["title"], got["revision"]), ("Revised", 2), "latest revision")
    p = tocsin(pub + ["get", "--revision", "1", aid])
    eq((p.returncode, jsonlib.loads(p.stdout)["title"]), (0, doc["title"]),
       "get --revision 1")
    eq(tocsin(pub + ["get", "TST-1999-9999"]).returncode, 4, "get, 404")

    p = tocsin(pub + ["list", "--all"])
    eq(p.returncode, 0, "list")
    lines = p.stdout.splitlines()
    assert "%s r2 [TLP:CLEAR] high Revised" % aid in lines, lines[:5]
    assert any(l.startswith(second + " r1 [TLP:CLEAR] ") for l in lines)
    p = tocsin(pub + ["list", "--all", "--json"])
    listed = [jsonlib.loads(l)["id"] for l in p.stdout.splitlines()]
    eq(sorted(listed), sorted(a["id"] for a in d.list_all("/v1/advisories",
                                                         w.pub)),
       "list --all --json against GET /v1/advisories")
    p = tocsin(pub + ["list", "--json", "--cve", "CVE-2024-21762"])
    eq([jsonlib.loads(l)["id"] for l in p.stdout.splitlines()], [aid],
       "list --cve")
    # A member lists what it may see only.
    hidden = w.hidden()
    p = tocsin(["-u", d.url, "-t", w.member["token"], "list", "--all",
                "--json"])
    eq(p.returncode, 0)
    mine = [jsonlib.loads(l)["id"] for l in p.stdout.splitlines()]
    assert aid in mine and hidden["id"] not in mine, \
        "member's list: %s (hidden %s)" % (mine, hidden["id"])


@client_test
def url_and_token_from_the_environment_and_files():
    w = World()
    d = w.d
    a = w.item(title="for the environment test")
    good_env = {"TOCSIN_URL": d.url, "TOCSIN_TOKEN": w.member["token"]}

    def listed(p):
        eq(p.returncode, 0, "exit status")
        return a["id"] in {l.split()[0] for l in p.stdout.splitlines()}

    assert listed(tocsin(["list", "--all"], env=good_env)), "env only"
    # Each one really is used: a wrong one fails.
    eq(tocsin(["list"], env=dict(good_env, TOCSIN_TOKEN="tcs_" + "Z" * 43))
       .returncode, 2, "TOCSIN_TOKEN wrong")
    eq(tocsin(["list"], env=dict(good_env, TOCSIN_URL="http://127.0.0.1:%d"
                                 % free_port())).returncode, 3,
       "TOCSIN_URL wrong")
    # Options win over the environment.
    assert listed(tocsin(["-u", d.url, "-t", w.member["token"], "list",
                          "--all"],
                         env={"TOCSIN_URL": "http://127.0.0.1:%d" % free_port(),
                              "TOCSIN_TOKEN": "tcs_" + "Z" * 43}))
    # -T: the first line of a file (its newline dropped), or stdin.
    f = os.path.join(WORKDIR, "token")
    with open(f, "w") as fh:
        fh.write(w.member["token"] + "\n")
    os.chmod(f, 0o600)
    assert listed(tocsin(["-u", d.url, "-T", f, "list", "--all"]))
    assert listed(tocsin(["-T", f, "list", "--all"],
                         env={"TOCSIN_URL": d.url,
                              "TOCSIN_TOKEN": "tcs_" + "Z" * 43})), \
        "-T wins over TOCSIN_TOKEN"
    assert listed(tocsin(["-u", d.url, "-T", "-", "list", "--all"],
                         stdin=w.member["token"] + "\n"))
    with open(f, "w") as fh:
        fh.write("tcs_" + "Z" * 43 + "\n")
    eq(tocsin(["-u", d.url, "-T", f, "list"]).returncode, 2, "-T bad token")

    # subscribe with the URL and token from the environment only.
    state = w.state_path("env.state")
    s = subscriber(d, None, "--state", state, env=good_env, url=False)
    wait_state(state, last_event_id(d))
    b = w.item()
    eq(ids(parse_jsonl(s.wait_lines(1))), [b["event_id"]], "subscribe, env")
    s.terminate()


if __name__ == "__main__":
    main()
