#!/usr/bin/python3
"""97-web-e2e: the web portal in a real browser (issue 7). Starts a daemon
(webhooks allowed to reach a sink on 127.0.0.1), makes two organisations
and their people, and runs tests/e2e/web.test.mjs with node: Debian's
chromium driven by playwright-core. Screenshots of the main pages are left
in tests/artifacts/web/. Skipped (77) when chromium or tests/e2e's
node_modules are missing: deploy/setup.sh installs both."""

import shutil

from harness import *
from webhook_sink import Sink, outbox_config

E2E = os.path.join(SRCDIR, "tests", "e2e")
ARTIFACTS = os.path.join(BUILDDIR, "tests", "artifacts", "web")
CHROMIUM = "/usr/bin/chromium"


def prerequisites():
    node = shutil.which("node")
    if node is None:
        skip("node is not installed (deploy/setup.sh)")
    if not os.access(CHROMIUM, os.X_OK):
        skip("%s is not installed (deploy/setup.sh)" % CHROMIUM)
    if not os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")):
        skip("tests/e2e/node_modules is missing: run npm ci in tests/e2e "
             "(deploy/setup.sh does)")
    return node


def person(d, role, org_id, name):
    u = d.make_user(org_id, role, name=name)
    u["token"] = d.make_token(u["id"])
    return u


@test
def browser_scenarios():
    node = prerequisites()
    sink = Sink()
    ep = sink.endpoint("e2e")
    d = Daemon(new_database("web_e2e"), start=False)
    outbox_config(d)
    d.start()
    org_a = d.make_org(name="Energy Grid Ltd", kind="essential",
                       sectors=["energy"])
    org_b = d.make_org(name="City Hospital", kind="important",
                       sectors=["health"])
    pub = d.principal("publisher")
    ma = person(d, "member", org_a["id"], "Alice Peeters")
    mb = person(d, "member", org_b["id"], "Bob Janssens")
    oa = person(d, "org-admin", org_a["id"], "Olga Admin")
    cfg = {
        "url": d.url, "ws_url": d.ws_url, "chromium": CHROMIUM,
        "artifacts": ARTIFACTS, "sink_url": ep.url,
        "orgs": {"a": {"id": org_a["id"], "name": org_a["name"]},
                 "b": {"id": org_b["id"], "name": org_b["name"]}},
        "tokens": {"publisher": pub["token"], "member_a": ma["token"],
                   "member_b": mb["token"], "org_admin_a": oa["token"]},
        "names": {"member_a": ma["name"], "member_b": mb["name"]},
    }
    path = os.path.join(WORKDIR, "e2e.json")
    with open(path, "w") as f:
        jsonlib.dump(cfg, f)
    if os.path.isdir(ARTIFACTS):
        shutil.rmtree(ARTIFACTS)
    env = dict(os.environ, TOCSIN_E2E=path, NO_COLOR="1")
    log("$ node --test web.test.mjs (in tests/e2e)")
    p = subprocess.run([node, "--test", "--test-concurrency=1",
                        "--test-reporter=spec", "web.test.mjs"], cwd=E2E,
                       env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=420)
    for line in p.stdout.splitlines():
        log("  node| " + line)
    eq(p.returncode, 0, "node --test exit status (the log has its report)")
    # The test delivery and the advisory reached the sink, once each at least.
    assert ep.count() >= 2, "the sink got %d requests" % ep.count()
    log("screenshots in %s: %s" % (ARTIFACTS, ", ".join(sorted(os.listdir(ARTIFACTS)))))
    sink.close()


if __name__ == "__main__":
    main()
