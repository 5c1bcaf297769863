#!/usr/bin/python3
"""98-deploy-units: the files of deploy/ that an operator installs.
deploy/tocsind.service and deploy/tocsin-subscribe.service pass
`systemd-analyze verify` (with this build's binaries in ExecStart) and
`systemd-analyze security --offline=yes` scores each below 2.0 (the figure
is in deploy/README); deploy/nginx-tocsin.conf passes `nginx -t` once its
addresses and certificate are filled in. Each part is skipped when its
tool is missing; the file is skipped when both are."""

import re
import shutil

from harness import *
import nginxutil
import tlsutil

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
UNITS = ("tocsind.service", "tocsin-subscribe.service")
MAX_EXPOSURE = 2.0

if SYSTEMD_ANALYZE is None and not os.access(nginxutil.NGINX, os.X_OK):
    skip("neither systemd-analyze nor nginx is installed")


def analyze(*args):
    p = subprocess.run([SYSTEMD_ANALYZE] + list(args), capture_output=True,
                       text=True, timeout=120)
    log("$ systemd-analyze %s: exit %d" % (" ".join(args), p.returncode))
    for line in (p.stdout + p.stderr).splitlines():
        log("  | " + line)
    return p


def unit_for_this_build(name):
    """The unit with this build's binaries for /usr/{s,}bin's, and its
    man: references dropped unless those pages are installed."""
    with open(os.path.join(SRCDIR, "deploy", name)) as f:
        text = f.read()
    text = text.replace("/usr/sbin/tocsind", TOCSIND)
    text = text.replace("/usr/bin/tocsin ", TOCSIN + " ")
    man = subprocess.run(["man", "-w", "tocsind"], capture_output=True)
    if man.returncode != 0:
        text = re.sub(r"(?m)^Documentation=.*\n", "", text)
    d = os.path.join(WORKDIR, "units")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@test
def units_verify():
    if SYSTEMD_ANALYZE is None:
        log("SKIP: no systemd-analyze")
        return
    for name in UNITS:
        p = analyze("verify", unit_for_this_build(name))
        eq(p.returncode, 0, "systemd-analyze verify %s" % name)
        eq((p.stdout + p.stderr).strip(), "", "verify's complaints")


@test
def units_exposure_below_2():
    if SYSTEMD_ANALYZE is None:
        log("SKIP: no systemd-analyze")
        return
    with open(os.path.join(SRCDIR, "deploy", "README")) as f:
        readme = f.read()
    for name in UNITS:
        p = analyze("security", "--offline=yes",
                    os.path.join(SRCDIR, "deploy", name))
        m = re.search(r"Overall exposure level for %s: ([0-9.]+)"
                      % re.escape(name), p.stdout)
        assert m, "no overall exposure for %s" % name
        score = float(m.group(1))
        log("%s: exposure %.1f" % (name, score))
        assert score < MAX_EXPOSURE, "%s: exposure %.1f, want below %.1f" % (
            name, score, MAX_EXPOSURE)
        assert "%s: exposure %.1f" % (name, score) in readme, \
            "deploy/README does not give %s's exposure as %.1f" % (name,
                                                                  score)


@test
def nginx_example_is_valid():
    if not os.access(nginxutil.NGINX, os.X_OK):
        log("SKIP: no nginx")
        return
    crt, key = tlsutil.make_cert("nginx-t", 0x9801)
    site = nginxutil.render_example(
        ["127.0.0.1:%d" % free_port() for _ in range(3)],
        ["127.0.0.1:%d" % free_port() for _ in range(3)], free_port(),
        crt, key)
    p = nginxutil.Nginx("nginx-t", site).check()
    eq(p.returncode, 0, "nginx -t on deploy/nginx-tocsin.conf")


if __name__ == "__main__":
    main()
