#!/usr/bin/env python3
"""pindns zone-transfer benchmark: AXFR out and AXFR in, pindns beside Knot and NSD in one
run, as ratios to Knot (this VM drifts too much for absolute numbers to mean much).

The zone: example.org from /work/shared/bench/gen-zone.py big --names N (default 100,000
names with an A and an AAAA each, ~200,000 records), or --zone FILE (a file of that
origin); --smoke writes a tiny one itself (bench.write_big_zone, 500 names).

(1) AXFR out. Each server alone serves the zone, pinned to CPU 0 (taskset) with one
worker: pindnsd --threads 1 (so one TCP thread) with `provide-xfr: * 127.0.0.1`, Knot
with 1 UDP, 1 TCP and 1 background worker and an ACL allowing transfer from 127.0.0.0/8,
NSD with server-count 1 and `provide-xfr: 127.0.0.1 NOKEY`. The client is this script,
pinned to CPU 1: it sends the AXFR query over TCP and reads the stream, adding up the
ANCOUNT of each message until the records of the zone (plus the closing SOA) are there,
then checks the last one is the SOA; before the timed transfers of each run one more,
unmeasured, walks every record (first and last the SOA, nothing after) and gives the
count the timed ones must reach, the same for every server; the bytes of the messages
(with their length prefixes) show how each compresses and fills them. Per run: TRANSFERS
transfers one after another; wall seconds per AXFR (connect to the last record), server
CPU seconds per AXFR (utime + stime of the server's process tree from /proc over the
transfers, divided by their number), records/s, and the client's own CPU per AXFR. With
TSIG (on unless --no-tsig) the same, the query signed with hmac-sha256 and provide-xfr /
the ACL asking for the key; the table says how many messages of a transfer carried a
TSIG (RFC 8945 allows every 100th; signing each costs more).

(2) AXFR in. A Knot primary with the zone (unpinned from CPU 0: on CPU 1 with this
script); as secondaries, each started fresh (empty state) on CPU 0 with one worker:
pindnsd (`secondary: example.org 127.0.0.1:PORT`, its state-dir in the run's temp
folder, where it keeps its copy), Knot (its defaults: zonefile-sync 0 writes the zone
file right after the transfer, journal-content changes) and NSD (`request-xfr: AXFR`).
Per secondary: seconds from the start of its process until it answers the zone's SOA
with the primary's serial and authority (polled every 10 ms over UDP; the first answer
of any kind, REFUSED or SERVFAIL before the zone is there, is timed too), the CPU seconds
of its process tree by then, and its peak RSS (the largest VmHWM of its processes).

Servers are interleaved round after round (ROUNDS, default 5): the tables give the
median of the rounds, and × knot is the median of each round's ratio to Knot in the same
round. The report is printed and written to tests/bench/results/DATE-xfr.md (--out FILE
instead; --no-record: printed only). --smoke (a ctest: bench.xfr-smoke) runs the tiny
zone, one round, pindns and Knot only, and fails if a transfer is wrong or a secondary
does not get the zone; without knotd it is a skip (77), and under CI=true a failure.
Only loopback is used; every server started here is stopped, also on errors and Ctrl-C
(SIGTERM too); every wait is bounded.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import os
import random
import shutil
import signal
import socket
import statistics
import struct
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
from bench import PIN, SERVER_CPU, LOAD_CPU, tree_pids, tree_cpu_s, peak_rss_kib  # noqa: E402

ORIGIN = "example.org"
GEN_ZONE = os.path.join(os.path.dirname(ROOT), "shared", "bench", "gen-zone.py")
SERVERS = "pindns,knot,nsd"
SMOKE_NAMES = 500
START_TIMEOUT = 180.0     # seconds a primary may take to load the zone and answer
SECONDARY_TIMEOUT = 180.0  # seconds a secondary may take to transfer the zone and answer
AXFR_TIMEOUT = 120.0      # seconds one transfer may take (each read bounded by 30 s)
POLL = 0.01               # seconds between SOA polls of a secondary
T_SOA, T_AXFR, T_TSIG = 6, 252, 250


# --- the client -------------------------------------------------------------------------

def tsig_sign(msg, key, fudge=300):
    """msg with a TSIG record (RFC 8945 4.2) appended and ARCOUNT + 1, signed with key
    (an xfrpeers.TsigKey of hmac-sha256 or hmac-sha512)."""
    digest = {"hmac-sha256": hashlib.sha256, "hmac-sha512": hashlib.sha512}[key.algorithm]
    kname = harness.encode_name(key.name.lower())
    alg = harness.encode_name(key.algorithm)
    now = int(time.time())
    tsigtime = struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, fudge)
    variables = kname + struct.pack("!HI", 255, 0) + alg + tsigtime + struct.pack("!HH", 0, 0)
    mac = hmac.new(base64.b64decode(key.secret), msg + variables, digest).digest()
    rdata = alg + tsigtime + struct.pack("!H", len(mac)) + mac + msg[:2] + b"\0\0\0\0"
    ar = struct.unpack("!H", msg[10:12])[0]
    return (msg[:10] + struct.pack("!H", ar + 1) + msg[12:] + kname +
            struct.pack("!HHIH", T_TSIG, 255, 0, len(rdata)) + rdata)


def _rr_types(msg):
    """The types of the answer records of a message, in order."""
    qd, an = struct.unpack("!HH", msg[4:8])
    off = 12
    for _ in range(qd):
        off = harness.skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = harness.skip_name(msg, off)
        t, _c, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        out.append(t)
        off += 10 + rdlen
    if off > len(msg):
        raise ValueError("a record runs past the end of the message")
    return out


def _read_exact(f, n):
    data = f.read(n)
    if len(data) != n:
        raise RuntimeError("the server closed the connection in the middle of the transfer")
    return data


def axfr(port, key=None, expect=None):
    """One AXFR of ORIGIN over TCP from 127.0.0.1:port, signed with key when given.
    expect None: every record is walked (the first and the last must be the SOA, and
    nothing may follow the closing one); otherwise the ANCOUNTs are added up until they
    reach expect (the number the walk found) and only the last message is walked, after
    the clock stopped. Returns seconds, records (both SOAs included), messages, signed
    (messages with a record in the additional section: the TSIG, as the query has no
    EDNS), bytes and client_cpu_s (this process's CPU over the transfer)."""
    qid = random.randrange(65536)
    q = harness.make_query(ORIGIN, qtype=T_AXFR, qid=qid, flags=0)
    if key:
        q = tsig_sign(q, key)
    c0 = time.process_time()
    t0 = time.monotonic()
    records = messages = signed = nbytes = walked = 0
    last = None
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(struct.pack("!H", len(q)) + q)
        with s.makefile("rb", buffering=1 << 20) as f:
            while True:
                n = struct.unpack("!H", _read_exact(f, 2))[0]
                m = _read_exact(f, n)
                nbytes += n + 2
                messages += 1
                if n < 12 or struct.unpack("!H", m[:2])[0] != qid or not m[2] & 0x80:
                    raise RuntimeError("message %d is not an answer to our query" % messages)
                if m[3] & 0xF:
                    raise RuntimeError("rcode %d in message %d" % (m[3] & 0xF, messages))
                an, _ns, ar = struct.unpack("!HHH", m[6:12])
                records += an
                if ar:
                    signed += 1
                last = m
                if expect is None:
                    done = False
                    for t in _rr_types(m):
                        if done:
                            raise RuntimeError("records after the closing SOA")
                        if walked == 0 and t != T_SOA:
                            raise RuntimeError("the transfer does not start with the SOA")
                        walked += 1
                        done = t == T_SOA and walked > 1
                    if done:
                        break
                elif records >= expect:
                    break
                if time.monotonic() - t0 > AXFR_TIMEOUT:
                    raise RuntimeError("the transfer took over %.0f s" % AXFR_TIMEOUT)
    took = time.monotonic() - t0
    cpu = time.process_time() - c0
    if expect is not None:
        if records != expect:
            raise RuntimeError("%d records, %d expected" % (records, expect))
        if _rr_types(last)[-1:] != [T_SOA]:
            raise RuntimeError("the transfer does not end with the SOA")
    return {"seconds": took, "records": records, "messages": messages, "signed": signed,
            "bytes": nbytes, "client_cpu_s": cpu}


def zone_serial(path):
    """The SOA serial of a zone file of gen-zone.py's or write_big_zone's form."""
    with open(path) as f:
        for line in f:
            fields = line.split(";")[0].split()
            if "SOA" in fields:
                return int(fields[fields.index("SOA") + 3])
    raise ValueError("no SOA in %s" % path)


# --- servers ----------------------------------------------------------------------------

KNOT_PRIMARY = """acl:
  - id: xfr
    address: 127.0.0.0/8
{key}    action: transfer
template:
  - id: default
    storage: "{zones}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    acl: xfr
zone:
  - domain: {origin}.
    file: {origin}.zone
"""

KNOT_SECONDARY = """acl:
  - id: notify
    address: 127.0.0.0/8
    action: notify
remote:
  - id: primary
    address: 127.0.0.1@{primary}
template:
  - id: default
    storage: "{zones}"
    master: primary
    acl: notify
zone:
  - domain: {origin}.
"""


class XfrBench(bench.Bench):
    def taskset(self, cpu):
        return ["taskset", "-c", cpu] if PIN and cpu is not None else []

    def launch(self, kind, argv, port):
        log = os.path.join(self.work, "%s-%d.log" % (kind, port))
        srv = harness.Server(argv, port, log, ours=kind == "pindns")
        self.servers.append(srv)
        return srv

    def start_primary(self, kind, zdir, port, key=None, cpu=SERVER_CPU):
        """kind serving ORIGIN from zdir, transfers allowed from 127.0.0.1 (signed with key
        when given), with one worker, on cpu."""
        d = tempfile.mkdtemp(dir=self.work)
        ts = self.taskset(cpu)
        if kind == "pindns":
            conf = os.path.join(d, "pindns.conf")
            with open(conf, "w") as f:
                f.write(xfrpeers.pindns_conf(key=key, provide=[("*", "127.0.0.1")],
                                             extra="log-level: warning\n"))
            argv = ts + [os.path.join(self.build, "pindnsd"), "--foreground", "--config",
                         conf, "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                         "--zones", zdir]
        elif kind == "knot":
            os.makedirs(os.path.join(d, "db"))
            text = xfrpeers.KNOT_BASE.format(port=port, dir=d, log="warning")
            text += key.knot() if key else ""
            text += KNOT_PRIMARY.format(key="    key: %s\n" % key.name if key else "",
                                        zones=zdir, origin=ORIGIN)
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(text)
            argv = ts + [xfrpeers.KNOTD, "-c", conf]
        elif kind == "nsd":
            text = harness.NSD_CONF.format(port=port, zones=zdir, dir=d)
            text += key.nsd() if key else ""
            text += "zone:\n  name: %s\n  zonefile: %s.zone\n  provide-xfr: 127.0.0.1 %s\n" % (
                ORIGIN, ORIGIN, key.name if key else "NOKEY")
            conf = os.path.join(d, "nsd.conf")
            with open(conf, "w") as f:
                f.write(text)
            argv = ts + [xfrpeers.NSD, "-d", "-c", conf]
        else:
            raise ValueError(kind)
        return self.launch(kind, argv, port)

    def secondary_argv(self, kind, primary, port):
        """The command line of a fresh secondary of ORIGIN from 127.0.0.1:primary, on CPU 0
        with one worker, its state in a new folder."""
        d = tempfile.mkdtemp(dir=self.work)
        ts = self.taskset(SERVER_CPU)
        if kind == "pindns":
            zones = os.path.join(d, "zones")
            os.mkdir(zones)
            conf = os.path.join(d, "pindns.conf")
            with open(conf, "w") as f:
                f.write(xfrpeers.pindns_conf(secondaries=[(ORIGIN, primary)],
                                             state_dir=xfrpeers.pindns_state_dir(d),
                                             extra="log-level: warning\n"))
            return ts + [os.path.join(self.build, "pindnsd"), "--foreground", "--config",
                         conf, "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                         "--zones", zones]
        if kind == "knot":
            os.makedirs(os.path.join(d, "db"))
            zones = os.path.join(d, "zones")
            os.mkdir(zones)
            text = xfrpeers.KNOT_BASE.format(port=port, dir=d, log="warning")
            text += KNOT_SECONDARY.format(primary=primary, zones=zones, origin=ORIGIN)
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(text)
            return ts + [xfrpeers.KNOTD, "-c", conf]
        if kind == "nsd":
            text = harness.NSD_CONF.format(port=port, zones=d, dir=d)
            text += ("zone:\n  name: %s\n  zonefile: %s.zone\n  request-xfr: AXFR "
                     "127.0.0.1@%d NOKEY\n  allow-notify: 127.0.0.1 NOKEY\n" % (
                         ORIGIN, ORIGIN, primary))
            conf = os.path.join(d, "nsd.conf")
            with open(conf, "w") as f:
                f.write(text)
            return ts + [xfrpeers.NSD, "-d", "-c", conf]
        raise ValueError(kind)

    def serving(self, kind, zdir, key=None, cpu=SERVER_CPU):
        """A started primary answering for ORIGIN (another port when its port was taken)."""
        for attempt in range(3):
            srv = self.start_primary(kind, zdir, harness.free_port(), key=key, cpu=cpu)
            try:
                self.wait_answering(srv, ORIGIN, START_TIMEOUT)
                if not harness.foreign_sockets(srv):
                    return srv
                err = "another process shares its port"
            except RuntimeError as e:
                err = str(e)
            self.stop(srv)
            if "in use" not in err and "shares its port" not in err:
                raise RuntimeError("%s did not serve %s: %s" % (kind, ORIGIN, err))
        raise RuntimeError("%s: no free port after 3 tries" % kind)

    def measure_out(self, kind, zdir, transfers, key=None):
        """One run of AXFR out from kind: a walked transfer, then `transfers` timed ones."""
        srv = self.serving(kind, zdir, key=key)
        try:
            check = axfr(srv.port, key=key)
            pids = tree_pids(srv.proc.pid)
            runs = []
            cpu0 = tree_cpu_s(pids)
            for _ in range(transfers):
                runs.append(axfr(srv.port, key=key, expect=check["records"]))
            cpu = tree_cpu_s(pids) - cpu0
            if srv.proc.poll() is not None:
                raise RuntimeError("%s exited during the transfers:\n%s" % (kind,
                                                                           srv.output()))
        finally:
            self.stop(srv)
        secs = sum(r["seconds"] for r in runs) / transfers
        return {"records": check["records"], "messages": check["messages"],
                "signed": check["signed"], "bytes": check["bytes"], "wall_s": secs,
                "cpu_s": cpu / transfers, "records_s": check["records"] / secs,
                "client_cpu_s": sum(r["client_cpu_s"] for r in runs) / transfers}

    def measure_in(self, kind, primary, serial):
        """A fresh secondary of kind: seconds from its start until it answers ORIGIN's SOA
        with serial, its CPU seconds by then, its peak RSS (MiB)."""
        for attempt in range(3):
            port = harness.free_port()
            argv = self.secondary_argv(kind, primary, port)
            t0 = time.monotonic()
            srv = self.launch(kind, argv, port)
            try:
                first = None
                q = harness.make_query(ORIGIN, qtype=T_SOA)
                while True:
                    if srv.proc.poll() is not None:
                        raise RuntimeError("%s exited:\n%s" % (kind, srv.output()))
                    r = harness.raw_query(port, q, timeout=0.05)
                    if r is not None and len(r) >= 12:
                        if first is None:
                            first = time.monotonic() - t0
                        try:
                            rc, aa, got = xfrpeers._parse_soa_serial(r)
                        except (IndexError, struct.error):
                            rc = None
                        if rc == 0 and aa and got == serial:
                            took = time.monotonic() - t0
                            break
                    if time.monotonic() - t0 > SECONDARY_TIMEOUT:
                        raise RuntimeError("%s did not serve serial %d within %.0f s:\n%s" % (
                            kind, serial, SECONDARY_TIMEOUT, srv.output()[-3000:]))
                    time.sleep(POLL)
                pids = tree_pids(srv.proc.pid)
                cpu = tree_cpu_s(pids)
                rss = peak_rss_kib(pids) / 1024
                foreign = harness.foreign_sockets(srv)
            except RuntimeError as e:
                self.stop(srv)
                if "in use" in str(e) and attempt < 2:
                    continue
                raise
            self.stop(srv)
            if foreign and attempt < 2:
                continue  # another server on its port may have answered for it
            return {"first_s": first, "serving_s": took, "cpu_s": cpu, "rss_mib": rss}
        raise RuntimeError("%s: no free port after 3 tries" % kind)

    def cleanup(self):
        """Stops every server still running; the failures of pindnsd's checked stop (not
        exit 0, or a sanitizer report), as a list."""
        errors = []
        for s in list(self.servers):
            try:
                s.stop()
            except AssertionError as e:
                errors.append(str(e))
        self.servers = []
        shutil.rmtree(self.work, ignore_errors=True)
        return errors


# --- tables -----------------------------------------------------------------------------

def medians(runs, keys, ref="knot"):
    """kind -> the median of each key over its rounds, and key + "_x" the median of the
    rounds' ratios to ref's run of the same round."""
    rows = {}
    for k, v in runs.items():
        if not v:
            continue
        rows[k] = {key: statistics.median(r[key] for r in v) for key in v[0]}
        if ref in runs and len(runs[ref]) == len(v):
            for key in keys:
                ratios = [r[key] / o[key] for r, o in zip(v, runs[ref]) if o[key]]
                if ratios:
                    rows[k][key + "_x"] = statistics.median(ratios)
    return rows


def x(row, key):
    return "%.2f" % row[key + "_x"] if key + "_x" in row else "-"


def out_table(rows, tsig):
    lines = ["| server | records | messages | KiB sent | %swall ms / AXFR | × knot "
             "| server CPU ms / AXFR | × knot | records/s | client CPU ms / AXFR |" % (
                 "signed messages | " if tsig else ""),
             "|---|---|---|---|%s---|---|---|---|---|---|" % ("---|" if tsig else "")]
    for k, r in rows.items():
        lines.append("| %s | %d | %d | %.0f | %s%.1f | %s | %.1f | %s | %.0fk | %.1f |" % (
            k, r["records"], r["messages"], r["bytes"] / 1024,
            "%d | " % r["signed"] if tsig else "",
            r["wall_s"] * 1000, x(r, "wall_s"), r["cpu_s"] * 1000, x(r, "cpu_s"),
            r["records_s"] / 1000, r["client_cpu_s"] * 1000))
    return "\n".join(lines)


def in_table(rows):
    lines = ["| secondary | first answer (any rcode) after s | serving the zone after s "
             "| × knot | CPU s by then | × knot | peak RSS MiB | × knot |",
             "|---|---|---|---|---|---|---|---|"]
    for k, r in rows.items():
        lines.append("| %s | %.2f | %.2f | %s | %.2f | %s | %.0f | %s |" % (
            k, r["first_s"], r["serving_s"], x(r, "serving_s"), r["cpu_s"], x(r, "cpu_s"),
            r["rss_mib"], x(r, "rss_mib")))
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------

def available(servers, report):
    kinds = []
    for k in servers.split(","):
        k = k.strip()
        if not k:
            continue
        if k not in SERVERS.split(","):
            raise SystemExit("unknown server %r (of %s)" % (k, SERVERS))
        binary = {"knot": "knotd", "nsd": "nsd"}.get(k)
        if binary and not shutil.which(binary):
            report.append("(%s skipped: %s is not installed)" % (k, binary))
            continue
        kinds.append(k)
    return kinds


def make_zone(args, zdir):
    """The zone file in zdir; a sentence on where it came from."""
    path = os.path.join(zdir, ORIGIN + ".zone")
    if args.zone:
        shutil.copy(args.zone, path)
        how = "`%s`" % args.zone
    elif args.smoke or not os.path.exists(GEN_ZONE):
        bench.write_big_zone(path, ORIGIN, args.names)
        how = "bench.write_big_zone, %d names with an A and an AAAA each" % args.names
    else:
        subprocess.run([sys.executable, GEN_ZONE, "big", "--zones", zdir, "--queries",
                        os.path.join(zdir, "queries.tmp"), "--names", str(args.names),
                        "--count", "1"], check=True, capture_output=True, timeout=600)
        os.remove(os.path.join(zdir, "queries.tmp"))
        how = "`gen-zone.py big --names %d`" % args.names
    os.chmod(path, 0o644)
    return path, "%s (%.1f MiB)" % (how, os.path.getsize(path) / 2**20)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory with pindnsd (a release build for real figures)")
    ap.add_argument("--servers", default=SERVERS, help="comma-separated (default %(default)s)")
    ap.add_argument("--names", type=int, default=100000,
                    help="names of the generated zone, each with an A and an AAAA "
                         "(default %(default)s)")
    ap.add_argument("--zone", help="use this zone file of %s instead" % ORIGIN)
    ap.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported")
    ap.add_argument("--transfers", type=int, default=5,
                    help="timed AXFRs per server and round (default %(default)s)")
    ap.add_argument("--no-tsig", action="store_true", help="skip the TSIG-signed AXFR out")
    ap.add_argument("--no-out", action="store_true", help="skip AXFR out")
    ap.add_argument("--no-in", action="store_true", help="skip AXFR in")
    ap.add_argument("--out", help="write the report here (default "
                                  "tests/bench/results/DATE-xfr.md)")
    ap.add_argument("--no-record", action="store_true", help="only print the report")
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny zone, one round, pindns and Knot: checks the script works")
    args = ap.parse_args()
    if args.smoke:
        args.names, args.rounds, args.transfers = SMOKE_NAMES, 1, 2
        args.servers, args.zone = "pindns,knot", None
    if args.rounds < 1 or args.transfers < 1 or args.names < 1:
        ap.error("--rounds, --transfers and --names must be positive")
    if args.zone and not os.path.exists(args.zone):
        ap.error("no such file: %s" % args.zone)
    if not os.path.exists(os.path.join(args.build, "pindnsd")):
        ap.error("no pindnsd in %s" % args.build)
    if PIN:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # the client off the servers' CPU
    signal.signal(signal.SIGTERM, bench.on_sigterm)

    b = XfrBench(args)
    os.chmod(b.work, 0o755)
    report = ["# pindns zone-transfer benchmark, %s" % datetime.datetime.now().strftime(
        "%Y-%m-%d %H:%M"), ""]
    ok = True
    try:
        kinds = available(args.servers, report)
        report += [bench.machine_line(), "- pindns: %s (%s)" % (bench.version_of(
            [os.path.join(b.build, "pindnsd"), "--version"]), b.build)]
        if "knot" in kinds:
            report.append("- knot: %s" % bench.version_of([xfrpeers.KNOTD, "--version"]))
        if "nsd" in kinds:
            report.append("- nsd: %s" % bench.version_of([xfrpeers.NSD, "-v"]))
        zdir = os.path.join(b.work, "zones")
        os.makedirs(zdir)
        os.chmod(zdir, 0o755)
        path, how = make_zone(args, zdir)
        serial = zone_serial(path)
        report += ["- zone: %s, %s" % (ORIGIN, how), ""]
        key = xfrpeers.TsigKey.generate("xfr.key")
        variants = [] if args.no_out else [False] + ([] if args.no_tsig else [True])
        out_runs = {t: {k: [] for k in kinds} for t in variants}
        in_kinds = [] if args.no_in or "knot" not in kinds else kinds
        in_runs = {k: [] for k in in_kinds}
        primary = None
        if in_kinds:
            # The primary of AXFR in, with this script on CPU 1, for the whole run.
            primary = b.serving("knot", zdir, cpu=LOAD_CPU)
        for rnd in range(args.rounds):
            for tsig in variants:
                for k in kinds:
                    r = b.measure_out(k, zdir, args.transfers, key=key if tsig else None)
                    out_runs[tsig][k].append(r)
                    print("round %d AXFR out%s %-6s %d records in %d messages (%d signed): "
                          "%.1f ms, server CPU %.1f ms, %.0fk records/s, client CPU %.1f ms"
                          % (rnd + 1, " TSIG" if tsig else "", k, r["records"],
                             r["messages"], r["signed"], r["wall_s"] * 1000,
                             r["cpu_s"] * 1000, r["records_s"] / 1000,
                             r["client_cpu_s"] * 1000), file=sys.stderr)
            for k in in_kinds:
                r = b.measure_in(k, primary.port, serial)
                in_runs[k].append(r)
                print("round %d AXFR in %-6s serving after %.2f s, CPU %.2f s, peak RSS "
                      "%.0f MiB" % (rnd + 1, k, r["serving_s"], r["cpu_s"], r["rss_mib"]),
                      file=sys.stderr)
        if primary:
            b.stop(primary)
        counts = set(r["records"] for t in variants for v in out_runs[t].values() for r in v)
        if len(counts) > 1:
            ok = False
            report += ["FAILED: the servers transferred different numbers of records: %s" %
                       sorted(counts), ""]
        pin = ("pinned to CPU %s (taskset)" % SERVER_CPU) if PIN else "unpinned (1 CPU)"
        for tsig in variants:
            rows = medians(out_runs[tsig], ("wall_s", "cpu_s"))
            report += ["## AXFR out%s" % (", TSIG hmac-sha256" if tsig else ""), "",
                       "Each server %s with one worker; the client (this script, reading "
                       "the TCP stream and counting records) on CPU %s; %d timed AXFRs "
                       "per run after one checked; median of %d round(s); × knot: median "
                       "of the rounds' ratios to Knot.%s" % (
                           pin, LOAD_CPU, args.transfers, args.rounds,
                           " The query signed with hmac-sha256; signed messages: those of "
                           "one transfer carrying a TSIG." if tsig else ""), "",
                       out_table(rows, tsig), ""]
        if in_kinds:
            rows = medians(in_runs, ("serving_s", "cpu_s", "rss_mib"))
            report += ["## AXFR in", "",
                       "Knot primary (on CPU %s, with this script); each secondary started "
                       "fresh, %s with one worker; serving after: from the start of its "
                       "process until it answers the SOA with serial %d and authority "
                       "(polled every %.0f ms; first answer: its first reply, of any "
                       "rcode); CPU: utime + stime of its processes by then; peak RSS: "
                       "the largest VmHWM of its processes; median of %d round(s); × "
                       "knot: median of the rounds' ratios to Knot." % (
                           LOAD_CPU, pin, serial, POLL * 1000, args.rounds), "",
                       in_table(rows), ""]
        elif not args.no_in:
            report += ["(AXFR in skipped: its primary is Knot, and knotd is not installed)",
                       ""]
    finally:
        errors = b.cleanup()
    if errors:
        ok = False
        report += ["FAILED: " + "; ".join(errors), ""]

    text = "\n".join(report) + "\n"
    print(text)
    outs = [args.out] if args.out else []
    if not args.out and not args.no_record and not args.smoke:
        outs.append(os.path.join(HERE, "results", "%s-xfr.md" %
                                 datetime.date.today().isoformat()))
    bench.write_report(text, outs)
    return bench.exit_status(ok, report, args.smoke)


if __name__ == "__main__":
    bench.run_main(main)
