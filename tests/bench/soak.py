#!/usr/bin/env python3
"""pindns soak: 10^8 queries (--queries) from pindns-load at a release pindnsd that reloads
its zone every 3 s (--reload-every) all the while; it passes (exit 0) only if no query was
lost and the daemon's RSS at the end is within 8 MiB (--rss-slack) of its RSS after the
warm-up.

The zone is bench.py's small one (2,000 names) and so is the query mix. Before each reload
the zone file is written again with the next serial (aside, then renamed into place), so
every reload really reads and compiles it; a reload counts once the new serial is served.
Reloads go through `pindnsctl reload`, whose reply must say the zone was loaded, or by
SIGHUP with --sighup. The load runs in parts, each a pindns-load run (UDP, 8 sockets x 128
in flight, a query unanswered for --timeout-ms is lost): the first is the warm-up (the
first 5% of the queries), after which VmRSS is taken; the others at most 10^7 queries each,
with a progress line on stderr after each. VmRSS is also sampled at every reload, for the
peak. The table gives queries sent, answered and lost, the reloads done while the load
ran, RSS after the warm-up, at the end, their difference and the peak, and the rate.

It fails (exit 1) when a query was lost or unanswered, an answer was SERVFAIL, RSS grew by
more than the slack, a reload failed or none was done under load, or pindnsd did not stop
cleanly (exit 0, no sanitizer report). Without --build it uses ROOT/build, building it
first as packaging/run.sh does if it has no pindnsd; a sanitizer build is refused (its
allocator keeps freed memory aside, so RSS says little) except with --smoke: 200,000
queries and a reload every 0.5 s (and 64 MiB of slack with a sanitizer build), which the
test suite runs so that this script keeps working. Only loopback is loaded; pindnsd is
stopped, also on errors.
"""

import argparse
import json
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import harness  # noqa: E402

ORIGIN = "example.com"
HOSTS = 1000  # bench.py's small zone
PART_MAX = 10 ** 7  # queries per pindns-load run after the warm-up
MIB = 1024


def sanitized(build):
    """Whether the build folder was configured with a sanitizer (its CMakeCache.txt)."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        return False
    return any("%s:BOOL=ON" % o in cache for o in ("PINDNS_SANITIZE", "PINDNS_TSAN"))


def ensure_build(build):
    """Builds a release tree where there is no pindnsd, as packaging/run.sh does."""
    if all(os.path.exists(os.path.join(build, p)) for p in ("pindnsd", "pindnsctl",
                                                           "pindns-load")):
        return
    print("soak: building %s (RelWithDebInfo, as packaging/run.sh does)" % build,
          file=sys.stderr)
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DPINDNS_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "-j", str(os.cpu_count() or 1)], check=True)


def soa_serial(msg):
    """The serial of the SOA answering a query, or None."""
    if not msg or len(msg) < 12 or msg[3] & 0xF or struct.unpack("!H", msg[6:8])[0] < 1:
        return None
    off = bench._skip_name(msg, 12) + 4
    off = bench._skip_name(msg, off)
    rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
    if rtype != 6:
        return None
    off = bench._skip_name(msg, bench._skip_name(msg, off + 10))
    return struct.unpack("!I", msg[off:off + 4])[0]


class Reloader(threading.Thread):
    """Rewrites the zone with the next serial and reloads, every `every` seconds, until
    stopped; samples the daemon's RSS each time. What fails is kept in self.errors."""

    def __init__(self, args, srv, zone, text, sock):
        super().__init__(daemon=True)
        self.args, self.srv, self.zone, self.text, self.sock = args, srv, zone, text, sock
        self.serial = 1
        self.done = []  # time.monotonic() when each reload's serial was served
        self.errors = []
        self.peak_kib = 0
        self.halt = threading.Event()

    def rss_kib(self):
        kib = sum(bench.status_kib([self.srv.proc.pid], "VmRSS"))
        self.peak_kib = max(self.peak_kib, kib)
        return kib

    def reload_once(self):
        self.serial += 1
        tmp = self.zone + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.text.replace(" hostmaster 1 ", " hostmaster %d " % self.serial, 1))
        os.replace(tmp, self.zone)
        if self.args.sighup:
            os.kill(self.srv.proc.pid, signal.SIGHUP)
        else:
            r = harness.run([os.path.join(self.args.build, "pindnsctl"), "-s", self.sock,
                             "reload"], timeout=60)
            if r.returncode != 0 or " 1 loaded" not in r.stdout:
                raise RuntimeError("pindnsctl reload exited %d: %s%s" % (
                    r.returncode, r.stdout, r.stderr))
        q = harness.make_query(ORIGIN, qtype=6, qid=self.serial & 0xFFFF)
        deadline = time.monotonic() + 10
        while soa_serial(harness.raw_query(self.srv.port, q, timeout=0.5)) != self.serial:
            if time.monotonic() > deadline:
                raise RuntimeError("serial %d not served 10 s after the reload" % self.serial)
            time.sleep(0.01)
        self.done.append(time.monotonic())

    def run(self):
        while not self.halt.wait(self.args.reload_every):
            try:
                self.reload_once()
                self.rss_kib()
            except (AssertionError, RuntimeError, OSError, subprocess.SubprocessError) as e:
                self.errors.append(str(e))
                return

    def stop(self):
        self.halt.set()
        self.join(timeout=120)


def load(args, port, queries, count):
    """One pindns-load run of count queries; its JSON report."""
    argv = [os.path.join(args.build, "pindns-load"), "-s", "127.0.0.1:%d" % port, "-f",
            queries, "-n", str(count), "-d", "3600", "-W", "0", "-S", "8", "-w", "128",
            "-t", str(args.timeout_ms), "--json"]
    out = harness.run(argv, timeout=3700)
    if out.returncode != 0:
        raise RuntimeError("pindns-load exited %d: %s%s" % (out.returncode, out.stdout,
                                                            out.stderr))
    return json.loads(out.stdout)


def add(total, r):
    for k in ("sent", "answered", "lost", "unexpected", "seconds"):
        total[k] = total.get(k, 0) + r[k]
    total["servfail"] = total.get("servfail", 0) + r["rcodes"].get("SERVFAIL", 0)
    total["last_sent_mono"] = r["last_sent_mono"]


def verdict(args, total, reloads_under_load, errors, rss_warm, rss_end):
    """What went wrong, as sentences; [] when the soak passed."""
    bad = list(errors)
    if total["sent"] < args.queries:
        bad.append("only %d of %d queries were sent" % (total["sent"], args.queries))
    if total["lost"] or total["answered"] != total["sent"]:
        bad.append("%d queries lost, %d of %d answered" % (total["lost"], total["answered"],
                                                         total["sent"]))
    if total["servfail"]:
        bad.append("%d SERVFAIL answers" % total["servfail"])
    if reloads_under_load == 0:
        bad.append("no reload was done while the load ran")
    if rss_end - rss_warm > args.rss_slack * MIB:
        bad.append("RSS grew by %.1f MiB, more than %g MiB" % ((rss_end - rss_warm) / MIB,
                                                              args.rss_slack))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", help="build folder (default ROOT/build, built if needed)")
    ap.add_argument("--queries", type=int, help="queries in all (default 10^8)")
    ap.add_argument("--reload-every", type=float, help="seconds between reloads (default 3)")
    ap.add_argument("--rss-slack", type=float,
                    help="MiB RSS may grow from after the warm-up to the end (default 8; "
                         "64 for a sanitizer build's --smoke)")
    ap.add_argument("--warmup-share", type=float, default=0.05,
                    help="share of the queries before RSS is first taken (default 0.05)")
    ap.add_argument("--timeout-ms", type=int, default=2000,
                    help="a query unanswered this long is lost (default 2000)")
    ap.add_argument("--threads", type=int, default=1, help="pindnsd workers (default 1)")
    ap.add_argument("--sighup", action="store_true",
                    help="reload by SIGHUP instead of pindnsctl reload")
    ap.add_argument("--smoke", action="store_true",
                    help="200,000 queries, a reload every 0.5 s, a sanitizer build allowed")
    args = ap.parse_args()
    args.queries = args.queries or (200000 if args.smoke else 10 ** 8)
    args.reload_every = args.reload_every or (0.5 if args.smoke else 3)
    if args.queries < 1 or args.reload_every <= 0 or not 0 < args.warmup_share < 1:
        ap.error("--queries, --reload-every and --warmup-share must be positive "
                 "(the share below 1)")
    if args.build:
        args.build = os.path.abspath(args.build)
    else:
        args.build = os.path.join(ROOT, "build")
        ensure_build(args.build)
    if sanitized(args.build) and not args.smoke:
        print("soak: %s is a sanitizer build, whose allocator holds freed memory back: "
              "its RSS tells little; use a release build (packaging/run.sh makes "
              "build/), or --smoke" % args.build, file=sys.stderr)
        return 2
    if args.rss_slack is None:
        args.rss_slack = 64 if sanitized(args.build) else 8

    work = tempfile.mkdtemp(prefix="pindns-soak-")  # readable by pindnsd's user (harness)
    zdir = os.path.join(work, "zones")
    os.makedirs(zdir)
    os.chmod(zdir, 0o755)
    zone = os.path.join(zdir, ORIGIN + ".zone")
    bench.write_zone(zone, ORIGIN, HOSTS)
    with open(zone) as f:
        text = f.read()
    if " hostmaster 1 " not in text:
        raise RuntimeError("bench.write_zone() no longer writes serial 1 as expected")
    queries = os.path.join(work, "queries.txt")
    bench.write_queries(queries, ORIGIN, HOSTS, 100000)
    sock = os.path.join(work, "control.sock")
    conf = os.path.join(work, "pindns.conf")
    with open(conf, "w") as f:
        f.write("control-socket: %s\n" % sock)

    harness.PINDNSD = os.path.join(args.build, "pindnsd")
    srv = harness.start_pindnsd(["--config", conf, "--threads", str(args.threads)],
                                zones=zdir, workdir=work)
    reloader = Reloader(args, srv, zone, text, sock)
    total = {"sent": 0, "answered": 0, "lost": 0, "unexpected": 0, "seconds": 0,
             "servfail": 0, "last_sent_mono": 0}
    errors = []
    rss_warm = rss_end = 0
    t0 = time.monotonic()
    try:
        reloader.start()
        warm = max(1, math.ceil(args.queries * args.warmup_share))
        parts = [warm]
        left = args.queries - warm
        while left > 0:
            parts.append(min(left, PART_MAX))
            left -= parts[-1]
        for i, count in enumerate(parts):
            add(total, load(args, srv.port, queries, count))
            rss = reloader.rss_kib()
            if i == 0:
                rss_warm = rss
            rss_end = rss
            print("soak: %d of %d queries sent, %d lost, %d reloads, RSS %.1f MiB, %.0f s" % (
                total["sent"], args.queries, total["lost"], len(reloader.done), rss / MIB,
                time.monotonic() - t0), file=sys.stderr)
            if reloader.errors:
                break
    except (AssertionError, RuntimeError) as e:  # harness.run: a sanitizer report
        errors.append(str(e))
    finally:
        reloader.stop()
        try:
            srv.stop()  # exit 0 and no sanitizer report, or AssertionError
        except AssertionError as e:
            errors.append(str(e))
    errors += reloader.errors
    under_load = sum(1 for t in reloader.done if t < total["last_sent_mono"])
    reports = harness.sanitizer_reports()
    if reports:
        errors.append("sanitizer reports:\n" + reports)

    qps = total["answered"] / total["seconds"] if total["seconds"] else 0
    print("| queries sent | answered | lost | reloads under load | RSS after warm-up | "
          "RSS at end | growth | peak RSS | answered per second |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("| %d | %d | %d | %d (every %g s, %s) | %.1f MiB | %.1f MiB | %+.1f MiB | %.1f MiB "
          "| %.0f |" % (total["sent"], total["answered"], total["lost"], under_load,
                        args.reload_every, "SIGHUP" if args.sighup else "pindnsctl reload",
                        rss_warm / MIB, rss_end / MIB, (rss_end - rss_warm) / MIB,
                        reloader.peak_kib / MIB, qps))
    bad = verdict(args, total, under_load, errors, rss_warm, rss_end)
    if bad:
        print("\nFAIL: " + "; ".join(bad))
        return 1
    print("\nPASS: every query answered through %d reloads; RSS within %g MiB of the "
          "warm-up's" % (under_load, args.rss_slack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
