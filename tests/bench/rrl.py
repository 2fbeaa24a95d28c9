#!/usr/bin/env python3
"""pindns response-rate-limiting benchmark: a spoofing-style flood against pindns, Knot and
NSD with their rate limits on and off, and the null responder, in one run.

Each server runs alone on CPU 0 (taskset) with one UDP worker: pindnsd --threads 1, Knot
udp-workers 1, NSD server-count 1, and `pindns-null`. Two open-loop pindns-load runs
(--rate) go at it from CPU 1:

- the flood: FLOOD qps (default 50,000) of one query (default `h1.example.com A`, an
  existing name: the answer class) from 64 source ports of 127.0.0.1, whatever comes back;
- a well-behaved client: 100 qps of the benchmark's query mix (bench.py's small zone) from
  one port of 127.0.1.2, another /24 than the flood's: Knot 3.2 limits per /24 with no
  setting for it, so the client is in a prefix of its own for every server.

With RRL on, every server limits to LIMIT responses a second (default 1,000) per /24 with
slip 2: pindns `rate-limit: LIMIT` (per prefix, response class and zone, window 1 s),
Knot `mod-rrl` (`rate-limit: LIMIT`, `slip: 2`, as a global module; per /24, class and
name or zone, in buckets of its own design), NSD `rrl-ratelimit: LIMIT`, `rrl-slip: 2`,
`rrl-ipv4-prefix-length: 24` (per /24, query name and type class, a smoothed average per
second). Off: pindns without rate-limit, Knot without the module, NSD `rrl-ratelimit: 0`.
The limits are not the same algorithm, so "full answers/s" shows how each one counts:
pindns and Knot let LIMIT/s through a steady flood, while NSD counts every query, limited
ones too, in its per-second average, so a flood that stays above the limit gets no full
answer at all, only slips.

Per run, over the flood's measured window (after a warm-up that empties the buckets):
flood answers/s in full, slipped (TC)/s, with no answer/s; the share of the well-behaved
client's queries answered (the whole run); the server's CPU (utime + stime of its process
tree, as bench.py counts it) per packet it received: the queries sent less what the kernel
dropped from its sockets' buffers (the drops column of /proc/net/udp for its port; when
there are any the server was saturated, and the row says so). That CPU is given as a ratio
to the same server with RRL off ("within 10% of normal" is a ratio <= 1.10) and to the null
responder, each the median of the per-round ratios: servers are interleaved round by round.

The report is printed; --out FILE writes it there too, --record into
tests/bench/results/DATE-rrl.md. --smoke (a ctest: bench.rrl-smoke) runs pindns alone,
RRL on and off, for a second and a half at 5,000 qps against a limit of 200, and fails
unless pindns lets LIMIT +- 25% through and answers the well-behaved client. Only loopback
is loaded; every server started here is stopped, also on errors and Ctrl-C.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import harness  # noqa: E402
from bench import PIN, SERVER_CPU, LOAD_CPU, tree_pids  # noqa: E402

SERVERS = "null,pindns,pindns-rrl,knot,knot-rrl,nsd,nsd-rrl"
FLOOD_SOURCE = "127.0.0.1"
FLOOD_PORTS = 64
GOOD_SOURCE = "127.0.1.2"  # another /24 than the flood's
GOOD_QPS = 100
SLIP = 2
PREFIX_V4 = 24
# What the well-behaved client must get, and how near its limit pindns must keep the flood
# (here, and in the smoke test); other servers' figures are reported, not checked.
GOOD_MIN = 0.99
LIMIT_TOLERANCE = 0.10
SMOKE_TOLERANCE = 0.25

# bench.py's Knot with the RRL module, global (for every zone).
KNOT_RRL = """mod-rrl:
  - id: default
    rate-limit: {limit}
    slip: {slip}
template:
  - id: default
    global-module: mod-rrl/default
"""
assert "\ntemplate:\n  - id: default\n" in bench.KNOT_CONF, "bench.KNOT_CONF changed"
NSD_RRL = ("  rrl-ratelimit: {limit}\n  rrl-slip: {slip}\n"
           "  rrl-ipv4-prefix-length: %d\n  rrl-ipv6-prefix-length: 56\n" % PREFIX_V4)
assert "\n  rrl-ratelimit: 0\n" in harness.NSD_CONF, "harness.NSD_CONF changed"


def socket_drops(port):
    """Datagrams the kernel dropped so far from the receive buffers of the sockets bound to
    port (the drops column of /proc/net/udp and udp6): what the server never received."""
    return sum(int(fields[-1]) for _, fields in harness.proc_net_sockets(("udp", "udp6"), port)
               if len(fields) >= 13)


class RrlBench(bench.Bench):
    def start(self, kind, zonedir, origin, port):
        """The server of kind (null, pindns, knot, nsd; "-rrl" for its rate limit on),
        pinned to SERVER_CPU, with one UDP worker."""
        base, rrl = kind.replace("-rrl", ""), kind.endswith("-rrl")
        a = self.args
        taskset = ["taskset", "-c", SERVER_CPU] if PIN else []
        log = os.path.join(self.work, "%s-%d.log" % (kind, port))
        d = tempfile.mkdtemp(dir=self.work)
        if base == "null":
            argv = taskset + [os.path.join(self.build, "pindns-null"), "127.0.0.1:%d" % port]
        elif base == "pindns":
            conf = os.path.join(d, "pindns.conf")
            with open(conf, "w") as f:
                f.write("cache-size: 16M\nlog-level: warning\n")
                if rrl:
                    f.write("rate-limit: %d\nrate-limit-slip: %d\nrate-limit-ipv4-prefix: "
                            "%d\n" % (a.limit, SLIP, PREFIX_V4))
            argv = taskset + [os.path.join(self.build, "pindnsd"), "--foreground", "--config",
                              conf, "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                              "--zones", zonedir]
        elif base == "knot":
            os.makedirs(os.path.join(d, "db"))
            text = bench.KNOT_CONF.format(port=port, dir=d, zones=zonedir, origin=origin)
            if rrl:
                text = text.replace("\ntemplate:\n  - id: default\n", "\n" + KNOT_RRL.format(
                    limit=a.limit, slip=SLIP), 1)
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(text)
            argv = taskset + ["knotd", "-c", conf]
        elif base == "nsd":
            text = harness.NSD_CONF.format(port=port, zones=zonedir, dir=d)
            text = text.replace("\n  rrl-ratelimit: 0\n", "\n" + (NSD_RRL.format(
                limit=a.limit, slip=SLIP) if rrl else "  rrl-ratelimit: 0\n"), 1)
            text += "zone:\n  name: %s\n  zonefile: %s.zone\n" % (origin, origin)
            conf = os.path.join(d, "nsd.conf")
            with open(conf, "w") as f:
                f.write(text)
            argv = taskset + ["nsd", "-d", "-c", conf]
        else:
            raise ValueError(kind)
        srv = harness.Server(argv, port, log, ours=base == "pindns")
        self.servers.append(srv)
        return srv

    def load_argv(self, srv, queries, rate, sockets, seconds, warmup, source=None):
        argv = [os.path.join(self.build, "pindns-load"), "-s", "127.0.0.1:%d" % srv.port,
                "-f", queries, "--rate", str(rate), "-S", str(sockets), "-d", str(seconds),
                "-W", str(warmup), "-t", "1000", "--json"]
        if source:
            argv += ["-b", source]
        if PIN:
            argv += ["-c", LOAD_CPU]
        return argv

    def measure(self, kind, zdir, origin, flood_file, good_file, probe):
        """One server under the flood and the well-behaved client: the flood's and the
        client's pindns-load reports, and the kernel's drops at the server's port."""
        a = self.args
        srv = self.start(kind, zdir, origin, harness.free_port())
        good = None
        try:
            if kind == "null":
                harness.wait_for_udp(srv.port, proc=srv.proc)
            else:
                self.wait_answering(srv, probe, 60)
            drops0 = socket_drops(srv.port)
            # The client first, for longer: it is there for all of the flood.
            good = subprocess.Popen(
                self.load_argv(srv, good_file, GOOD_QPS, 1, a.warmup + a.duration + 0.5, 0,
                               source=GOOD_SOURCE),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            argv = self.load_argv(srv, flood_file, a.flood, FLOOD_PORTS, a.duration, a.warmup,
                                  source=FLOOD_SOURCE)
            for p in tree_pids(srv.proc.pid):
                argv += ["-p", str(p)]
            out = harness.run(argv, timeout=a.duration + a.warmup + 60)
            if out.returncode != 0:
                raise RuntimeError("pindns-load (flood) exited %d: %s%s" % (
                    out.returncode, out.stdout, out.stderr))
            fl = json.loads(out.stdout)
            if fl["server_cpu_s"] < 0:
                raise RuntimeError("the server's CPU was not measured (a process of it "
                                   "exited?): %s" % out.stdout)
            gout, gerr = good.communicate(timeout=a.duration + a.warmup + 60)
            if good.returncode != 0:
                raise RuntimeError("pindns-load (client) exited %d: %s%s" % (
                    good.returncode, gout, gerr))
            gd = json.loads(gout)
            drops = socket_drops(srv.port) - drops0
        finally:
            if good and good.poll() is None:
                good.kill()
                good.wait()
            self.stop(srv)
        secs = fl["seconds"]
        # Drops are counted over the whole run; the measured part had its share of them.
        whole = a.flood * (a.warmup + secs) + gd["sent"]
        received = (fl["sent"] + GOOD_QPS * secs) * max(0.0, 1 - drops / whole)
        return {
            "sent_s": fl["sent"] / secs, "full_s": fl["full"] / secs,
            "tc_s": fl["truncated"] / secs, "lost_s": fl["lost"] / secs,
            "skipped": fl["skipped"], "sent": fl["sent"],
            "good_pct": 100.0 * gd["full"] / gd["sent"] if gd["sent"] else 0.0,
            "good_sent": gd["sent"], "good_full": gd["full"],
            "drops_pct": 100.0 * drops / whole, "cpu_pct": 100.0 * fl["server_cpu_s"] / secs,
            "cpu_us": fl["server_cpu_s"] * 1e6 / received if received else 0.0,
            "loadgen_cpu_pct": 100.0 * fl["loadgen_cpu_s"] / secs,
        }


def median_rows(runs):
    rows = {}
    for k, v in runs.items():
        rows[k] = {key: statistics.median(r[key] for r in v) for key in v[0]}
        # The ratios compare runs of the same round (the machine drifts between rounds).
        off = k.replace("-rrl", "")
        if k != off and off in runs:
            rows[k]["x_off"] = statistics.median(
                r["cpu_us"] / o["cpu_us"] for r, o in zip(v, runs[off]))
        if "null" in runs:
            rows[k]["x_null"] = statistics.median(
                r["cpu_us"] / n["cpu_us"] for r, n in zip(v, runs["null"]))
    return rows


def table(rows):
    lines = ["| server | RRL | flood sent/s | full answers/s | slipped (TC)/s | no answer/s "
             "| well-behaved answered % | kernel drops % | server CPU % "
             "| CPU µs / received packet | × RRL off | × null |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in rows.items():
        base = k.replace("-rrl", "")
        mark = " (saturated)" if r["drops_pct"] > 0.1 else ""
        if r["skipped"] > 0.01 * r["sent"]:
            mark += " (load generator behind)"
        lines.append("| %s%s | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f | %.3f | "
                     "%s | %s |" % (
                         base, mark, "-" if k == "null" else "on" if k != base else "off",
                         r["sent_s"], r["full_s"], r["tc_s"], r["lost_s"], r["good_pct"],
                         r["drops_pct"], r["cpu_pct"], r["cpu_us"],
                         "%.2f" % r["x_off"] if "x_off" in r else "-",
                         "%.2f" % r["x_null"] if "x_null" in r else "-"))
    return "\n".join(lines)


def verdicts(rows, args, tolerance):
    """Sentences on each server with RRL on, and the checks pindns must pass (a list of
    failures: empty when they all hold)."""
    out, failures = [], []
    for k, r in rows.items():
        if not k.endswith("-rrl"):
            continue
        near = abs(r["full_s"] - args.limit) <= tolerance * args.limit
        x = r.get("x_off")
        out.append("- %s: %.0f full answers/s against a limit of %d (%s), %.1f%% of the "
                   "limited ones slipped; the well-behaved client got %.2f%%; CPU per "
                   "packet %s." % (
                       k, r["full_s"], args.limit,
                       "within %.0f%%" % (100 * tolerance) if near else "off by %.0f%%" % (
                           100 * abs(r["full_s"] - args.limit) / args.limit),
                       100 * r["tc_s"] / max(r["sent_s"] - r["full_s"], 1e-9), r["good_pct"],
                       "%.2f x RRL off (%s)" % (x, "within 10%" if x <= 1.10 else
                                                "more than 10% over") if x else "-"))
        if k == "pindns-rrl":
            if not near:
                failures.append("pindns let %.0f/s through, not %d +- %.0f%%" % (
                    r["full_s"], args.limit, 100 * tolerance))
            if r["good_pct"] < 100 * GOOD_MIN:
                failures.append("pindns answered %.2f%% of the well-behaved client" %
                                r["good_pct"])
    off = rows.get("pindns")
    if off and off["good_pct"] < 100 * GOOD_MIN:
        failures.append("pindns without RRL answered %.2f%% of the well-behaved client" %
                        off["good_pct"])
    return out, failures


def machine_facts(b, kinds):
    facts = [bench.machine_line()]
    seen = set()
    for k in kinds:
        base = k.replace("-rrl", "")
        argv = {"knot": ["knotd", "--version"], "nsd": ["nsd", "-v"],
                "pindns": [os.path.join(b.build, "pindnsd"), "--version"]}.get(base)
        if argv and base not in seen:
            seen.add(base)
            facts.append("- %s: %s" % (base, bench.version_of(argv)))
    return facts


def available(b, servers, report):
    kinds = []
    for k in servers.split(","):
        k = k.strip()
        if not k:
            continue
        base = k.replace("-rrl", "")
        if base not in ("null", "pindns", "knot", "nsd") or k == "null-rrl":
            raise SystemExit("unknown server %r (of %s)" % (k, SERVERS))
        binary = {"knot": "knotd", "nsd": "nsd"}.get(base)
        if binary and not shutil.which(binary):
            report.append("(%s skipped: %s is not installed)" % (k, binary))
            continue
        kinds.append(k)
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory (a release build for real figures)")
    ap.add_argument("--servers", default=SERVERS, help="comma-separated (default %(default)s)")
    ap.add_argument("--flood", type=float, default=50000, help="flood qps (default 50000)")
    ap.add_argument("--limit", type=int, default=1000,
                    help="responses/s per /24 with RRL on (default 1000)")
    ap.add_argument("--flood-query", default="h1.example.com A",
                    help="the flood's query, 'NAME TYPE' (default %(default)s)")
    ap.add_argument("--duration", type=float, default=5, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.5,
                    help="unmeasured seconds first, which empty the buckets (default 1.5)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    ap.add_argument("--out", help="write the report here too")
    ap.add_argument("--record", action="store_true",
                    help="write the report to tests/bench/results/DATE-rrl.md")
    ap.add_argument("--smoke", action="store_true",
                    help="pindns alone, RRL on and off, 1.5 s at 5000 qps, limit 200: checks "
                         "that the script works and pindns keeps its limit")
    args = ap.parse_args()
    tolerance = LIMIT_TOLERANCE
    if args.smoke:
        args.servers, args.flood, args.limit = "pindns,pindns-rrl", 5000, 200
        args.duration, args.warmup, args.rounds = 1.5, 0.5, 1
        tolerance = SMOKE_TOLERANCE
    if args.rounds < 1 or args.duration <= 0 or args.warmup <= 0 or args.flood <= 0 or \
            args.limit < 1:
        ap.error("--rounds, --duration, --warmup, --flood and --limit must be positive")
    if PIN:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # this script off the server's CPU
    signal.signal(signal.SIGTERM, bench.on_sigterm)

    b = RrlBench(args)
    report = ["# pindns rate-limiting benchmark, %s" % datetime.datetime.now().strftime(
        "%Y-%m-%d %H:%M"), ""]
    ok = True
    try:
        kinds = available(b, args.servers, report)
        report += machine_facts(b, kinds) + [""]
        report += ["A flood of %.0f qps of `%s` from %d source ports of %s and a well-behaved "
                   "client at %d qps (the bench.py mix) from %s, both `pindns-load --rate` on "
                   "CPU %s; each server on CPU %s with one UDP worker; RRL on: %d responses/s "
                   "per /%d, slip %d. %gs warm-up, %gs measured, median of %d round(s); × "
                   "RRL off and × null are medians of the per-round ratios of CPU µs per "
                   "received packet." % (
                       args.flood, args.flood_query, FLOOD_PORTS, FLOOD_SOURCE, GOOD_QPS,
                       GOOD_SOURCE, LOAD_CPU if PIN else "any", SERVER_CPU if PIN else "any",
                       args.limit, PREFIX_V4, SLIP, args.warmup, args.duration, args.rounds),
                   ""]
        origin = "example.com"
        zdir = os.path.join(b.work, "zones")
        os.makedirs(zdir)
        os.chmod(b.work, 0o755)
        os.chmod(zdir, 0o755)
        bench.write_zone(os.path.join(zdir, origin + ".zone"), origin, 1000)
        good_file = os.path.join(b.work, "queries.txt")
        bench.write_queries(good_file, origin, 1000, 10000)
        flood_file = os.path.join(b.work, "flood.txt")
        with open(flood_file, "w") as f:
            f.write(args.flood_query + "\n")
        runs = {k: [] for k in kinds}
        for rnd in range(args.rounds):
            for k in kinds:
                r = b.measure(k, zdir, origin, flood_file, good_file, "h1.%s" % origin)
                runs[k].append(r)
                print("round %d %-11s sent %.0f/s, full %.0f/s, TC %.0f/s, none %.0f/s, "
                      "client %.2f%%, kernel drops %.2f%%, CPU %.0f%%, %.3f us/packet, "
                      "load generator %.0f%% CPU, %d not sent" % (
                          rnd + 1, k, r["sent_s"], r["full_s"], r["tc_s"], r["lost_s"],
                          r["good_pct"], r["drops_pct"], r["cpu_pct"], r["cpu_us"],
                          r["loadgen_cpu_pct"], r["skipped"]), file=sys.stderr)
        rows = median_rows(runs)
        lines, failures = verdicts(rows, args, tolerance)
        report += ["## Flood of %.0f qps, limit %d/s" % (args.flood, args.limit), "",
                   table(rows), ""] + lines + [""]
        if failures:
            ok = False
            report += ["FAILED: " + "; ".join(failures), ""]
    finally:
        b.cleanup()

    text = "\n".join(report) + "\n"
    print(text)
    outs = [args.out] if args.out else []
    if args.record:
        outs.append(os.path.join(HERE, "results", "%s-rrl.md" %
                                 datetime.date.today().isoformat()))
    bench.write_report(text, outs)
    return bench.exit_status(ok, report, args.smoke)


if __name__ == "__main__":
    bench.run_main(main)
