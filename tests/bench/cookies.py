#!/usr/bin/env python3
"""pindns DNS-cookie benchmark: what answering cookies costs per query, beside Knot and
NSD and the null responder, in one run, as ratios.

Each server runs alone on CPU 0 with one worker (as bench.py runs them); pindns-load loads
it from CPU 1 (8 sockets x 16 in flight) with bench.py's small-zone mix. Kinds:

- `null`, `pindns`, `knot`, `nsd`: queries without a cookie, servers as bench.py has them;
- `pindns-cookie-client`: `cookies: yes`, every query with a client cookie alone, so each
  answer carries a fresh server cookie (one SipHash-2-4 per query);
- `pindns-cookie-valid`: `cookies: yes`, every query with the server cookie pindns gave
  the load's address (learned first): checked (one SipHash) and echoed;
- `knot-cookie-valid`: Knot's mod-cookies, queries with the server cookie it gave;
- `knot-cookie-client`: mod-cookies with a client cookie alone, which Knot answers with
  BADCOOKIE (its module requires them): a different answer, listed for completeness.

NSD 4.6 (Debian 12) has no cookies. The figure is server CPU (utime + stime of its process
tree) per answered query, as a ratio to the null responder and to the same server without
cookies, each the median over interleaved rounds. --out FILE writes the report there too.
Only loopback is loaded; every server started here is stopped, also on errors.
"""

import argparse
import datetime
import os
import signal
import statistics
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import harness  # noqa: E402

CLIENT_COOKIE = bytes.fromhex("0123456789abcdef")
KINDS = ("null,pindns,pindns-cookie-client,pindns-cookie-valid,knot,knot-cookie-valid,"
         "knot-cookie-client,nsd")
KNOT_COOKIES = """mod-cookies:
  - id: default
    secret-lifetime: 30h
"""


def server_cookie(port, name):
    """The COOKIE option's data the server sends the load's address (127.0.0.1) for our
    client cookie: client cookie and server cookie."""
    q = harness.make_query(name, options=[(10, CLIENT_COOKIE)])
    for _ in range(20):
        r = harness.raw_query(port, q, timeout=0.5)
        at = r.find(struct.pack("!H", 10) + b"\x00") if r else -1
        if at > 0:
            length = struct.unpack("!H", r[at + 2:at + 4])[0]
            data = r[at + 4:at + 4 + length]
            if data[:8] == CLIENT_COOKIE and len(data) > 8:
                return data
        time.sleep(0.1)
    raise RuntimeError("no server cookie from the server on port %d" % port)


class CookieBench(bench.Bench):
    def pindns_conf_extra(self, kind):
        return "cookies: yes\n" if "-cookie" in kind else ""

    def knot_conf(self, kind, text):
        if "-cookie" not in kind:
            return text
        return text.replace("template:\n  - id: default\n",
                            KNOT_COOKIES + "template:\n  - id: default\n"
                            "    global-module: mod-cookies/default\n", 1)

    def load_cookie(self, srv, kind, queries, probe):
        cookie = b""
        if kind.endswith("-cookie-client"):
            cookie = CLIENT_COOKIE
        elif kind.endswith("-cookie-valid"):
            cookie = server_cookie(srv.port, probe)
        argv_cookie = ["--cookie", cookie.hex()] if cookie else []
        return self.load(srv, queries, self.args.duration, self.args.warmup,
                         extra=argv_cookie)

    def measure_kind(self, kind, zonedir, origin, queries, probe):
        srv = self.start(kind, zonedir, origin, harness.free_port())
        try:
            if kind == "null":
                harness.wait_for_udp(srv.port, proc=srv.proc)
            else:
                self.wait_answering(srv, probe, 60)
            return self.load_cookie(srv, kind, queries, probe)
        finally:
            self.stop(srv)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--duration", type=float, default=5, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    ap.add_argument("--servers", default=KINDS, help="kinds to run (default %(default)s)")
    ap.add_argument("--out", help="write the report here too")
    args = ap.parse_args()
    args.baseline = None
    signal.signal(signal.SIGTERM, bench.on_sigterm)
    b = CookieBench(args)
    kinds = [k for k in args.servers.split(",") if k]
    runs = {k: [] for k in kinds}
    try:
        origin = "example.com"
        zdir = os.path.join(b.work, "zones")
        os.makedirs(zdir)
        bench.write_zone(os.path.join(zdir, origin + ".zone"), origin, 1000)
        queries = os.path.join(b.work, "queries.txt")
        bench.write_queries(queries, origin, 1000, 100000)
        probe = "h1.%s" % origin
        for rnd in range(args.rounds):
            for kind in kinds:
                r = b.measure_kind(kind, zdir, origin, queries, probe)
                runs[kind].append(r)
                print("round %d %-22s %8.0f qps %6.2f us/query, lost %d" % (
                    rnd + 1, kind, r["qps"], r["server_cpu_us_per_query"], r["lost"]),
                    file=sys.stderr)
    finally:
        b.cleanup()
    med = {k: statistics.median(r["server_cpu_us_per_query"] for r in v)
           for k, v in runs.items()}
    # Ratios per round, then their median: the VM's drift moves whole rounds.
    def ratio(k, to):
        return statistics.median(a["server_cpu_us_per_query"] / b["server_cpu_us_per_query"]
                                 for a, b in zip(runs[k], runs[to]))
    lines = ["# pindns cookie benchmark, %s" % datetime.datetime.now().strftime(
                 "%Y-%m-%d %H:%M"), "",
             "Each server alone on CPU %s with one worker; pindns-load on CPU %s (8 sockets "
             "x 16 in flight); %gs warm-up, %gs measured, median of %d interleaved "
             "round(s); the small-zone mix of bench.py." % (
                 bench.SERVER_CPU, bench.LOAD_CPU, args.warmup, args.duration, args.rounds),
             "",
             "| server | queries carry | CPU µs/query | × null | × same server, no cookie "
             "| qps | lost |",
             "|---|---|---|---|---|---|---|"]
    for k in kinds:
        base = k.split("-cookie")[0]
        carry = ("client cookie" if k.endswith("-client") else
                 "valid server cookie" if k.endswith("-valid") else "no cookie")
        lines.append("| %s | %s | %.2f | %s | %s | %.0f | %d |" % (
            k, carry, med[k], "%.2f" % ratio(k, "null") if "null" in runs else "–",
            "%.3f" % ratio(k, base) if base in runs and base != k else "–",
            statistics.median(r["qps"] for r in runs[k]),
            statistics.median(r["lost"] for r in runs[k])))
    report = "\n".join(lines) + "\n"
    print(report)
    bench.write_report(report, [args.out])
    return bench.exit_status(True, [])


if __name__ == "__main__":
    bench.run_main(main)
