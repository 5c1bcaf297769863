#!/usr/bin/python3
"""98-privileges: started as root, tocsind binds its ports and loads every
key (TLS, server key, signing key: all readable by root only), then runs as
the configured `user` (tocsind(8), "Privileges"): /proc/PID/status shows
that user's ids in every thread, no supplementary group of root's, no
capability and no_new_privs, while it serves HTTPS, the stream and
publishing. A SIGHUP whose key the user cannot read is refused (the running
certificate is kept); once the key is readable by the user's group the
reload works. An unknown user is refused at start-up with a clear message;
`user: root` stays root. Started as that user with only
CAP_NET_BIND_SERVICE (systemd's AmbientCapabilities), it binds a port under
1024 and then holds no capability. Needs root: skipped otherwise."""

import atexit
import grp
import pwd

from harness import *
import tlsutil

if os.geteuid() != 0:
    skip("needs root")

TEST_USER = "tocsin-test"

def ensure_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        p = subprocess.run(["useradd", "--system", "--user-group",
                            "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", TEST_USER],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, "useradd: %s" % p.stderr
        log("created the system user %s" % TEST_USER)
        # Gone again at exit, after main() has stopped the daemons.
        atexit.register(subprocess.run, ["userdel", TEST_USER],
                        capture_output=True, timeout=60)
        return pwd.getpwnam(TEST_USER)


def proc_status(pid, tid=None):
    path = "/proc/%d/status" % pid if tid is None else \
        "/proc/%d/task/%d/status" % (pid, tid)
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def root_only_dir(name):
    """A directory only root may enter, for keys made or read as root."""
    d = os.path.join(WORKDIR, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def private_pair(name, serial):
    """A TLS pair copied into a root-only directory, key mode 0600."""
    crt, key = tlsutil.make_cert(name, serial)
    d = root_only_dir("keys-" + name)
    dst_crt, dst_key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
    tlsutil.install(crt, key, dst_crt, dst_key)
    os.chmod(dst_key, 0o600)
    return dst_crt, dst_key


def assert_unprivileged(pid, pw):
    st = proc_status(pid)
    log("tocsind status: Uid %s | Gid %s | Groups %s | CapEff %s | "
        "CapPrm %s | NoNewPrivs %s" % (st["Uid"], st["Gid"],
                                       st.get("Groups"), st["CapEff"],
                                       st["CapPrm"], st.get("NoNewPrivs")))
    want_uid = "\t".join([str(pw.pw_uid)] * 4)
    want_gid = "\t".join([str(pw.pw_gid)] * 4)
    eq(st["Uid"], want_uid, "Uid line (real, effective, saved, fs)")
    eq(st["Gid"], want_gid, "Gid line (real, effective, saved, fs)")
    groups = set(st.get("Groups", "").split())
    want_groups = {str(g.gr_gid) for g in grp.getgrall()
                   if pw.pw_name in g.gr_mem} | {str(pw.pw_gid)}
    assert "0" not in groups, "root's group is still there: %r" % groups
    assert groups <= want_groups, "groups %r, want within %r" % (
        groups, want_groups)
    eq(int(st["CapEff"], 16), 0, "effective capabilities")
    eq(int(st["CapPrm"], 16), 0, "permitted capabilities")
    eq(st.get("NoNewPrivs"), "1", "no_new_privs")
    # Every thread, not just the main one.
    tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    assert len(tids) > 3, "expected the REST, stream and delivery threads"
    for tid in tids:
        try:
            ts = proc_status(pid, tid)
        except FileNotFoundError:
            continue
        eq(ts["Uid"], want_uid, "thread %d Uid" % tid)
        eq(ts["Gid"], want_gid, "thread %d Gid" % tid)


@test
async def runs_as_the_user_after_binding_and_loading_keys():
    pw = ensure_user()
    keys = root_only_dir("state")
    crt, key = private_pair("priv1", 0x7001)
    d = tlsutil.TLSDaemon(new_database("privileges"), crt, key,
                        user=TEST_USER,
                        key_file=os.path.join(keys, "server.key"),
                        webhooks={"signing_key":
                                  os.path.join(keys, "webhook.pem")})
    assert any("running as %s (uid %d" % (TEST_USER, pw.pw_uid) in l
               for l in d.stderr_lines), "no 'running as' line in the log"
    assert_unprivileged(d.proc.pid, pw)
    # The keys were made by root, before the drop, and stay root's.
    for name in ("server.key", "webhook.pem"):
        st = os.stat(os.path.join(keys, name))
        eq((st.st_uid, st.st_mode & 0o777), (0, 0o600), name + " owner, mode")

    # It serves: HTTPS, publishing, the stream over WSS.
    eq(d.api("GET", "/healthz").status, 200, "GET /healthz as the user")
    pub = d.principal("publisher")
    org = d.make_org()
    member = d.principal("member", org["id"])
    r = d.api("POST", "/v1/subscriptions", member["token"],
              json={"name": "all", "filter": {}, "channels": ["ws"]})
    eq(r.status, 201, "create a ws subscription")
    import websockets
    ws = await websockets.connect(d.ws_url, ssl=tlsutil.ca_context(),
                                  extra_headers=[("Authorization", "Bearer " +
                                                  member["token"])],
                                  ping_interval=None, open_timeout=10)
    try:
        a = d.publish(pub["token"], title="Served unprivileged")
        while True:
            m = jsonlib.loads(await asyncio.wait_for(ws.recv(), 15))
            if m.get("data", {}).get("id") == a["id"]:
                break
    finally:
        await ws.close()
    assert_unprivileged(d.proc.pid, pw)

    # SIGHUP with a key only root can read: refused, old pair kept.
    crt2, key2 = tlsutil.make_cert("priv2", 0x7002)
    tlsutil.install(crt2, key2, crt, key)
    os.chmod(key, 0o600)
    mark = len(d.stderr_lines)
    d.signal(signal.SIGHUP)
    wait_until(lambda: any("reload refused" in l
                           for l in d.stderr_lines[mark:]), 10,
               "a refused reload in the log")
    eq(tlsutil.served_serial(d.http_port), 0x7001,
       "serial after the refusal")
    # The documented recipe: root:GROUP 0640 in a directory it may enter.
    os.chown(key, 0, pw.pw_gid)
    os.chmod(key, 0o640)
    os.chown(os.path.dirname(key), 0, pw.pw_gid)
    os.chmod(os.path.dirname(key), 0o750)
    mark = len(d.stderr_lines)
    d.signal(signal.SIGHUP)
    wait_until(lambda: any("tls: reloaded" in l
                           for l in d.stderr_lines[mark:]), 10,
               "a reload in the log")
    eq(tlsutil.served_serial(d.http_port), 0x7002, "REST serial after reload")
    eq(tlsutil.served_serial(d.ws_port), 0x7002, "stream serial after reload")
    d.stop()


@test
def unknown_user_is_refused():
    d = Daemon(new_database("privileges_nouser"), start=False,
               user="no-such-user-tocsin")
    p = subprocess.run([TOCSIND, "-c", d.cfg], capture_output=True,
                       text=True, timeout=30, env=TOCSIND_ENV)
    log(p.stderr)
    check_sanitizers(p.stderr, "tocsind")
    eq(p.returncode, 1, "exit status with an unknown user")
    assert 'no such user "no-such-user-tocsin"' in p.stderr, \
        "no clear message: %r" % p.stderr


@test
def user_root_stays_root():
    d = Daemon(new_database("privileges_root"), user="root")
    st = proc_status(d.proc.pid)
    eq(st["Uid"].split()[1], "0", "effective uid with user: root")
    assert any("staying root" in l for l in d.stderr_lines), \
        "no warning that it stays root"
    d.stop()


def low_port():
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port under 1024")


class AmbientDaemon(Daemon):
    """Started as TEST_USER with only CAP_NET_BIND_SERVICE, as systemd's
    User= with AmbientCapabilities= does."""

    def start(self, ready_timeout=30, ready_status=200):
        log("starting tocsind #%d under setpriv" % self.n)
        self.done = False
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=" + TEST_USER, "--regid=" + TEST_USER,
             "--init-groups", "--inh-caps=+net_bind_service",
             "--ambient-caps=+net_bind_service", TOCSIND, "-c", self.cfg],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=TOCSIND_ENV)
        self._reader = threading.Thread(target=self._read_stderr,
                                        daemon=True)
        self._reader.start()
        self.wait_health(ready_status, ready_timeout)
        return self


@test
def ambient_capability_is_dropped_after_binding():
    pw = ensure_user()
    state = os.path.join(WORKDIR, "ambient-state")
    os.makedirs(state, exist_ok=True)
    os.chown(state, pw.pw_uid, pw.pw_gid)
    os.chmod(state, 0o700)
    d = AmbientDaemon(new_database("privileges_ambient"), start=False,
                      key_file=os.path.join(state, "server.key"),
                      webhooks={"signing_key":
                                os.path.join(state, "webhook.pem")})
    d.http_port = low_port()
    d.url = "http://127.0.0.1:%d" % d.http_port
    d.config["listen"]["http"] = "127.0.0.1:%d" % d.http_port
    d.config["public_url"] = d.url
    d.write_config()
    d.start()
    assert d.http_port < 1024
    assert any("capabilities dropped" in l for l in d.stderr_lines), \
        "no 'capabilities dropped' line"
    assert_unprivileged(d.proc.pid, pw)
    eq(d.api("GET", "/healthz").status, 200, "GET /healthz on a low port")
    d.stop()


if __name__ == "__main__":
    main()
