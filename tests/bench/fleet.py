#!/usr/bin/env python3
"""pindns fleet benchmark: how fast a change on a primary reaches a fleet of secondaries
that follow its catalog zone (RFC 9432), pindns beside Knot in one run.

One Knot primary (knotd, `catalog-role: generate`) holds MEMBERS member zones and the
catalog it generates from them, TSIG (hmac-sha256) on every transfer and NOTIFY, and
NOTIFY to each secondary. The secondaries, each on its own loopback port: PINDNS pindnsd
(`catalog: CATALOG PRIMARY key xfr.key`, one UDP worker, its state-dir in the run's temp
folder) and KNOT Knot secondaries (`catalog-role: interpret`) of the same catalog, so the
figures compare within one run as ratios (the benchmark rule: this VM drifts too much for
absolute numbers to mean much). Meanwhile each secondary is queried by its own
`pindns-load --rate RATE` (open loop over UDP, names of the members there from the start):
what it sent, what was answered, what was lost and the rcodes go in the report.

Each round times two events, from time.monotonic() just before knotc's commit (conf-commit
or zone-commit) to the first answer showing the change, polling every secondary every
POLL ms over UDP:
  (a) a zone added to the catalog (knotc conf-begin / conf-set zone[NEW] member /
      conf-commit): until the secondary answers NEW's SOA with authority;
  (b) a member's record changed (zone-begin / zone-set www A / zone-commit, the serial
      bumped by Knot): until its answer to www.MEMBER A holds the new address;
  (c) the zone of (a) removed from the catalog (conf-unset zone[NEW]): until the
      secondary answers REFUSED for it.
The table gives median / p90 / max over the rounds per event and secondary, "pindns
(last)" the slowest pindns secondary of each round (when the fleet is in sync), and
pindns/knot the median of the per-round ratios of the last pindns to the last Knot.

--smoke (a ctest: bench.fleet-smoke) runs 2 rounds with 3 members at 100 qps each and
fails if a secondary misses an event, the load loses a query or gets a SERVFAIL, or a
pindnsd does not exit 0 cleanly. The report is printed; --out FILE writes it there too,
--record into tests/bench/results/DATE-fleet.md. Only loopback is used; every server
started here is stopped, also on errors and Ctrl-C.
"""

import argparse
import datetime
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import harness  # noqa: E402
import xfrpeers  # noqa: E402

CATALOG = "catalog.fleet"
EVENT_TIMEOUT = 30.0   # seconds a secondary may take to show one change
SYNC_TIMEOUT = 60.0    # seconds the fleet may take to serve every member at the start
EVENTS = (("add", "(a) zone added to the catalog, until served"),
          ("update", "(b) member record changed, until the new data is answered"),
          ("remove", "(c) the zone of (a) removed from the catalog, until REFUSED"))


def member_zone(origin, hosts=20):
    return xfrpeers.zone_text(origin, records=["h%d A 10.0.%d.%d" % (i, i // 250, i % 250)
                                               for i in range(hosts)] + ["@ MX 10 www"])


def p90(values):
    """The nearest-rank 90th percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(0.9 * len(v)) - 1)]


class Secondary:
    """One secondary of the fleet: its kind ("pindns" or "knot"), label, port, server."""

    def __init__(self, kind, label, peer):
        self.kind, self.label, self.peer = kind, label, peer
        self.port = peer.port
        self.load = None

    def output(self):
        return self.peer.output()


def answers_address(port, name, addr):
    """Whether the server's A answer for name holds addr (dotted quad)."""
    r = harness.raw_query(port, harness.make_query(name), timeout=0.05)
    return bool(r) and r[3] & 0xF == 0 and socket.inet_aton(addr) in r[12:]


def serves(port, origin):
    return xfrpeers.soa_serial(port, origin, timeout=0.05) is not None


def wait_all(fleet, check, t0, timeout=EVENT_TIMEOUT, poll=0.005):
    """Polls each secondary every poll seconds until check(secondary) holds for all;
    returns label -> seconds since t0 (None for a secondary that never showed it)."""
    times = {s.label: None for s in fleet}
    deadline = t0 + timeout
    while True:
        pending = [s for s in fleet if times[s.label] is None]
        if not pending:
            return times
        for s in pending:
            if check(s):
                times[s.label] = time.monotonic() - t0
        if time.monotonic() > deadline:
            return times
        time.sleep(poll)


class Fleet:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="pindns-fleet-")
        os.chmod(self.work, 0o755)
        self.key = xfrpeers.TsigKey.generate("xfr.key")
        self.knot = None
        self.fleet = []

    def start(self):
        a = self.args
        self.members = ["z%d.fleet" % i for i in range(a.members)]
        self.knot = xfrpeers.KnotPrimary({m: member_zone(m) for m in self.members},
                                         key=self.key, catalog=CATALOG, log_level="notice")
        for i in range(a.pindns):
            self.fleet.append(Secondary("pindns", "pindns-%d" % (i + 1),
                                        self.start_pindnsd(i)))
        for i in range(a.knot):
            peer = xfrpeers.KnotSecondary(self.knot.port, key=self.key, catalog=CATALOG,
                                          log_level="notice")
            self.fleet.append(Secondary("knot", "knot-%d" % (i + 1), peer))
        self.knot.set_notify([s.port for s in self.fleet])
        t0 = time.monotonic()
        for m in self.members:
            times = wait_all(self.fleet, lambda s: serves(s.port, m), t0, SYNC_TIMEOUT,
                             poll=0.05)
            late = [k for k, v in times.items() if v is None]
            if late:
                raise RuntimeError("%s do not serve %s after %.0f s:\n%s" % (
                    ", ".join(late), m, SYNC_TIMEOUT, "\n".join(
                        "--- %s:\n%s" % (s.label, s.output()[-4000:])
                        for s in self.fleet if s.label in late)))
        return time.monotonic() - t0

    def start_pindnsd(self, i):
        d = tempfile.mkdtemp(prefix="pindns-%d-" % i, dir=self.work)
        zones = os.path.join(d, "zones")
        os.mkdir(zones)
        conf = os.path.join(d, "pindns.conf")
        with open(conf, "w") as f:
            f.write(xfrpeers.pindns_conf(self.key, catalogs=[(CATALOG, self.knot.port)],
                                         state_dir=xfrpeers.pindns_state_dir(d),
                                         extra="log-level: warning\n"))
        harness.PINDNSD = os.path.join(self.build, "pindnsd")
        return harness.start_pindnsd(["--config", conf, "--threads", "1"], zones=zones,
                                     workdir=d)

    def start_loads(self):
        """One open-loop pindns-load per secondary, on names of the first members."""
        queries = os.path.join(self.work, "queries.txt")
        with open(queries, "w") as f:
            for m in self.members:
                for i in range(20):
                    f.write("h%d.%s A\n" % (i, m))
                f.write("%s MX\nnx.%s A\n" % (m, m))
        for s in self.fleet:
            argv = [os.path.join(self.build, "pindns-load"), "-s", "127.0.0.1:%d" % s.port,
                    "-f", queries, "--rate", str(self.args.rate), "-S", "1", "-d", "3600",
                    "-W", "0", "-t", "1000", "--json"]
            s.load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)

    def stop_loads(self):
        """SIGINT to each load (it stops sending, waits for what is in flight, reports);
        label -> its JSON report."""
        out = {}
        for s in self.fleet:
            if s.load and s.load.poll() is None:
                s.load.send_signal(signal.SIGINT)
        for s in self.fleet:
            if not s.load:
                continue
            stdout, stderr = s.load.communicate(timeout=60)
            if s.load.returncode != 0:
                raise RuntimeError("pindns-load at %s exited %d: %s%s" % (
                    s.label, s.load.returncode, stdout, stderr))
            out[s.label] = json.loads(stdout)
        return out

    def round(self, n):
        """One round: a zone added, then a member changed; per event label -> seconds."""
        new = "new%d.fleet" % n
        self.knot.add_member(new, member_zone(new))
        add = wait_all(self.fleet, lambda s: serves(s.port, new), self.knot.last_commit,
                       poll=self.args.poll / 1000)
        member = self.members[n % len(self.members)]
        addr = "192.0.2.%d" % (n % 200 + 20)
        self.knot.set_records(member, "www", "A", [addr])
        name = "www." + member
        upd = wait_all(self.fleet, lambda s: answers_address(s.port, name, addr),
                       self.knot.last_commit, poll=self.args.poll / 1000)
        self.knot.remove_member(new)
        rem = wait_all(self.fleet, lambda s: xfrpeers.rcode(s.port, new, 6, timeout=0.05) == 5,
                       self.knot.last_commit, poll=self.args.poll / 1000)
        return {"add": add, "update": upd, "remove": rem}

    def cleanup(self):
        for s in self.fleet:
            if s.load and s.load.poll() is None:
                s.load.kill()
                s.load.wait()
        errors = []
        for s in self.fleet + ([Secondary("knot", "primary", self.knot)] if self.knot
                               else []):
            try:
                s.peer.stop()  # a pindnsd must exit 0 without a sanitizer report
            except AssertionError as e:
                errors.append("%s: %s" % (s.label, e))
        shutil.rmtree(self.work, ignore_errors=True)
        return errors


def event_table(fleet, runs):
    """The per-event table: one row per secondary, then pindns (last) and the ratio."""
    lines = ["| secondary | event | median ms | p90 ms | max ms | rounds shown / run |",
             "|---|---|---|---|---|---|"]
    kinds = sorted(set(s.kind for s in fleet), key=lambda k: k != "pindns")
    for ev, _ in EVENTS:
        lasts = {}
        for s in fleet:
            v = [r[ev][s.label] for r in runs]
            got = [x * 1000 for x in v if x is not None]
            lines.append("| %s | %s | %s | %s | %s | %d / %d |" % (
                s.label, ev, "%.1f" % statistics.median(got) if got else "-",
                "%.1f" % p90(got) if got else "-", "%.1f" % max(got) if got else "-",
                len(got), len(v)))
        for k in kinds:
            per_round = []
            for r in runs:
                v = [r[ev][s.label] for s in fleet if s.kind == k]
                per_round.append(None if None in v else max(v))
            lasts[k] = per_round
            got = [x * 1000 for x in per_round if x is not None]
            lines.append("| **%s (last of %d)** | %s | %s | %s | %s | %d / %d |" % (
                k, sum(1 for s in fleet if s.kind == k), ev,
                "%.1f" % statistics.median(got) if got else "-",
                "%.1f" % p90(got) if got else "-", "%.1f" % max(got) if got else "-",
                len(got), len(per_round)))
        if "pindns" in lasts and "knot" in lasts:
            ratios = [p / k for p, k in zip(lasts["pindns"], lasts["knot"])
                      if p is not None and k]
            lines.append("| **pindns / knot** | %s | %s (median of the rounds' ratios) "
                         "| | | %d rounds |" % (
                             ev, "%.2f" % statistics.median(ratios) if ratios else "-",
                             len(ratios)))
    return "\n".join(lines)


def load_table(loads):
    lines = ["| secondary | queries sent | answered | lost | NOERROR | NXDOMAIN | REFUSED "
             "| SERVFAIL |", "|---|---|---|---|---|---|---|---|"]
    for label, r in loads.items():
        rc = r.get("rcodes", {})
        lines.append("| %s | %d | %d | %d | %d | %d | %d | %d |" % (
            label, r["sent"], r["answered"], r["lost"], rc.get("NOERROR", 0),
            rc.get("NXDOMAIN", 0), rc.get("REFUSED", 0), rc.get("SERVFAIL", 0)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory (pindnsd, pindns-load)")
    ap.add_argument("--pindns", type=int, default=3, help="pindnsd secondaries (default 3)")
    ap.add_argument("--knot", type=int, default=1, help="Knot secondaries (default 1)")
    ap.add_argument("--members", type=int, default=20, help="member zones at the start")
    ap.add_argument("--rounds", type=int, default=10, help="rounds (default 10)")
    ap.add_argument("--rate", type=int, default=500,
                    help="queries per second to each secondary (default 500)")
    ap.add_argument("--poll", type=float, default=5, help="ms between polls (default 5)")
    ap.add_argument("--out", help="write the report here too")
    ap.add_argument("--record", action="store_true",
                    help="write the report to tests/bench/results/DATE-fleet.md")
    ap.add_argument("--smoke", action="store_true",
                    help="2 rounds, 3 members, 100 qps: checks that the script works")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.members, args.rate = 2, 3, 100
    if args.rounds < 1 or args.members < 1 or args.rate < 1 or args.pindns < 0 or \
            args.knot < 0 or args.pindns + args.knot < 1 or args.poll <= 0:
        ap.error("--rounds, --members, --rate, --poll must be positive, and there must be "
                 "a secondary")
    signal.signal(signal.SIGTERM, bench.on_sigterm)

    report = ["# pindns fleet benchmark, %s" % datetime.datetime.now().strftime(
        "%Y-%m-%d %H:%M"), ""]
    missing = xfrpeers.missing("knotd", "knotc")
    if missing:
        report.append("(fleet skipped: %s is not installed)" % ", ".join(missing))
        print("\n".join(report))
        return bench.exit_status(True, report, args.smoke)
    f = Fleet(args)
    report += [bench.machine_line(),
               "- pindns: %s" % bench.version_of([os.path.join(f.build, "pindnsd"),
                                                  "--version"]),
               "- knot: %s" % bench.version_of(["knotd", "--version"]), ""]
    ok = True
    runs, loads = [], {}
    try:
        took = f.start()
        print("fleet in sync (%d members) after %.2f s" % (args.members, took),
              file=sys.stderr)
        f.start_loads()
        for n in range(args.rounds):
            r = f.round(n)
            runs.append(r)
            print("round %d: %s" % (n + 1, "; ".join(
                "%s %s" % (ev, " ".join("%s=%s" % (k, "%.1fms" % (v * 1000) if v is not None
                                                    else "MISSED")
                                        for k, v in r[ev].items())) for ev, _ in EVENTS)),
                file=sys.stderr)
        loads = f.stop_loads()
    finally:
        errors = f.cleanup()
    if errors:
        ok = False
    missed = sum(1 for r in runs for ev, _ in EVENTS for v in r[ev].values() if v is None)
    lost = sum(r["lost"] for r in loads.values())
    servfail = sum(r.get("rcodes", {}).get("SERVFAIL", 0) for r in loads.values())
    report += ["One Knot primary with %d member zones in a generated catalog (%s), TSIG "
               "hmac-sha256, NOTIFY to %d pindnsd and %d Knot secondaries of the catalog, "
               "each on its own port; each secondary queried by its own `pindns-load "
               "--rate %d` (UDP, open loop) all along. Per round: (a) a zone added to the "
               "catalog, timed from Knot's conf-commit until the secondary answers its SOA "
               "with authority; (b) a member's www A changed, timed from zone-commit until "
               "the secondary answers the new address; (c) the zone of (a) removed, timed from "
               "conf-commit until the secondary answers REFUSED for it; every secondary "
               "polled every %g ms. Every time includes Knot's own part (regenerating "
               "the catalog, sending NOTIFY), the same for every secondary: the ratios "
               "compare the secondaries' parts plus that. "
               "%d rounds; the fleet took %.2f s to serve every member at the start." % (
                   args.members, CATALOG, args.pindns, args.knot, args.rate, args.poll,
                   args.rounds, took), "",
               "## Propagation", "", event_table(f.fleet, runs), "",
               "## Queries meanwhile", "", load_table(loads), ""]
    if missed or lost or servfail or errors:
        ok = False
        report += ["FAILED: %d events not shown within %.0f s, %d queries lost, %d SERVFAIL%s"
                   % (missed, EVENT_TIMEOUT, lost, servfail,
                      "; " + "; ".join(errors) if errors else ""), ""]
    text = "\n".join(report) + "\n"
    print(text)
    outs = [args.out] if args.out else []
    if args.record:
        outs.append(os.path.join(HERE, "results", "%s-fleet.md" %
                                 datetime.date.today().isoformat()))
    bench.write_report(text, outs)
    return bench.exit_status(ok, report, args.smoke)


if __name__ == "__main__":
    bench.run_main(main)
