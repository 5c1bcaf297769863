#!/usr/bin/python3
"""88-rate-limits: token buckets per API token and per client address
(limits.rate_per_* requests per second, limits.burst_per_*). Past the
burst: 429 problem+json with Retry-After in seconds, and after waiting that
long the next request passes. Another token or address has its own bucket;
0 disables a limit; behind a proxy of http.trusted_proxies the address is
X-Forwarded-For's (and the audit log records it), from anyone else that
header changes nothing. The limits are checked by check-config."""

import urllib.request

from harness import *

RATE, BURST = 1, 4


def drain(d, path, token=None, headers=None, n=BURST + 3):
    """Requests until one is refused; (statuses, the refusal)."""
    got = []
    for _ in range(n):
        r = d.api("GET", path, token, headers=headers)
        got.append(r.status)
        if r.status == 429:
            return got, r
    raise AssertionError("no 429 after %d requests: %r" % (n, got))


def check_429(r):
    body = problem_ok(r, 429)
    ra = r.headers.get("Retry-After")
    assert ra is not None and re.fullmatch(r"[1-9][0-9]*", ra), \
        "Retry-After %r" % ra
    assert int(ra) <= 60, "Retry-After %s for a rate of %d/s" % (ra, RATE)
    return int(ra), body


def patient(d, method, path, token, json=None):
    """A request that waits out 429s (set-up under a tiny limit)."""
    for _ in range(30):
        r = d.api(method, path, token, json=json)
        if r.status != 429:
            return r
        time.sleep(int(r.headers["Retry-After"]))
    raise AssertionError("%s %s: still 429" % (method, path))


def member(d, org_id):
    u = patient(d, "POST", "/v1/users", d.admin_token,
                json={"organisation_id": org_id, "name": d.unique("m"),
                      "email": "m%d@test.invalid" % time.time_ns(),
                      "role": "member"}).body
    u["token"] = patient(d, "POST", "/v1/tokens", d.admin_token,
                         json={"user_id": u["id"]}).body["token"]
    return u


def rested(d, seconds=BURST / RATE + 0.5):
    """Let every bucket refill."""
    time.sleep(seconds)


@test
def per_token():
    mport = free_port()
    d = Daemon(new_database("rl_token"),
               limits={"rate_per_token": RATE, "burst_per_token": BURST,
                       "rate_per_address": 0},
               metrics={"listen": "127.0.0.1:%d" % mport})
    org = patient(d, "POST", "/v1/organisations", d.admin_token,
                  json={"name": "RL", "kind": "essential"}).body
    a, b = member(d, org["id"]), member(d, org["id"])
    got, r = drain(d, "/v1/tokens", a["token"])
    eq(got[:BURST], [200] * BURST, "the burst passes")
    wait, body = check_429(r)
    assert "token" in body["detail"], body
    # Another token has its own bucket; so has no token at all.
    eq(d.api("GET", "/v1/tokens", b["token"]).status, 200, "other token")
    eq(d.api("GET", "/v1").status, 200, "anonymous")
    # A refusal costs nothing: after Retry-After, a request passes.
    time.sleep(wait)
    eq(d.api("GET", "/v1/tokens", a["token"]).status, 200,
       "after Retry-After")
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport) as m:
        text = m.read().decode()
    n = re.search(r'^tocsin_rate_limited_total\{bucket="token"\} (\d+)',
                  text, re.M)
    assert n and int(n.group(1)) >= 1, "tocsin_rate_limited_total"


@test
def per_address():
    d = Daemon(new_database("rl_address"),
               limits={"rate_per_token": 0, "rate_per_address": RATE,
                       "burst_per_address": BURST})
    rested(d)
    got, r = drain(d, "/v1")
    eq(got[:BURST], [200] * BURST, "the burst passes")
    wait, body = check_429(r)
    assert "address" in body["detail"], body
    # A token does not escape its address's bucket.
    eq(d.api("GET", "/v1/tokens", d.admin_token).status, 429, "with a token")
    # Not a proxy we trust: X-Forwarded-For is ignored.
    eq(d.api("GET", "/v1", headers={"X-Forwarded-For": "192.0.2.7"}).status,
       429, "a forged X-Forwarded-For")
    time.sleep(wait)
    eq(d.api("GET", "/v1").status, 200, "after Retry-After")


@test
def behind_a_trusted_proxy():
    d = Daemon(new_database("rl_proxy"),
               limits={"rate_per_token": 0, "rate_per_address": RATE,
                       "burst_per_address": BURST},
               http={"trusted_proxies": ["127.0.0.0/8"]})
    rested(d)
    one = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    got, r = drain(d, "/v1", headers=one)
    check_429(r)
    # Another client behind the same proxy: its own bucket.
    eq(d.api("GET", "/v1", headers={"X-Forwarded-For": "203.0.113.10"})
       .status, 200, "another client behind the proxy")
    # The audit log records the client, not the proxy.
    rested(d)
    r = d.api("POST", "/v1/tokens", d.admin_token,
              headers={"X-Forwarded-For": "203.0.113.20"})
    eq(r.status, 201, "token made through the proxy")
    rested(d)
    e = d.api("GET", "/v1/audit?action=token.create&limit=1", d.admin_token,
              headers={"X-Forwarded-For": "203.0.113.21"})
    eq(e.status, 200)
    eq(e.body["items"][0]["client_address"], "203.0.113.20",
       "audited client address")


@test
def zero_disables():
    d = Daemon(new_database("rl_off"),
               limits={"rate_per_token": 0, "rate_per_address": 0})
    for i in range(60):
        r = d.api("GET", "/v1/tokens", d.admin_token)
        assert r.status == 200, "request %d: %d" % (i, r.status)


@test
def defaults_and_check_config():
    d = Daemon(new_database("rl_config"), start=False, migrate=False,
               bootstrap=False)
    for key, value in (("rate_per_token", -1), ("burst_per_token", 0),
                       ("rate_per_address", "fast")):
        cfg = jsonlib.loads(jsonlib.dumps(d.config))
        merge(cfg, {"limits": {key: value}})
        path = os.path.join(WORKDIR, "rl-%s.yaml" % key)
        with open(path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        p = run_tocsind(["-c", path, "check-config"])
        eq(p.returncode, 1, "check-config with limits.%s: %r" % (key, value))
        assert re.search(r":\d+: limits\.%s: " % key, p.stdout + p.stderr), \
            "no FILE:LINE: limits.%s message" % key


if __name__ == "__main__":
    main()
