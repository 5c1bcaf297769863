"""nginxutil.py: a private nginx (Debian package nginx) in front of test
daemons, configured with deploy/nginx-tocsin.conf itself, the addresses,
port and certificate replaced (98-deploy-units, 99-three-instances). Its
own configuration, pid, logs and temporary files are under the test's
directory; the system nginx service is never touched."""

import re
import shutil

from harness import *

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = os.path.join(SRCDIR, "deploy", "nginx-tocsin.conf")


def render_example(rest, stream, port, cert, key, example=EXAMPLE):
    """deploy/nginx-tocsin.conf for a test: `rest` and `stream` are lists
    of "127.0.0.1:PORT" replacing the upstreams' server lines; the
    public server listens on 127.0.0.1:port with this certificate."""
    with open(example) as f:
        text = f.read()

    def upstream(name, addrs, text):
        m = re.search(r"(upstream %s \{\n)(.*?)(\n\})" % name, text, re.S)
        assert m, "no upstream %s in %s" % (name, example)
        body = m.group(2)
        lines = body.split("\n")
        first = [i for i, l in enumerate(lines)
                 if re.match(r"\s*server \S+", l)]
        assert first, "upstream %s has no server line" % name
        opts = re.match(r"\s*server \S+(.*);", lines[first[0]]).group(1)
        new = ["\tserver %s%s;" % (a, opts) for a in addrs]
        lines = lines[:first[0]] + new + [l for i, l in enumerate(lines)
                                         if i > first[0] and i not in first]
        return text[:m.start(2)] + "\n".join(lines) + text[m.end(2):]

    text = upstream("tocsin_rest", rest, text)
    text = upstream("tocsin_stream", stream, text)
    text, n = re.subn(r"\n\tlisten 443 ssl http2;",
                      "\n\tlisten 127.0.0.1:%d ssl http2;" % port, text)
    assert n == 1, "no 'listen 443 ssl http2;' in the example"
    text = re.sub(r"\n\tlisten \[::\]:443[^\n]*", "", text)
    text = re.sub(r"\n\tserver_name [^;]*;", "\n\tserver_name 127.0.0.1;",
                  text)
    text, n = re.subn(r"\n\tssl_certificate [^;]*;",
                      "\n\tssl_certificate %s;" % cert, text)
    assert n == 1, "no ssl_certificate in the example"
    text, n = re.subn(r"\n\tssl_certificate_key [^;]*;",
                      "\n\tssl_certificate_key %s;" % key, text)
    assert n == 1, "no ssl_certificate_key in the example"
    return text


class Nginx:
    """nginx -p DIR -c DIR/nginx.conf in the foreground, including the
    rendered example."""

    def __init__(self, name, site):
        self.dir = os.path.join(WORKDIR, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(os.path.join(self.dir, "tocsin.conf"), "w") as f:
            f.write(site)
        d = self.dir
        with open(self.conf, "w") as f:
            f.write("""# Written by tests/integration/nginxutil.py.
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log info;
daemon off;
events { worker_connections 1024; }
http {
	access_log %s/access.log;
	client_body_temp_path %s/body;
	proxy_temp_path %s/proxy;
	fastcgi_temp_path %s/fastcgi;
	uwsgi_temp_path %s/uwsgi;
	scgi_temp_path %s/scgi;
	include %s/tocsin.conf;
}
""" % ((d,) * 9))
        self.proc = None

    def cmd(self, *args):
        return [NGINX, "-p", self.dir, "-e", os.path.join(self.dir,
                "error.log"), "-c", self.conf] + list(args)

    def check(self):
        p = subprocess.run(self.cmd("-t"), capture_output=True, text=True,
                           timeout=30)
        log("$ nginx -t: exit %d\n%s" % (p.returncode, p.stderr))
        return p

    def start(self, port):
        p = self.check()
        eq(p.returncode, 0, "nginx -t on the rendered example")
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _nginxes.append(self)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: %s" % self.errors())
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_until(up, 15, "nginx listening on %d" % port)
        return self

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)      # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_nginxes = []


def stop_all():
    for n in _nginxes:
        n.stop()
