#!/usr/bin/env python3
"""report.py: the table of bench/stream/run.sh from its results directory.

report.py DIR N_BIG N_SMALL COUNT BURST "SERVERS" ROUNDS
Writes the table to stdout and DIR/results.json.
"""
import json
import os
import statistics
import sys


def parse_kv(line):
    out = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def load(d, srv, name, n, count):
    base = os.path.join(d, "%s-%s" % (srv, name))
    if not os.path.exists(base + ".sub1"):
        return None
    res = []
    lat = []
    for i in (1, 2):
        with open("%s.sub%d" % (base, i)) as f:
            for line in f:
                if line.startswith("RESULT"):
                    res.append(parse_kv(line))
        try:
            with open("%s.lat%d" % (base, i)) as f:
                lat.extend(int(x) for x in f if x.strip())
        except FileNotFoundError:
            pass
    mem = {}
    with open(base + ".mem") as f:
        for line in f:
            for tok in line.split():
                k, _, v = tok.partition("=")
                mem[k] = v
    pub = {}
    try:
        with open(base + ".pub") as f:
            for line in f:
                if line.startswith("PUBLISHED"):
                    pub = parse_kv(line)
    except FileNotFoundError:
        pass
    lat.sort()
    msgs = sum(int(r["msgs"]) for r in res)
    out = {
        "server": srv, "scenario": name, "subscribers": n,
        "messages": count, "expected": n * count, "received": msgs,
        "failed_connections": sum(int(r["failed"]) for r in res),
        "closed_connections": sum(int(r["closed"]) for r in res),
        "close_1008": sum(int(r["close1008"]) for r in res),
        "bytes_per_message": (sum(int(r["bytes"]) for r in res) // msgs
                              if msgs else 0),
        "published_ok": int(pub.get("ok", 0)),
        "publish_failed": int(pub.get("failed", 0)),
        "server_cpu_s": float(mem.get("cpu_s", 0)),
        "close_cpu_s": float(mem.get("close_cpu_s", 0)),
        "connect_s": int(mem.get("connect_s", 0)),
    }
    if msgs:
        out["cpu_us_per_delivery"] = out["server_cpu_s"] * 1e6 / msgs
    if lat:
        def pct(p):
            return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0
        out.update(p50_ms=pct(0.50), p99_ms=pct(0.99), max_ms=lat[-1] / 1000.0)
    sent = [int(r["first_sent"]) for r in res if int(r["first_sent"])]
    recv = [int(r["last_recv"]) for r in res if int(r["last_recv"])]
    if sent and recv and msgs:
        span = (max(recv) - min(sent)) / 1e9
        out["span_s"] = span
        out["deliveries_per_s"] = msgs / span
    if pub.get("first") and pub.get("last") and int(pub.get("ok", 0)) > 1:
        ps = (int(pub["last"]) - int(pub["first"])) / 1e9
        out["publish_rate"] = (int(pub["ok"]) - 1) / ps if ps > 0 else 0
    r0, r1 = int(mem.get("rss0", 0)), int(mem.get("rss1", 0))
    p0, p1 = int(mem.get("pss0", 0)), int(mem.get("pss1", 0))
    out["rss_growth_kb"] = r1 - r0
    out["pss_growth_kb"] = p1 - p0
    # nginx: master and workers share memory, so Pss; others: VmRSS.
    growth = (p1 - p0) if srv == "nchan" else (r1 - r0)
    out["bytes_per_idle_connection"] = growth * 1024.0 / n
    return out


def aggregate(runs):
    """Median of each figure over the rounds; counts summed; memory from
    round 1 (the first connections the server ever had)."""
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    out = {"rounds": len(runs)}
    for k in runs[0]:
        vals = [r[k] for r in runs if k in r]
        if k in ("received", "expected", "failed_connections",
                 "closed_connections", "close_1008"):
            out[k] = sum(vals)
        elif k in ("bytes_per_idle_connection", "rss_growth_kb",
                   "pss_growth_kb"):
            out[k] = runs[0][k]
        elif vals and all(isinstance(v, (int, float)) for v in vals):
            out[k] = statistics.median(vals)
            out[k + "_all"] = vals
        else:
            out[k] = vals[0]
    return out


def main():
    d, n_big, n_small, count, burst, servers, rounds = sys.argv[1:8]
    n_big, n_small, count, burst, rounds = map(
        int, (n_big, n_small, count, burst, rounds))
    servers = servers.split()
    rows = {}
    loads = {}
    for srv in servers:
        rows[srv] = {
            "big": aggregate([load(d, srv, "a%dr%d" % (n_big, r), n_big, count)
                              for r in range(1, rounds + 1)]),
            "small": aggregate([load(d, srv, "a%dr%d" % (n_small, r), n_small,
                                     count) for r in range(1, rounds + 1)]),
            "burst": aggregate([load(d, srv, "burstr%d" % r, n_small, burst)
                                for r in range(1, rounds + 1)]),
        }
        la = []
        for f in sorted(os.listdir(d)):
            if f.startswith(srv + "-") and f.endswith(".load"):
                with open(os.path.join(d, f)) as fh:
                    la.append(float(fh.read().strip() or 0))
        loads[srv] = la
    with open(os.path.join(d, "machine")) as f:
        machine = f.read().strip()
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump({"machine": machine, "rounds": rounds, "results": rows,
                   "load_averages": loads}, f, indent=1)

    def cell(srv, sc, fmt):
        r = rows[srv][sc]
        if r is None:
            return "-"
        try:
            return fmt(r)
        except KeyError:
            return "n/a"

    def lat(r):
        return "%.0f / %.0f / %.0f" % (r["p50_ms"], r["p99_ms"], r["max_ms"])

    def got(r):
        return "%d/%d" % (r["received"], r["expected"])

    def each(key, f="%.0f"):
        return lambda r: ",".join(f % v for v in r[key + "_all"])

    lines = [
        ("(a) N=%d: p50/p99/max ms" % n_small, "small", lat),
        ("    p99 of each round", "small", each("p99_ms")),
        ("    received/expected", "small", got),
        ("(a) N=%d: p50/p99/max ms" % n_big, "big", lat),
        ("    p99 of each round", "big", each("p99_ms")),
        ("    received/expected", "big", got),
        ("(b) burst N=%d x %d: deliveries/s" % (n_small, burst), "burst",
         lambda r: "%.0f" % r["deliveries_per_s"]),
        ("    deliveries/s of each round", "burst",
         each("deliveries_per_s")),
        ("    p50/p99/max ms", "burst", lat),
        ("    received/expected", "burst", got),
        ("    publishes/s achieved", "burst",
         lambda r: "%.0f" % r["publish_rate"]),
        ("(c) memory per idle connection", "big",
         lambda r: "%.1f KB" % (r["bytes_per_idle_connection"] / 1024)),
        ("    server CPU s during (a) N=%d" % n_big, "big",
         lambda r: "%.1f" % r["server_cpu_s"]),
        ("    server CPU us per delivery, (a) N=%d" % n_big, "big",
         lambda r: "%.1f" % r["cpu_us_per_delivery"]),
        ("    server CPU us per delivery, (b)", "burst",
         lambda r: "%.1f" % r["cpu_us_per_delivery"]),
        ("    server CPU s to close N=%d" % n_big, "big",
         lambda r: "%.2f" % r["close_cpu_s"]),
        ("    message size, bytes", "small",
         lambda r: "%d" % r["bytes_per_message"]),
        ("    failed/closed connections", "big",
         lambda r: "%d/%d" % (r["failed_connections"],
                              r["closed_connections"])),
    ]
    w0 = max(len(l[0]) for l in lines) + 2
    print()
    print("== Stream fan-out (medians of %d rounds) ==" % rounds)
    print("machine: " + machine)
    idle = os.environ.get("IDLE_S", "0")
    print("command: bash bench/stream/run.sh  (N_BIG=%d N_SMALL=%d COUNT=%d "
          "BURST=%d ROUNDS=%d%s)" % (n_big, n_small, count, burst, rounds,
                                     "" if idle == "0" else
                                     " IDLE_S=" + idle))
    print("%-*s" % (w0, "") + "".join("%-24s" % s for s in servers))
    for label, sc, fmt in lines:
        print("%-*s" % (w0, label) +
              "".join("%-24s" % cell(s, sc, fmt) for s in servers))
    print("%-*s" % (w0, "load average before, min-max") + "".join(
        "%-24s" % ("%.1f-%.1f" % (min(loads[s]), max(loads[s]))
                   if loads[s] else "-") for s in servers))

    # Ratios: tocsind against each peer and the better peer.
    if "tocsind" not in servers:
        return
    peers = [s for s in servers if s != "tocsind"]
    print()
    print("tocsind / peer (latency and memory: < 1 is better; "
          "deliveries/s: > 1 is better)")

    def ratio(label, metric, sc, lower_better):
        t = rows["tocsind"][sc]
        if t is None or metric not in t:
            return
        vals = {p: rows[p][sc][metric] for p in peers
                if rows[p][sc] is not None and metric in rows[p][sc]}
        if not vals:
            return
        best = (min if lower_better else max)(vals, key=vals.get)
        parts = ["%s %.2f" % (p, t[metric] / v if v else float("inf"))
                 for p, v in vals.items()]
        print("  %-34s %s  (better peer: %s)" % (label, ", ".join(parts),
                                                 best))

    ratio("(a) N=%d p50" % n_small, "p50_ms", "small", True)
    ratio("(a) N=%d p99" % n_small, "p99_ms", "small", True)
    ratio("(a) N=%d p50" % n_big, "p50_ms", "big", True)
    ratio("(a) N=%d p99" % n_big, "p99_ms", "big", True)
    ratio("(b) deliveries/s", "deliveries_per_s", "burst", False)
    ratio("(c) bytes per idle connection", "bytes_per_idle_connection",
          "big", True)
    ratio("CPU per delivery, (a) N=%d" % n_big, "cpu_us_per_delivery", "big",
          True)
    ratio("CPU per delivery, (b)", "cpu_us_per_delivery", "burst", True)


if __name__ == "__main__":
    main()
