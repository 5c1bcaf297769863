#!/usr/bin/python3
"""gen.py: the spear-warning benchmark's data, made up and deterministic.

    python3 bench/warnings/gen.py DIR [ORGS PREFIXES ROWS]

Writes DIR/assets.csv (organisation_id,type,value: PREFIXES CIDR prefixes
of organisations 1..ORGS, 60 % IPv4, 40 % IPv6, nested three deep so they
overlap: IPv4 /16 > /24 > /28 in 10.0.0.0/8, IPv6 /40 > /48 > /56 in
2001:db8::/32) and DIR/report.csv (a Shadowserver-style report of ROWS
rows: timestamp,ip,port,asn,tag; 85 % of the addresses inside a registered
prefix chosen at random, so that deep prefixes are hit too, the rest in
unregistered space: 10.200.0.0-10.255.255.255 and fd00::/8). Only private,
documentation and unique-local space: no real organisation's addresses.
Defaults: 1000 organisations, 100000 prefixes, 1000000 rows.
"""

import ipaddress
import os
import random
import sys


def child(parent, length, rnd):
    """A random subnet of parent LENGTH bits long."""
    bits = length - parent.prefixlen
    return ipaddress.ip_network(
        (int(parent.network_address) +
         (rnd.getrandbits(bits) << (parent.max_prefixlen - length)), length))


def family(total, roots, child_len, grand_len, rnd):
    """total distinct prefixes three deep: the roots, ~40 % of the rest
    inside them, the others inside those."""
    level1 = roots[:max(1, min(len(roots), total // 200))]
    n2 = (total - len(level1)) * 2 // 5
    n3 = total - len(level1) - n2
    seen = set(level1)
    level2, level3 = [], []
    while len(level2) < n2:
        net = child(rnd.choice(level1), child_len, rnd)
        if net not in seen:
            seen.add(net)
            level2.append(net)
    while len(level3) < n3:
        net = child(rnd.choice(level2), grand_len, rnd)
        if net not in seen:
            seen.add(net)
            level3.append(net)
    return level1 + level2 + level3


def prefixes(n, rnd):
    """n distinct overlapping prefixes, 60 % IPv4 and 40 % IPv6."""
    n4 = n * 6 // 10
    roots4 = [ipaddress.ip_network("10.%d.0.0/16" % i) for i in range(200)]
    roots6 = [ipaddress.ip_network("2001:db8:%x00::/40" % i)
              for i in range(256)]
    return family(n4, roots4, 24, 28, rnd) + \
        family(n - n4, roots6, 48, 56, rnd)


def main():
    if len(sys.argv) not in (2, 5):
        sys.exit(__doc__)
    outdir = sys.argv[1]
    orgs, nprefix, rows = ((int(a) for a in sys.argv[2:5])
                           if len(sys.argv) == 5 else (1000, 100000, 1000000))
    rnd = random.Random(20260115)
    os.makedirs(outdir, exist_ok=True)
    nets = prefixes(nprefix, rnd)
    with open(os.path.join(outdir, "assets.csv"), "w") as f:
        f.write("organisation_id,type,value\n")
        for net in nets:
            f.write("%d,cidr,%s\n" % (rnd.randrange(orgs) + 1, net))
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    with open(os.path.join(outdir, "report.csv"), "w") as f:
        f.write("timestamp,ip,port,asn,tag\n")
        for i in range(rows):
            six = rnd.random() < 0.4
            if rnd.random() < 0.85:
                net = rnd.choice(v6 if six else v4)
                host = net.max_prefixlen - net.prefixlen
                addr = ipaddress.ip_address(int(net.network_address) +
                                            rnd.getrandbits(host))
            elif six:
                addr = ipaddress.ip_address((0xfd << 120) |
                                            rnd.getrandbits(120))
            else:
                second = 200 + rnd.randrange(56)
                addr = ipaddress.ip_address((10 << 24) | (second << 16) |
                                            rnd.getrandbits(16))
            f.write("2026-01-15 %02d:%02d:%02d,%s,443,%d,vpn\n" % (
                i // 3600 % 24, i // 60 % 60, i % 60, addr,
                64496 + rnd.randrange(16)))
    print("gen.py: %d prefixes (%d IPv4, %d IPv6), %d rows, report %d bytes"
          % (len(nets), len(v4), len(v6), rows,
             os.path.getsize(os.path.join(outdir, "report.csv"))))


if __name__ == "__main__":
    main()
