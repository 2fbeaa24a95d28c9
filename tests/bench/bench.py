#!/usr/bin/env python3
"""pindns benchmark: pindns beside Knot, NSD and a null responder, in one run, as ratios.

Each server runs alone, pinned to CPU 0 with one worker; pindns-load runs pinned to CPU 1
(busy-polling, 8 sockets x 16 in flight). The main figure is server CPU time per answered
query (utime + stime of the server's whole process tree over the measured window), as a
ratio to the null responder measured in the same run: this VM's speed drifts too much
for absolute numbers to mean much. Servers are interleaved round by round and the median
of the rounds is reported.

The TCP table loads the same servers over TCP (RFC 7766 framing) in shapes of
connections x queries in flight (--tcp-shapes): by default 8 connections with 16 queries
pipelined on each, kept open, and 8 connections each closed after one answer and opened
again (what resolvers falling back to TCP after a truncated answer cost). pindns gets
1 UDP worker and 1 TCP thread, Knot 1 UDP and 1 TCP worker, NSD one server process (which
answers both), all on CPU 0; the null responder echoes each framed message with QR set.
pindns is in it once its pindnsd has TCP (its --help mentions tcp-threads).

The signed tables (on by default, --no-signed) sign the realistic zone with ldns-signzone
(ECDSA P-256 keys from ldns-keygen; NSEC3 with 0 iterations and no salt as RFC 9276 asks,
and NSEC) and load every server with the realistic mix with DO set (EDNS 1232). Before a
server is loaded it is asked, with DO, for a name that exists and one that does not: the
first answer must hold an RRSIG and the second an NSEC or NSEC3, else its row says
"(unsigned answers!)" (the run goes on). These tables add the mean answer size and the
share of answers truncated (TC), which pindns-load counts.

The start-up table (--startup, and with --big) times each server from exec until it
answers the last name of a 1,000,005-record zone, unsigned and NSEC3-signed, pinned with
taskset to one CPU and to two for its whole life, with the CPU it spent by then and its
peak RSS. Signed files are cached in BUILD/bench/signed/, keyed by the zone's content.

Only loopback is loaded; every server started here is stopped, also on errors.
"""

import argparse
import datetime
import json
import os
import platform
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
import harness  # noqa: E402

SERVER_CPU = "0"
LOAD_CPU = "1"
PIN = (os.cpu_count() or 1) >= 2  # one CPU each; on a single CPU pinning would fight
REALISTIC = os.path.join(os.path.dirname(ROOT), "shared", "bench")
REALISTIC = REALISTIC if os.path.exists(os.path.join(REALISTIC, "queries.txt")) else None
TCP_SHAPES = "8x16,8x1/1"
SIG_EXPIRE_DAYS = 120  # signatures of a cached signed zone; re-signed below 30 days left
DNSSEC_MODES = ("nsec3", "nsec")
NSD_TCP_COUNT = 1024  # NSD's open TCP connections at most (default 100)


def parse_shape(text):
    """"CxW" (C connections, W queries in flight on each, kept open) or "CxW/Q" (each
    connection closed after Q answers and opened again)."""
    try:
        cw, _, q = text.strip().partition("/")
        c, w = cw.split("x")
        shape = {"connections": int(c), "inflight": int(w), "conn_queries": int(q or 0)}
    except ValueError:
        raise argparse.ArgumentTypeError("bad TCP shape %r: CONNSxINFLIGHT[/QUERIES]" % text)
    if shape["connections"] < 1 or shape["inflight"] < 1 or shape["conn_queries"] < 0:
        raise argparse.ArgumentTypeError("bad TCP shape %r" % text)
    return shape


def shape_title(s):
    if s["conn_queries"] == 1 and s["inflight"] == 1:
        return ("%d connections, one query each: connect, query, answer, close, and again"
                % s["connections"])
    text = "%d connections x %d queries in flight each" % (s["connections"], s["inflight"])
    if s["conn_queries"]:
        return text + ", each closed after %d answers and opened again" % s["conn_queries"]
    return text + ", kept open"


def tcp_query(port, payload, timeout=1.0):
    """Sends payload framed on a new TCP connection; returns the reply, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(payload)) + payload)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(65537)
                if not chunk:
                    return None
                buf += chunk
            return buf[2:2 + struct.unpack("!H", buf[:2])[0]]
    except OSError:
        return None


_tcp_pindnsd = {}


def pindnsd_has_tcp(pindnsd):
    """pindnsd answers over TCP from the version whose --help names its TCP threads'
    config key; before, it has no TCP listener and its row stays out of the TCP table."""
    if pindnsd not in _tcp_pindnsd:
        try:
            out = subprocess.run([pindnsd, "--help"], capture_output=True, text=True,
                                 timeout=20)
            _tcp_pindnsd[pindnsd] = "tcp-threads" in out.stdout + out.stderr
        except OSError:
            _tcp_pindnsd[pindnsd] = False
    return _tcp_pindnsd[pindnsd]


def write_zone(path, origin, hosts, seed=1):
    """A zone of `hosts` names with A and AAAA, plus CNAMEs, MX, a wildcard, delegations."""
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("$ORIGIN %s.\n$TTL 3600\n" % origin)
        f.write("@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n@ NS ns2\n")
        f.write("@ MX 10 mail\nns1 A 192.0.2.53\nns2 A 192.0.2.54\nmail A 192.0.2.25\n")
        f.write("*.wild A 192.0.2.99\n")
        for i in range(hosts):
            f.write("h%d A 10.%d.%d.%d\n" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255))
            f.write("h%d AAAA 2001:db8::%x:%x\n" % (i, i >> 16, i & 0xffff))
        for i in range(min(hosts // 10, 200)):
            f.write("c%d CNAME h%d\n" % (i, rnd.randrange(hosts)))
        for i in range(min(hosts // 40, 50)):
            f.write("d%d NS ns.d%d\nns.d%d A 192.0.2.%d\n" % (i, i, i, i % 250 + 1))


def write_queries(path, origin, hosts, count, seed=2):
    """A dnsperf-format mix: mostly A/AAAA hits, some CNAME, NXDOMAIN, MX, referrals."""
    rnd = random.Random(seed)
    cnames = min(hosts // 10, 200)
    delegs = min(hosts // 40, 50)
    with open(path, "w") as f:
        for _ in range(count):
            r = rnd.random()
            h = rnd.randrange(hosts)
            if r < 0.55:
                f.write("h%d.%s A\n" % (h, origin))
            elif r < 0.70:
                f.write("h%d.%s AAAA\n" % (h, origin))
            elif r < 0.78 and cnames:
                f.write("c%d.%s A\n" % (rnd.randrange(cnames), origin))
            elif r < 0.86:
                f.write("nx%d.%s A\n" % (h, origin))
            elif r < 0.90:
                f.write("%s MX\n" % origin)
            elif r < 0.94 and delegs:
                f.write("www.d%d.%s A\n" % (rnd.randrange(delegs), origin))
            elif r < 0.97:
                f.write("x%d.wild.%s A\n" % (h, origin))
            else:
                f.write("h%d.%s TXT\n" % (h, origin))


_skip_name = harness.skip_name  # zones.py and soak.py use it from here


def section_types(msg):
    """(rcode, [(section 0..2 for answer/authority/additional, type)...]) of a reply."""
    qd, an, ns, ar = struct.unpack("!HHHH", msg[4:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    out = []
    for i in range(an + ns + ar):
        off = _skip_name(msg, off)
        t, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        out.append((0 if i < an else 1 if i < an + ns else 2, t))
        off += 10 + rdlen
    return msg[3] & 0xF, out


def answers_signed(port, name, nxname):
    """Whether the server's answers carry DNSSEC: an RRSIG in the answer to `name` A (or
    any type at it) and an NSEC or NSEC3 in the authority of the NXDOMAIN for nxname."""
    try:
        r = harness.raw_query(port, harness.make_query(name, edns=(1232, 0, True)))
        n = harness.raw_query(port, harness.make_query(nxname, edns=(1232, 0, True)))
        if not r or not n:
            return False
        _, rr = section_types(r)
        rcode, nr = section_types(n)
    except (IndexError, struct.error):
        return False
    return (any(s == 0 and t == 46 for s, t in rr) and rcode == 3 and
            any(s == 1 and t in (47, 50) for s, t in nr))


def ldns_version():
    out = subprocess.run(["ldns-signzone", "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip()


def signed_zone(build, src, origin, mode):
    """A signed copy of the zone file src (mode "nsec3": NSEC3 with 0 iterations and no
    salt, RFC 9276; "nsec": NSEC), the seconds signing it took and whether it was cached.
    Kept in BUILD/bench/signed/ under the hash of the zone, the mode and ldns's version,
    with its keys (ECDSA P-256, one KSK and one ZSK); signed again when its signatures
    would expire within 30 days."""
    import hashlib
    h = hashlib.sha256()
    with open(src, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(("%s %s %s" % (origin, mode, ldns_version())).encode())
    d = os.path.join(build, "bench", "signed", "%s-%s-%s" % (origin, mode, h.hexdigest()[:16]))
    out = os.path.join(d, origin + ".zone")
    meta = os.path.join(d, "meta.json")
    if os.path.exists(out) and os.path.exists(meta):
        with open(meta) as f:
            m = json.load(f)
        if m.get("expire", 0) > time.time() + 30 * 86400:
            return out, m.get("sign_seconds", 0.0), True
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    keys = []
    for ksk in (True, False):
        r = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256"] + (["-k"] if ksk else []) +
                           [origin], cwd=tmp, capture_output=True, text=True, timeout=60,
                           check=True)
        keys.append(os.path.join(tmp, r.stdout.strip()))
    expire = time.time() + SIG_EXPIRE_DAYS * 86400
    argv = ["ldns-signzone", "-e", time.strftime("%Y%m%d%H%M%S", time.gmtime(expire)),
            "-f", os.path.join(tmp, origin + ".zone"), "-o", origin]
    if mode == "nsec3":
        argv += ["-n", "-t", "0"]  # no -s: no salt
    t0 = time.monotonic()
    subprocess.run(argv + [src] + keys, capture_output=True, check=True, timeout=3600)
    took = time.monotonic() - t0
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"expire": expire, "sign_seconds": took, "source": src, "mode": mode}, f)
    shutil.rmtree(d, ignore_errors=True)
    os.rename(tmp, d)
    return out, took, False


def tree_cpu_s(pids):
    """utime + stime of the processes, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def tree_pids(pid):
    """The process and everything in its session (NSD forks its serving processes)."""
    sid = os.getsid(pid)
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def status_kib(pids, key):
    """The value of /proc/PID/status's key (VmHWM, VmRSS ...) of each process, in KiB."""
    out = []
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        out.append(int(line.split()[1]))
        except OSError:
            pass
    return out


def peak_rss_kib(pids):
    return max(status_kib(pids, "VmHWM"), default=0)


def version_of(argv):
    """The first line a server prints of its version, or what failed."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown (%s failed)" % " ".join(argv)


def machine_line():
    """The report's line on the machine: CPUs, model, memory, kernel, load at the start."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB RAM" % (int(f.readline().split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    load = " ".join("%.2f" % x for x in os.getloadavg())
    return "- machine: %d CPUs (nproc), %s, %s; kernel %s; load average at the start %s" % (
        os.cpu_count() or 1, cpu, mem, platform.release(), load)


def on_sigterm(signum, frame):
    """A SIGTERM handler that unwinds like Ctrl-C, so every server is stopped."""
    raise KeyboardInterrupt("SIGTERM")


def write_report(text, paths):
    """Writes the report to each of paths (None and "" left out), saying where."""
    for path in paths:
        if path:
            with open(path, "w") as f:
                f.write(text)
            print("written to %s" % path, file=sys.stderr)


def exit_status(ok, report, smoke=False):
    """A benchmark's exit status: 1 when it failed or a sanitizer report was written (its
    pindnsd must have none either); as a smoke test, a server left out (a report line
    "(KIND skipped: ... not installed)") is a skip (77), never a pass, and in CI, where
    the scripts install every server, a failure."""
    if harness.print_sanitizer_reports():
        ok = False
    skipped = [line for line in report if line.endswith("not installed)")]
    if ok and skipped and smoke:
        print("; ".join(skipped), file=sys.stderr)
        return 1 if os.environ.get("CI") == "true" else 77
    return 0 if ok else 1


def run_main(main):
    """Exits with main()'s status; Ctrl-C or SIGTERM (on_sigterm) after every server
    started was stopped, 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print("interrupted (%s): every server started here is stopped" % (e or "Ctrl-C"),
              file=sys.stderr)
        sys.exit(130)


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="pindns-bench-")
        self.servers = []

    def cleanup(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    # -- servers ---------------------------------------------------------------------
    def pindnsd(self, kind):
        # "-base": the pindnsd of another build (--baseline), for before/after.
        return os.path.join(self.args.baseline if kind.endswith("-base") else self.build,
                            "pindnsd")

    def start(self, kind, zonedir, origin, port, threads=1, pin=True, tcp=False, cpus=None):
        """tcp: the server is loaded over TCP (the null responder then speaks TCP only,
        pindns gets one TCP thread). cpus: a taskset CPU list for the server instead."""
        taskset = (["taskset", "-c", cpus] if cpus else
                   ["taskset", "-c", SERVER_CPU] if pin and PIN else [])
        log = os.path.join(self.work, "%s-%d.log" % (kind, port))
        if kind == "null":
            argv = taskset + [os.path.join(self.build, "pindns-null")] + (
                ["--tcp"] if tcp else []) + ["127.0.0.1:%d" % port]
        elif kind.startswith("pindns"):
            conf = os.path.join(self.work, "%s.conf" % kind)
            with open(conf, "w") as f:
                f.write("cache-size: %s\n" % ("0" if "nocache" in kind else "16M"))
                if tcp:
                    f.write("tcp-threads: 1\n")
                f.write(self.pindns_conf_extra(kind))
            argv = taskset + [self.pindnsd(kind), "--foreground", "--config",
                              conf, "--listen", "127.0.0.1:%d" % port, "--threads",
                              str(threads), "--zones", zonedir]
        elif kind.startswith("knot"):
            d = tempfile.mkdtemp(dir=self.work)
            os.makedirs(os.path.join(d, "db"))
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(self.knot_conf(kind, KNOT_CONF.format(port=port, dir=d, zones=zonedir,
                                                              origin=origin)))
            argv = taskset + ["knotd", "-c", conf]
        elif kind == "nsd":
            d = tempfile.mkdtemp(dir=self.work)
            conf = os.path.join(d, "nsd.conf")
            text = harness.NSD_CONF.format(port=port, zones=zonedir, dir=d)
            if tcp:
                # Into the server: clause, which remote-control: ends.
                assert "\nremote-control:" in text
                text = text.replace("\nremote-control:",
                                    "\n  tcp-count: %d\nremote-control:" % NSD_TCP_COUNT, 1)
            with open(conf, "w") as f:
                f.write(text)
                f.write("zone:\n  name: %s\n  zonefile: %s.zone\n" % (origin, origin))
            argv = taskset + ["nsd", "-d", "-c", conf]
        else:
            raise ValueError(kind)
        # A pindnsd must stop cleanly (exit 0, no sanitizer report): stop() checks it.
        srv = harness.Server(argv, port, log, ours=kind.startswith("pindns"))
        self.servers.append(srv)
        return srv

    def pindns_conf_extra(self, kind):
        """More configuration lines for a pindns kind (a benchmark of its own adds some)."""
        return ""

    def knot_conf(self, kind, text):
        """Knot's configuration for a knot kind, from the one every Knot here gets."""
        return text

    def wait_answering(self, srv, name, timeout, tcp=False, echo=False):
        """Seconds until the server answers `name` authoritatively (for load times); with
        echo, until it answers at all (the null responder)."""
        t0 = time.monotonic()
        q = harness.make_query(name)
        while time.monotonic() - t0 < timeout:
            if srv.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + srv.output())
            if tcp:
                r = tcp_query(srv.port, q, timeout=0.2)
                if r is None:
                    time.sleep(0.02)  # refused at once while it starts: no busy loop
            else:
                r = harness.raw_query(srv.port, q, timeout=0.05)
            if r and r[3] & 0xF == 0 and (echo or r[2] & 0x04):
                return time.monotonic() - t0
        raise RuntimeError("no answer within %ds:\n%s" % (timeout, srv.output()))

    def stop(self, srv):
        srv.stop()
        self.servers.remove(srv)

    def load(self, srv, queries, duration, warmup, pin=True, shape=None, dnssec=False,
             extra=()):
        """shape: a TCP shape (parse_shape); None loads over UDP. dnssec: DO set. extra:
        more pindns-load arguments."""
        argv = [os.path.join(self.build, "pindns-load"), "-s", "127.0.0.1:%d" % srv.port,
                "-f", queries, "-d", str(duration), "-W", str(warmup), "--json"] + list(extra)
        if dnssec:
            argv += ["--dnssec"]
        if shape:
            argv += ["--tcp", "--connections", str(shape["connections"]), "--inflight",
                     str(shape["inflight"]), "--conn-queries", str(shape["conn_queries"])]
        else:
            argv += ["-S", "8", "-w", "128"]
        if pin and PIN:
            argv += ["-c", LOAD_CPU]
        for p in tree_pids(srv.proc.pid):
            argv += ["-p", str(p)]
        # harness.run fails on a sanitizer report (pindns-load is instrumented in
        # sanitizer builds); a load that got no answer at all exits 1.
        out = harness.run(argv, timeout=duration + warmup + 60)
        if out.returncode != 0:
            raise RuntimeError("pindns-load exited %d: %s%s" % (out.returncode, out.stdout,
                                                                out.stderr))
        return json.loads(out.stdout)

    def measure(self, kind, zonedir, origin, queries, probe, threads=1, pin=True,
                dnssec=False):
        """dnssec: queries with DO, and r["signed"] says whether the probe's answer held
        an RRSIG and a name that does not exist got an NSEC or NSEC3 (None: not asked)."""
        srv = self.start(kind, zonedir, origin, harness.free_port(), threads=threads, pin=pin)
        try:
            if kind == "null":
                harness.wait_for_udp(srv.port, proc=srv.proc)
            else:
                self.wait_answering(srv, probe, 60)
            signed = None
            if dnssec and kind != "null":
                signed = answers_signed(srv.port, probe, "nx-%d.%s" % (os.getpid(), origin))
            r = self.load(srv, queries, self.args.duration, self.args.warmup, pin=pin,
                          dnssec=dnssec)
            r["signed"] = signed
            r["peak_rss_kib"] = peak_rss_kib(tree_pids(srv.proc.pid))
            return r
        finally:
            self.stop(srv)

    def measure_tcp(self, kind, zonedir, origin, queries, probe, shape):
        srv = self.start(kind, zonedir, origin, harness.free_port(), tcp=True)
        try:
            self.wait_answering(srv, probe, 60, tcp=True, echo=kind == "null")
            return self.load(srv, queries, self.args.duration, self.args.warmup, shape=shape)
        finally:
            self.stop(srv)


KNOT_CONF = """server:
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    rundir: "{dir}"
    pidfile: "{dir}/knot.pid"
database:
    storage: "{dir}/db"
control:
    listen: "{dir}/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{zones}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {origin}
    file: {origin}.zone
"""


def median_row(results):
    keys = ["qps", "server_cpu_us_per_query", "lost", "answered", "peak_rss_kib",
            "server_cpu_s", "seconds", "p50_us", "p99_us", "loadgen_cpu_s"]
    # TCP runs also count connections: opened, and closed or reset by the server.
    keys += [k for k in ("connects", "server_closes", "resets") if k in results[0]]
    # Answer sizes and TC (pindns-load from --dnssec on counts them).
    keys += [k for k in ("truncated", "answer_bytes") if k in results[0]]
    return {k: statistics.median(r.get(k, 0) for r in results) for k in keys}


def table(rows, floor_key="null"):
    """rows: name -> median row, with "ratio" the median of per-round ratios to the floor;
    a row whose "signed" is False (DO answers without RRSIG or proof) is marked."""
    lines = ["| server | qps | server CPU % | CPU µs / answered query "
             "| × null floor (median of rounds) | lost |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        cpu_pct = 100.0 * r["server_cpu_s"] / r["seconds"] if r["seconds"] else 0
        ratio = "%.2f" % r["ratio"] if r.get("ratio") else "-"
        mark = " (unsigned answers!)" if r.get("signed") is False else ""
        lines.append("| %s%s | %.0fk | %.0f | %.3f | %s | %d |" % (
            name, mark, r["qps"] / 1000, cpu_pct, r["server_cpu_us_per_query"], ratio,
            r["lost"]))
    return "\n".join(lines)


def signed_table(rows):
    """As table(), with each server's mean answer size and share of truncated answers:
    signed answers are larger, and a server that sends more or fewer records pays more
    or less per query for it."""
    lines = ["| server | qps | CPU µs / answered query | × null floor (median of rounds) "
             "| bytes / answer | TC % | lost |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ratio = "%.2f" % r["ratio"] if r.get("ratio") else "-"
        mark = " (unsigned answers!)" if r.get("signed") is False else ""
        n = r["answered"] or 1
        lines.append("| %s%s | %.0fk | %.3f | %s | %.0f | %.1f | %d |" % (
            name, mark, r["qps"] / 1000, r["server_cpu_us_per_query"], ratio,
            r.get("answer_bytes", 0) / n, 100.0 * r.get("truncated", 0) / n, r["lost"]))
    return "\n".join(lines)


def tcp_table(rows):
    """As table(), with the connections each run opened (warm-up included) and how many
    of them the server closed or reset: a server that hangs up shows there."""
    lines = ["| server | qps | server CPU % | CPU µs / answered query "
             "| × null floor (median of rounds) | lost | connections opened "
             "| closed or reset by the server |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        cpu_pct = 100.0 * r["server_cpu_s"] / r["seconds"] if r["seconds"] else 0
        ratio = "%.2f" % r["ratio"] if r.get("ratio") else "-"
        lines.append("| %s | %.0fk | %.0f | %.3f | %s | %d | %d | %d |" % (
            name, r["qps"] / 1000, cpu_pct, r["server_cpu_us_per_query"], ratio, r["lost"],
            r["connects"], r["server_closes"] + r["resets"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--duration", type=float, default=5, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    ap.add_argument("--servers", default="null,pindns,pindns-nocache,knot,nsd")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 2-worker run")
    ap.add_argument("--big", action="store_true",
                    help="also the 1,000,000-record zone runs (queries and start-up)")
    ap.add_argument("--startup", action="store_true",
                    help="also the start-up table (not the rest of --big): the "
                         "1,000,005-record zone, unsigned and NSEC3-signed, on one CPU "
                         "and on two")
    ap.add_argument("--startup-only", action="store_true",
                    help="only the start-up table (with --servers)")
    ap.add_argument("--no-signed", action="store_true",
                    help="skip the signed-zone tables (DO queries on the realistic zone "
                         "signed with NSEC3 and with NSEC)")
    ap.add_argument("--smoke", action="store_true",
                    help="pindns only (and the null responder over TCP), one short "
                         "round: checks the tools work")
    ap.add_argument("--out", help="write the report here too (default build/bench/)")
    ap.add_argument("--baseline", metavar="BUILD",
                    help="also run the pindnsd of this build (pindns-base, "
                         "pindns-nocache-base), to compare two versions in one run")
    ap.add_argument("--realistic", metavar="DIR", default=REALISTIC,
                    help="folder with example.com.zone and queries.txt for the realistic "
                         "mix (default ../shared/bench beside the project, when there)")
    ap.add_argument("--tcp-shapes", default=TCP_SHAPES,
                    help="TCP loads, comma-separated: CONNSxINFLIGHT (connections kept "
                         "open, INFLIGHT queries pipelined on each) or CONNSxINFLIGHT/Q "
                         "(each connection closed after Q answers and opened again); "
                         "default %(default)s")
    ap.add_argument("--tcp-servers", default="null,pindns,knot,nsd",
                    help="servers of the TCP table (default %(default)s)")
    ap.add_argument("--no-tcp", action="store_true", help="skip the TCP table")
    ap.add_argument("--tcp-only", action="store_true", help="only the TCP table")
    args = ap.parse_args()
    try:
        args.tcp_shapes = [parse_shape(t) for t in args.tcp_shapes.split(",") if t.strip()]
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    if args.smoke:
        args.duration, args.warmup, args.rounds = 1, 0.2, 1
        args.servers, args.no_scaling, args.big = "pindns", True, False
        args.startup = args.startup_only = False
        args.realistic = None
        # TCP against the null responder too, so that both ends of TCP stay working.
        args.tcp_servers = "null,pindns"
    if args.baseline:
        args.servers += ",pindns-base,pindns-nocache-base"
    if args.startup_only:
        args.startup = args.tcp_only = False
        args.no_tcp = args.no_scaling = args.no_signed = True
    if not (shutil.which("ldns-signzone") and shutil.which("ldns-keygen")):
        args.no_signed = True  # said in the report below

    b = Bench(args)
    report = ["# pindns benchmark, %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "", "Each server alone on CPU %s with one worker; pindns-load on CPU %s "
              "(8 sockets x 16 in flight, busy-polling); %gs warm-up, %gs measured, median "
              "of %d round(s)." % (SERVER_CPU, LOAD_CPU, args.warmup, args.duration,
                                    args.rounds), ""]
    ok = True
    try:
        origin = "example.com"
        zdir = os.path.join(b.work, "zones")
        os.makedirs(zdir)
        write_zone(os.path.join(zdir, origin + ".zone"), origin, 1000)
        queries = os.path.join(b.work, "queries.txt")
        write_queries(queries, origin, 1000, 100000)
        probe = "h1.%s" % origin
        kinds = available(b, args.servers, report)
        rows = {}
        queries_runs = not args.tcp_only and not args.startup_only
        if args.no_signed and not args.startup_only and not (
                shutil.which("ldns-signzone") and shutil.which("ldns-keygen")):
            report.append("(signed tables skipped: ldns-signzone or ldns-keygen is not "
                          "installed)")
        if queries_runs:
            rows = small_zone(b, args, kinds, zdir, origin, queries, probe)
            report += ["## Small zone (2,000 names, 100k-query mix)", "", table(rows), ""]
            ok = ok and all(r["answered"] and not r["lost"] for r in rows.values())
        if args.realistic and queries_runs:
            rzdir = os.path.join(b.work, "realistic")
            os.makedirs(rzdir)
            shutil.copy(os.path.join(args.realistic, origin + ".zone"), rzdir)
            rrows = small_zone(b, args, kinds, rzdir, origin,
                               os.path.join(args.realistic, "queries.txt"),
                               "ns1.%s" % origin)
            report += ["## Realistic mix (%s: ~2,000 names; 70%% hits, Zipf-skewed; 15%% "
                       "random NXDOMAIN; NODATA, wildcard, CNAME, referral)" % args.realistic,
                       "", table(rrows), ""]
            ok = ok and all(r["answered"] and not r["lost"] for r in rrows.values())
        if args.realistic and queries_runs and not args.no_signed:
            src = os.path.join(args.realistic, origin + ".zone")
            for mode in DNSSEC_MODES:
                szdir = os.path.join(b.work, "signed-" + mode)
                os.makedirs(szdir)
                signed, took, cached = signed_zone(b.build, src, origin, mode)
                shutil.copy(signed, os.path.join(szdir, origin + ".zone"))
                srows = small_zone(b, args, kinds, szdir, origin,
                                   os.path.join(args.realistic, "queries.txt"),
                                   "ns1.%s" % origin, dnssec=True)
                report += ["## Signed realistic zone, %s, queries with DO (EDNS 1232)" % (
                    "NSEC3 (0 iterations, no salt)" if mode == "nsec3" else "NSEC"), "",
                    "The realistic zone signed by `ldns-signzone%s` with ECDSA P-256 "
                    "keys (%s); the same mix with DO set. A row marked \"(unsigned "
                    "answers!)\" answered DO queries without an RRSIG on a positive answer "
                    "or an NSEC/NSEC3 on an NXDOMAIN." % (
                        " -n -t 0" if mode == "nsec3" else "",
                        "signed in %.1f s%s" % (took, ", cached" if cached else "")), "",
                    signed_table(srows), ""]
                ok = ok and all(r["answered"] and not r["lost"] for r in srows.values())

        if not args.no_tcp:
            tcp_kinds = available(b, args.tcp_servers, report, tcp=True)
            if tcp_kinds:
                tables = tcp_shapes(b, args, tcp_kinds, zdir, origin, queries, probe)
                report += ["## TCP (small zone, the same mix)", "",
                           "pindns-load --tcp on CPU %s, connecting from 16 loopback "
                           "addresses in turn; pindns with 1 UDP worker and `tcp-threads: "
                           "1`, Knot with 1 UDP and 1 TCP worker, NSD with one server "
                           "process (UDP and TCP) and `tcp-count: %d`, all on CPU %s; the "
                           "null responder is `pindns-null --tcp` (read, set QR, write "
                           "back, one epoll thread)." % (LOAD_CPU, NSD_TCP_COUNT,
                                                         SERVER_CPU), ""]
                for shape, trows in tables:
                    report += ["### %s" % shape_title(shape), "", tcp_table(trows), ""]
                    ok = ok and all(r["answered"] and not r["lost"] for r in trows.values())

        if not args.no_scaling and queries_runs and "pindns" in kinds:
            one = rows["pindns"]
            two_runs = [b.measure("pindns", zdir, origin, queries, probe, threads=2, pin=False)
                        for _ in range(args.rounds)]
            two = median_row(two_runs)
            report += ["## Scaling: 2 workers vs 1 (pindns, cache on)", "",
                       "| workers | qps | server CPU % | CPU µs / query | load generator CPU % |",
                       "|---|---|---|---|---|",
                       "| 1 (CPU 0; load on CPU 1) | %.0fk | %.0f | %.3f | %.0f |" % (
                           one["qps"] / 1000, 100 * one["server_cpu_s"] / one["seconds"],
                           one["server_cpu_us_per_query"],
                           100 * one["loadgen_cpu_s"] / one["seconds"]),
                       "| 2 (CPUs 0, 1; load unpinned) | %.0fk | %.0f | %.3f | %.0f |" % (
                           two["qps"] / 1000, 100 * two["server_cpu_s"] / two["seconds"],
                           two["server_cpu_us_per_query"],
                           100 * two["loadgen_cpu_s"] / two["seconds"]),
                       "", "qps ratio 2/1: %.2f. The load generator needs a whole core to "
                       "saturate one worker (its CPU is in the last column), so on a machine "
                       "with %d CPUs two workers and the load share the cores and this run "
                       "cannot show how workers scale: it needs CPUs for the load beyond the "
                       "workers' own." % (two["qps"] / one["qps"], os.cpu_count() or 1), ""]

        if args.big and queries_runs:
            report += big_zone(b, kinds, rows)
        if (args.big or args.startup or args.startup_only) and not args.tcp_only:
            # The cache plays no part in loading: one pindns row per build is enough.
            report += startup(b, args, [k for k in kinds if k != "null" and "nocache" not in k])
    finally:
        b.cleanup()

    text = "\n".join(report) + "\n"
    print(text)
    out = args.out
    if not out and not args.smoke:
        d = os.path.join(os.path.abspath(args.build), "bench")
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, "results-%s.md" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    write_report(text, [out])
    return exit_status(ok, [])


def available(b, servers, report, tcp=False):
    """The servers of a comma-separated list that can run here, with a note in the
    report for each left out."""
    kinds = []
    for k in servers.split(","):
        binary = {"knot": "knotd", "nsd": "nsd"}.get(k)
        if binary and not shutil.which(binary):
            report.append("(%s skipped: %s is not installed)" % (k, binary))
            continue
        if tcp and k.startswith("pindns") and not pindnsd_has_tcp(b.pindnsd(k)):
            report.append("(%s not in the TCP table: `%s --help` does not mention "
                          "tcp-threads, so it has no TCP listener)" % (k, b.pindnsd(k)))
            continue
        kinds.append(k)
    return kinds


def small_zone(b, args, kinds, zdir, origin, queries, probe, dnssec=False):
    """Every server, round after round on the same zone and mix; the median rows, each
    with its median per-round ratio to the null responder. dnssec: DO on the queries,
    and each row's "signed" is whether every round's answers were signed."""
    runs = {k: [] for k in kinds}
    for rnd in range(args.rounds):
        for k in kinds:
            r = b.measure(k, zdir, origin, queries, probe, dnssec=dnssec)
            runs[k].append(r)
            print("round %d %-20s %8.0f qps %.3f us/q lost %d%s" % (
                rnd + 1, k, r["qps"], r["server_cpu_us_per_query"], r["lost"],
                " (unsigned answers!)" if r.get("signed") is False else ""),
                file=sys.stderr)
    rows = {k: median_row(v) for k, v in runs.items()}
    if dnssec:
        for k in rows:
            checked = [r["signed"] for r in runs[k] if r.get("signed") is not None]
            rows[k]["signed"] = all(checked) if checked else None
    if "null" in runs:
        # The floor drifts between rounds: compare within each round, then take the median.
        for k in rows:
            rows[k]["ratio"] = statistics.median(
                r["server_cpu_us_per_query"] / f["server_cpu_us_per_query"]
                for r, f in zip(runs[k], runs["null"]))
    return rows


def tcp_shapes(b, args, kinds, zdir, origin, queries, probe):
    """Every server in every TCP shape, round after round (shapes and servers interleaved
    within a round); per shape, the median rows with their median ratio to the null."""
    runs = [{k: [] for k in kinds} for _ in args.tcp_shapes]
    for rnd in range(args.rounds):
        for shape, shape_runs in zip(args.tcp_shapes, runs):
            for k in kinds:
                r = b.measure_tcp(k, zdir, origin, queries, probe, shape)
                shape_runs[k].append(r)
                print("round %d tcp %dx%d/%d %-12s %8.0f qps %.3f us/q lost %d, %d "
                      "connections, %d closed by the server" % (
                          rnd + 1, shape["connections"], shape["inflight"],
                          shape["conn_queries"], k, r["qps"], r["server_cpu_us_per_query"],
                          r["lost"], r["connects"], r["server_closes"] + r["resets"]),
                      file=sys.stderr)
    out = []
    for shape, shape_runs in zip(args.tcp_shapes, runs):
        rows = {k: median_row(v) for k, v in shape_runs.items()}
        if "null" in shape_runs:
            for k in rows:
                rows[k]["ratio"] = statistics.median(
                    r["server_cpu_us_per_query"] / f["server_cpu_us_per_query"]
                    for r, f in zip(shape_runs[k], shape_runs["null"]))
        out.append((shape, rows))
    return out


BIG_HOSTS = 500000


def write_big_zone(path, origin, hosts):
    """SOA, two NS with glue, and `hosts` names with an A and an AAAA each."""
    with open(path, "w") as f:
        f.write("$ORIGIN %s.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                "@ NS ns1\n@ NS ns2\nns1 A 192.0.2.53\nns2 A 192.0.2.54\n" % origin)
        for i in range(hosts):
            f.write("h%d A 10.%d.%d.%d\nh%d AAAA 2001:db8::%x:%x\n" % (
                i, (i >> 16) & 255, (i >> 8) & 255, i & 255, i, i >> 16, i & 0xffff))


STARTUP_CPUS = (("1 CPU", "0"), ("2 CPUs", "0,1"))
STARTUP_TIMEOUT = 300  # seconds a server may take to answer after its start


def startup(b, args, kinds):
    """The start-up table: rows server x {1 CPU, 2 CPUs} x {unsigned, NSEC3}, medians of
    the rounds (interleaved), each run timed from exec until the server answers the last
    name of the file authoritatively, with the CPU time and peak RSS of its processes."""
    origin = "big.test"
    probe = "h%d.%s" % (BIG_HOSTS - 1, origin)
    zones = {}
    udir = os.path.join(b.work, "startup-unsigned")
    os.makedirs(udir)
    upath = os.path.join(udir, origin + ".zone")
    write_big_zone(upath, origin, BIG_HOSTS)
    zones["unsigned"] = udir
    note = "NSEC3 not run: ldns-signzone is not installed"
    if shutil.which("ldns-signzone") and shutil.which("ldns-keygen"):
        print("signing the 1,000,005-record zone (NSEC3), unless cached...", file=sys.stderr)
        spath, took, cached = signed_zone(b.build, upath, origin, "nsec3")
        sdir = os.path.join(b.work, "startup-nsec3")
        os.makedirs(sdir)
        os.symlink(spath, os.path.join(sdir, origin + ".zone"))
        zones["NSEC3"] = sdir
        with open(spath) as f:
            nrec = sum(1 for line in f if line.strip() and not line.startswith(";"))
        note = ("NSEC3-signed (`ldns-signzone -n -t 0`, ECDSA P-256): %d records, %.0f MiB; "
                "%s" % (nrec, os.path.getsize(spath) / 2**20,
                        "signing took %.0f s (%s)" % (
                            took, "cached in %s" % os.path.dirname(spath) if cached
                            else "this run, now cached")))
    if (os.cpu_count() or 1) < 2:
        cpus_list = STARTUP_CPUS[:1]
    else:
        cpus_list = STARTUP_CPUS
    runs = {}
    for rnd in range(args.rounds):
        for zname, zdir in zones.items():
            for cname, cpus in cpus_list:
                for k in kinds:
                    srv = b.start(k, zdir, origin, harness.free_port(), cpus=cpus)
                    try:
                        t = b.wait_answering(srv, probe, STARTUP_TIMEOUT)
                        pids = tree_pids(srv.proc.pid)
                        cpu = tree_cpu_s(pids)
                        rss = peak_rss_kib(pids) / 1024
                    except RuntimeError as e:
                        # Exited or too slow: the row says so, the other runs go on.
                        print("startup %s %s %s failed: %s" % (k, cname, zname, e),
                              file=sys.stderr)
                        runs.setdefault((k, cname, zname), [])
                        continue
                    finally:
                        b.stop(srv)
                    runs.setdefault((k, cname, zname), []).append((t, cpu, rss))
                    print("round %d startup %-15s %-6s %-8s answering after %.2f s, "
                          "%.2f s CPU, %.0f MiB" % (rnd + 1, k, cname, zname, t, cpu, rss),
                          file=sys.stderr)
    lines = ["## Start-up: 1,000,005-record zone (500k names, A + AAAA)", "",
             "Each server under `taskset` for its whole life (load included), one CPU "
             "(`-c 0`) or two (`-c 0,1`); answering after: from exec until it answers the "
             "last name of the file authoritatively (polled every 50 ms); CPU: utime + "
             "stime of its processes by then; median of %d round(s). %s." % (
                 args.rounds, note), "",
             "| server | CPUs | zone | answering after s | CPU s by then | peak RSS MiB |",
             "|---|---|---|---|---|---|"]
    for k in kinds:
        for zname in zones:
            for cname, _ in cpus_list:
                v = runs[(k, cname, zname)]
                if not v:
                    lines.append("| %s | %s | %s | failed (see the log) | - | - |" % (
                        k, cname, zname))
                    continue
                lines.append("| %s | %s | %s | %.2f | %.2f | %.0f |" % (
                    k, cname, zname, statistics.median(x[0] for x in v),
                    statistics.median(x[1] for x in v), statistics.median(x[2] for x in v)))
    return lines + [""]


def big_zone(b, kinds, small_rows):
    """1,000,005 records: load time, peak RSS, and CPU per query against the small zone."""
    origin = "big.test"
    zdir = os.path.join(b.work, "bigzones")
    os.makedirs(zdir)
    hosts = BIG_HOSTS
    write_big_zone(os.path.join(zdir, origin + ".zone"), origin, hosts)
    queries = os.path.join(b.work, "bigqueries.txt")
    rnd = random.Random(3)
    with open(queries, "w") as f:
        for _ in range(100000):
            f.write("h%d.%s %s\n" % (rnd.randrange(hosts), origin,
                                     "A" if rnd.random() < 0.7 else "AAAA"))
    lines = ["## 1,000,005-record zone (500k names, A + AAAA)", "",
             "Each server loads it unpinned (time from start until it answers a name from "
             "the end of the file), then is pinned to CPU %s for the queries." % SERVER_CPU, "",
             "| server | answering after s | peak RSS MiB | CPU µs / query | vs small zone |",
             "|---|---|---|---|---|"]
    for k in [k for k in kinds if k != "null"]:
        # Loaded unpinned (a server may use every CPU to load), then pinned to one CPU
        # for the per-query figure, as in the small-zone run.
        srv = b.start(k, zdir, origin, harness.free_port(), pin=False)
        try:
            t = b.wait_answering(srv, "h499999.%s" % origin, 300)
            for p in tree_pids(srv.proc.pid):
                if PIN:
                    subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CPU, str(p)],
                                   capture_output=True)
            r = b.load(srv, queries, b.args.duration, b.args.warmup)
            rss = peak_rss_kib(tree_pids(srv.proc.pid)) / 1024
        finally:
            b.stop(srv)
        small = small_rows.get(k, {}).get("server_cpu_us_per_query")
        vs = "%.2f" % (r["server_cpu_us_per_query"] / small) if small else "-"
        lines.append("| %s | %.2f | %.0f | %.3f | %s |" % (k, t, rss, r["server_cpu_us_per_query"],
                                                          vs))
        print("big %-15s answering after %.2fs, %.0f MiB, %.3f us/q" % (
            k, t, rss, r["server_cpu_us_per_query"]), file=sys.stderr)
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())
