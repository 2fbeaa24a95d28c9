#!/usr/bin/env python3
"""pindns many-zones benchmark: N small zones (a hosting provider's case), pindns beside
Knot and NSD, in one run.

Every server serves the same N zone files (default N = 10,000 and 100,000; --zones), each
zone zNNNNNN.example. of 10 records: SOA, two NS with A glue, www A and AAAA, mail A, MX
and an SPF TXT. The files are made once per N and kept in BUILD/bench/manyzones-N/; each
server run gets a folder of copies of them (not hard links: pindnsd cannot rely on inotify
for a file with several links, so it would stat() each on every reload, which is not what
an operator's zones-dir looks like), so what a run rewrites or adds leaves the cache as it
was.

Each server is pinned to CPU 0 with taskset for its whole life, with one UDP worker
(pindnsd --threads 1; Knot udp-workers, tcp-workers and background-workers 1; NSD
server-count 1) and logging warnings only; this script and the control tools it runs are
on CPU 1. Per server and N it measures:

- last zone answers after: seconds from exec until `www.<the last zone>` A gets an
  authoritative NOERROR answer with its address (polled over UDP every 5 ms); then a
  sample of the other zones (all of them up to 10,000) is asked too, and if one does not
  answer yet the time is when they all do. CPU: utime + stime of the server's processes
  by then.
- peak RSS (the largest VmHWM among its processes) right after that, RSS now (VmRSS summed
  over its processes: NSD's forks count their shared pages once each), and per zone:
  (peak RSS - peak RSS of the same server serving just one such zone, measured in the same
  round) / N, in bytes.
- reload one zone: a zone in the middle is rewritten (serial bumped, www address changed)
  and the server told to reload that zone alone (pindnsctl reload ZONE, knotc zone-reload
  ZONE, nsd-control reload ZONE); the time from the command until the new address answers.
  pindns also gets a second figure: another file rewritten, then SIGHUP (pindnsd reads
  only the files inotify saw change).
- add one zone: a new zone file written, then pindnsctl reload (all zones: it picks up
  new files), knotc conf-begin / conf-set zone[Z] / conf-set zone[Z].file / conf-commit,
  or nsd-control addzone Z PATTERN; the time until the new zone answers.

Each command's exit status is checked; a step that fails shows as "failed: why" and the
run goes on. Servers are interleaved round by round (--rounds; default 3 below 100,000
zones, else 1) and the median of the rounds is reported, with the ratio to Knot of each
round (time, and memory per zone) and their median: the machine's speed drifts, so only
figures taken in the same run compare. Only loopback is used; every server started here
is stopped, also on errors and Ctrl-C, and every wait is bounded (start-up and reloads:
60 s + 2 ms per zone).
"""

import argparse
import datetime
import os
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
from bench import PIN, SERVER_CPU, LOAD_CPU, _skip_name, peak_rss_kib, tree_cpu_s, \
    tree_pids  # noqa: E402

FORMAT = "manyzones v1"  # in the cache's marker: a change of write_zone() makes new files
POLL = 0.005  # seconds between polls, at most
SMOKE_ZONES = 300
PATTERN = "mz"  # NSD's pattern of the zones (and of the one addzone adds)


class Failed(Exception):
    """A step that did not work; its text goes into the table as "failed: why"."""


def origin_of(i):
    return "z%06d.example" % i


def www_address(i, serial=1):
    """The www A address of zone i at a serial: serial 1 is what write_zone writes."""
    if serial == 1:
        return "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
    return "198.51.100.%d" % (serial % 250 + 1)


def write_zone(path, i, serial=1):
    """Zone i in 10 records, written aside and renamed into place, as editors and Knot's
    zonefile-sync do."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("$ORIGIN %s.\n$TTL 3600\n"
                "@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n"
                "@ NS ns1\n@ NS ns2\n@ MX 10 mail\n@ TXT \"v=spf1 mx -all\"\n"
                "ns1 A 192.0.2.53\nns2 A 192.0.2.54\nwww A %s\n"
                "www AAAA 2001:db8::%x:%x\nmail A 192.0.2.25\n" % (
                    origin_of(i), serial, www_address(i, serial), i >> 16, i & 0xffff))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def zone_cache(build, n):
    """BUILD/bench/manyzones-N/, holding the N zone files, made unless there already."""
    d = os.path.join(build, "bench", "manyzones-%d" % n)
    marker = os.path.join(d, ".complete")
    try:
        with open(marker) as f:
            if f.read().strip() == FORMAT:
                return d
    except OSError:
        pass
    print("writing %d zone files into %s..." % (n, d), file=sys.stderr)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    for i in range(n):
        write_zone(os.path.join(d, origin_of(i) + ".zone"), i)
    with open(marker, "w") as f:
        f.write(FORMAT + "\n")
    return d


def copy_tree(src, dst):
    """dst: a new folder of copies of src's zone files."""
    os.makedirs(dst)
    os.chmod(dst, 0o755)
    for name in os.listdir(src):
        if name.endswith(".zone"):
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
            os.chmod(os.path.join(dst, name), 0o644)


def a_addresses(msg):
    """The addresses of the A records in a reply's answer section."""
    qd, an = struct.unpack("!HH", msg[4:8])
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = _skip_name(msg, off)
        t, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        if t == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[off + 10:off + 14]))
        off += 10 + rdlen
    return out


def answers(port, name, want=None, timeout=POLL):
    """Whether the server answers name A with AA, NOERROR and an A (want, when given)."""
    r = harness.raw_query(port, harness.make_query(name), timeout=timeout)
    if not r or len(r) < 12 or r[3] & 0xF or not r[2] & 0x04:
        return False
    try:
        got = a_addresses(r)
    except (IndexError, struct.error):
        return False
    return bool(got) and (want is None or want in got)


def short(text, cap=70):
    text = " ".join(str(text).split())
    return text if len(text) <= cap else text[:cap - 3] + "..."


_help = {}


def help_text(binary):
    if binary not in _help:
        try:
            r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20)
            _help[binary] = r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired):
            _help[binary] = ""
    return _help[binary]


# bench.py's Knot, its template made to find each zone's file by name and to skip the
# semantic checks (pindns and NSD check less than Knot would), and a zone list of N.
KNOT_CONF = bench.KNOT_CONF.split("zone:\n  - domain:")[0].replace(
    "    journal-content: none\n",
    "    journal-content: none\n    file: \"%s.zone\"\n    semantic-checks: off\n") + "zone:\n"
assert 'file: "%s.zone"' in KNOT_CONF and "{origin}" not in KNOT_CONF, "bench.KNOT_CONF changed"

NSD_CONTROL = """remote-control:
  control-enable: yes
  control-interface: {dir}/nsd.sock
pattern:
  name: %s
  zonefile: "%%s.zone"
""" % PATTERN


class Instance:
    """A started server: harness.Server plus how to control it."""

    def __init__(self, kind, srv, ctl, work):
        self.kind, self.srv, self.ctl, self.work = kind, srv, ctl, work

    def output(self):
        out = self.srv.output()
        nsdlog = os.path.join(self.work, "nsd.log")
        if os.path.exists(nsdlog):
            with open(nsdlog, errors="replace") as f:
                out += f.read()
        return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="pindns-zones-")
        os.makedirs(os.path.join(self.build, "bench"), exist_ok=True)
        # Run folders in /tmp, open to all: pindnsd reads zones on reload as the service
        # user, who may not pass the folders the build sits in (a clone under mktemp -d).
        self.runs = tempfile.mkdtemp(prefix="pindns-manyzones-run-")
        os.chmod(self.runs, 0o755)
        self.servers = []
        self.unclean = []  # pindnsd stops that failed harness's check

    def cleanup(self):
        for inst in list(self.servers):
            self.stop(inst)
        shutil.rmtree(self.runs, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)

    def builddir(self, kind):
        return self.args.baseline if kind.endswith("-base") else self.build

    def pindnsd(self, kind):
        return os.path.join(self.builddir(kind), "pindnsd")

    def pindnsctl(self, kind):
        ctl = os.path.join(self.builddir(kind), "pindnsctl")
        return ctl if os.path.exists(ctl) else os.path.join(self.build, "pindnsctl")

    def start(self, kind, zdir, n):
        """Starts kind serving the zones 0..n-1 of zdir; returns (Instance, t0), t0 the
        time.monotonic() of just before the exec."""
        port = harness.free_port()
        d = tempfile.mkdtemp(dir=self.work, prefix=kind + "-")
        os.chmod(d, 0o755)
        taskset = ["taskset", "-c", SERVER_CPU] if PIN else []
        log = os.path.join(d, "server.log")
        if kind.startswith("pindns"):
            conf = os.path.join(d, "pindnsd.conf")
            ctl = os.path.join(d, "ctl.sock")
            with open(conf, "w") as f:
                f.write("control-socket: %s\n" % ctl)
                if "log-level:" in help_text(self.pindnsd(kind)):
                    f.write("log-level: warning\n")
            argv = taskset + [self.pindnsd(kind), "--foreground", "--config", conf,
                              "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                              "--zones", zdir]
        elif kind == "knot":
            os.makedirs(os.path.join(d, "db"))
            conf = os.path.join(d, "knot.conf")
            with open(conf, "w") as f:
                f.write(KNOT_CONF.format(port=port, dir=d, zones=zdir))
                for i in range(n):
                    f.write("  - domain: %s\n" % origin_of(i))
            ctl = os.path.join(d, "knot.sock")
            argv = taskset + ["knotd", "-c", conf]
        elif kind == "nsd":
            conf = os.path.join(d, "nsd.conf")
            text = harness.NSD_CONF.format(port=port, zones=zdir, dir=d)
            off = "remote-control:\n  control-enable: no\n"
            assert off in text and "  verbosity: 1\n" in text, "harness.NSD_CONF changed"
            text = text.replace(off, NSD_CONTROL.format(dir=d))
            text = text.replace("  verbosity: 1\n", "  verbosity: 0\n")
            with open(conf, "w") as f:
                f.write(text)
                for i in range(n):
                    f.write("zone:\n  name: %s\n  include-pattern: %s\n" % (origin_of(i),
                                                                            PATTERN))
            ctl = conf
            argv = taskset + ["nsd", "-d", "-c", conf]
        else:
            raise ValueError(kind)
        t0 = time.monotonic()
        # A pindnsd must stop cleanly (exit 0, no sanitizer report): stop() checks it.
        srv = harness.Server(argv, port, log, ours=kind.startswith("pindns"))
        inst = Instance(kind, srv, ctl, d)
        self.servers.append(inst)
        return inst, t0

    def stop(self, inst):
        self.servers.remove(inst)
        try:
            inst.srv.stop()
        except AssertionError as e:
            print("%s did not stop cleanly: %s" % (inst.kind, e), file=sys.stderr)
            self.unclean.append("%s: %s" % (inst.kind, short(e, 300)))

    # -- waiting ---------------------------------------------------------------------
    def wait(self, inst, name, want, t0, timeout, proc=None, what="the answer"):
        """Seconds from t0 until inst answers name A (with address want), polled every
        POLL seconds. proc: a control command running meanwhile; its failure fails."""
        deadline = t0 + timeout
        while True:
            t = time.monotonic()
            if inst.srv.proc.poll() is not None:
                raise Failed("server exited with %s" % inst.srv.proc.returncode)
            if proc is not None and proc.poll() is not None and proc.returncode != 0:
                raise Failed(command_failure(proc))
            if answers(inst.srv.port, name, want):
                return time.monotonic() - t0
            if t > deadline:
                raise Failed("no %s within %.0f s" % (what, timeout))
            time.sleep(max(0.0, POLL - (time.monotonic() - t)))

    def wait_all(self, inst, n, t0, timeout):
        """Seconds from t0 until the last zone answers, with the server's figures then
        (figures()); then a sample of the other zones (all of them up to 10,000) is
        asked, and if some do not answer yet, the time and figures are those of when
        they all do (the sweeps' own queries included). Returns (seconds, figures, the
        number of zones that answered after the last)."""
        last = n - 1
        took = self.wait(inst, "www." + origin_of(last), www_address(last), t0, timeout,
                         what="answer from the last zone")
        snap = figures(inst)
        pending = list(range(0, last, max(1, n // 10000)))
        late = 0
        while True:
            pending = [i for i in pending
                       if not answers(inst.srv.port, "www." + origin_of(i), www_address(i),
                                      timeout=0.2)]
            if not pending:
                break
            late = max(late, len(pending))
            if inst.srv.proc.poll() is not None:
                raise Failed("server exited with %s" % inst.srv.proc.returncode)
            if time.monotonic() > t0 + timeout:
                raise Failed("%d zones not answering within %.0f s" % (len(pending), timeout))
            time.sleep(POLL)
        if late:
            took, snap = time.monotonic() - t0, figures(inst)
        return took, snap, late

    def change(self, inst, steps, name, want, timeout):
        """Runs steps (argv lists, run one after the other, or callables) and returns the
        seconds from the first until name A answers with want. Every command must exit 0
        (and, for nsd-control, not print an error)."""
        t0 = time.monotonic()
        last = None
        for i, step in enumerate(steps):
            if callable(step):
                step()
                continue
            proc = subprocess.Popen(step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True)
            if i < len(steps) - 1:
                finish(proc, timeout)
            else:
                last = proc
        try:
            took = self.wait(inst, name, want, t0, timeout, proc=last)
        except Failed:
            if last is not None and last.poll() is None:
                last.kill()
                last.communicate()
            raise
        if last is not None:
            finish(last, timeout)
        return took


def command_failure(proc):
    out = proc.stdout.read() if proc.stdout and not proc.stdout.closed else ""
    return "%s exit %s: %s" % (os.path.basename(proc.args[0]), proc.returncode, short(out))


def finish(proc, timeout):
    """Waits for a control command; Failed unless it exited 0 without an error line."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failed("%s still running after %.0f s" % (os.path.basename(proc.args[0]),
                                                        timeout))
    bad = proc.returncode != 0 or any(line.startswith("error") for line in out.splitlines())
    if bad:
        raise Failed("%s exit %s: %s" % (os.path.basename(proc.args[0]), proc.returncode,
                                         short(out)))
    return out


def rss_now_kib(pids):
    return sum(bench.status_kib(pids, "VmRSS"))


def figures(inst):
    """CPU seconds, peak RSS (the largest VmHWM, KiB) and RSS now (VmRSS summed, KiB) of
    the server's processes."""
    pids = tree_pids(inst.srv.proc.pid)
    return {"cpu": tree_cpu_s(pids), "peak": peak_rss_kib(pids), "rss": rss_now_kib(pids)}


def timeout_for(n):
    return 60 + 0.002 * n


def measure_one(b, kind):
    """Peak RSS (KiB) of kind serving the one-zone folder, once it answers."""
    zdir = os.path.join(b.runs, "one-%s-%d" % (kind, time.monotonic_ns()))
    copy_tree(zone_cache(b.build, 1), zdir)
    inst, t0 = b.start(kind, zdir, 1)
    try:
        b.wait(inst, "www." + origin_of(0), www_address(0), t0, timeout_for(1))
        return peak_rss_kib(tree_pids(inst.srv.proc.pid))
    except Failed as e:
        print("%s, 1 zone: failed: %s\n%s" % (kind, e, inst.output()[-2000:]),
              file=sys.stderr)
        raise
    finally:
        b.stop(inst)
        shutil.rmtree(zdir, ignore_errors=True)


def measure(b, kind, n):
    """One run of kind with n zones: a dict of figures, each a number or a Failed."""
    r = {}
    timeout = timeout_for(n)
    try:
        r["peak1"] = measure_one(b, kind)
    except Failed as e:
        r["peak1"] = e
    zdir = os.path.join(b.runs, "%s-%d-%d" % (kind, n, time.monotonic_ns()))
    copy_tree(zone_cache(b.build, n), zdir)
    inst, t0 = b.start(kind, zdir, n)
    try:
        try:
            r["start"], snap, late = b.wait_all(inst, n, t0, timeout)
            r.update(snap)
            if late:
                r["late"] = late
        except Failed as e:
            print("%s, %d zones: start-up failed: %s\n%s" % (kind, n, e, inst.output()[-2000:]),
                  file=sys.stderr)
            for k in ("start", "cpu", "peak", "rss"):
                r[k] = e
            return r
        if not isinstance(r["peak1"], Failed):
            r["perzone"] = (r["peak"] - r["peak1"]) * 1024.0 / n
        else:
            r["perzone"] = r["peak1"]

        # Reload one changed zone.
        mid = n // 2
        write_zone(os.path.join(zdir, origin_of(mid) + ".zone"), mid, serial=2)
        if kind.startswith("pindns"):
            steps = [[b.pindnsctl(kind), "--socket", inst.ctl, "reload", origin_of(mid)]]
        elif kind == "knot":
            steps = [["knotc", "-s", inst.ctl, "-t", str(int(timeout)), "zone-reload",
                      origin_of(mid)]]
        else:
            steps = [["nsd-control", "-c", inst.ctl, "reload", origin_of(mid)]]
        r["reload"] = step(b, inst, kind, n, "reload", steps, "www." + origin_of(mid),
                           www_address(mid, 2), timeout)

        # pindns: SIGHUP after rewriting one file (every zone's files are checked).
        if kind.startswith("pindns"):
            other = min(mid + 1, n - 1)
            serial = 3 if other == mid else 2
            write_zone(os.path.join(zdir, origin_of(other) + ".zone"), other, serial=serial)
            pid = inst.srv.proc.pid
            r["sighup"] = step(b, inst, kind, n, "SIGHUP", [lambda: os.kill(pid, signal.SIGHUP)],
                               "www." + origin_of(other), www_address(other, serial), timeout)

        # Add one zone.
        new = n
        path = os.path.join(zdir, origin_of(new) + ".zone")
        if kind.startswith("pindns"):
            steps = [lambda: write_zone(path, new),
                     [b.pindnsctl(kind), "--socket", inst.ctl, "reload"]]
        elif kind == "knot":
            knotc = ["knotc", "-s", inst.ctl, "-t", str(int(timeout))]
            z = "zone[%s]" % origin_of(new)
            steps = [lambda: write_zone(path, new), knotc + ["conf-begin"],
                     knotc + ["conf-set", z], knotc + ["conf-set", z + ".file", path],
                     knotc + ["conf-commit"]]
        else:
            steps = [lambda: write_zone(path, new),
                     ["nsd-control", "-c", inst.ctl, "addzone", origin_of(new), PATTERN]]
        r["add"] = step(b, inst, kind, n, "add", steps, "www." + origin_of(new),
                        www_address(new), timeout)
        if kind == "knot" and isinstance(r["add"], Failed):
            subprocess.run(["knotc", "-s", inst.ctl, "conf-abort"], capture_output=True,
                           timeout=60)
        return r
    finally:
        b.stop(inst)
        shutil.rmtree(zdir, ignore_errors=True)


def step(b, inst, kind, n, what, steps, name, want, timeout):
    try:
        return b.change(inst, steps, name, want, timeout)
    except Failed as e:
        print("%s, %d zones: %s failed: %s\n%s" % (kind, n, what, e, inst.output()[-2000:]),
              file=sys.stderr)
        return e


# -- the report ------------------------------------------------------------------------
def fmt_cell(values, fmt):
    """The median of a metric's rounds, or "failed: why" when no round has it."""
    ok = [v for v in values if v is not None and not isinstance(v, Failed)]
    bad = [v for v in values if isinstance(v, Failed)]
    if not ok:
        return "failed: %s" % short(bad[0]) if bad else "-"
    text = fmt(statistics.median(ok))
    if bad:
        text += " (%d of %d failed: %s)" % (len(bad), len(values), short(bad[0], 40))
    return text


def ratio_cell(runs, kind, key):
    """The median over rounds of kind's figure / Knot's, in rounds where both have it."""
    if "knot" not in runs:
        return "-"
    rs = []
    for mine, knot in zip(runs[kind], runs["knot"]):
        a, k = mine.get(key), knot.get(key)
        if isinstance(a, (int, float)) and isinstance(k, (int, float)) and k > 0:
            rs.append(a / k)
    return "%.2f" % statistics.median(rs) if rs else "-"


def ms(v):
    return "%.0f" % (v * 1000)


def table(n, runs):
    lines = ["| server | last zone answers after s | × Knot | CPU s by then | peak RSS MiB "
             "| RSS now MiB | 1-zone peak MiB | per zone B | × Knot | reload 1 zone ms "
             "| SIGHUP, 1 file rewritten ms | add 1 zone ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, rs in runs.items():
        def col(key, fmt):
            return fmt_cell([r.get(key) for r in rs], fmt)
        late = [r["late"] for r in rs if r.get("late")]
        start = col("start", lambda v: "%.2f" % v)
        if late:
            start += " (%d zones answered after the last)" % max(late)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            kind, start, ratio_cell(runs, kind, "start"), col("cpu", lambda v: "%.2f" % v),
            col("peak", lambda v: "%.1f" % (v / 1024)), col("rss", lambda v: "%.1f" % (v / 1024)),
            col("peak1", lambda v: "%.1f" % (v / 1024)), col("perzone", lambda v: "%.0f" % v),
            ratio_cell(runs, kind, "perzone"), col("reload", ms),
            col("sighup", ms) if kind.startswith("pindns") else "-", col("add", ms)))
    return "\n".join(lines)


def machine_facts(b, kinds):
    facts = [bench.machine_line()]
    seen = set()
    for k in kinds:
        argv = {"knot": ["knotd", "--version"], "nsd": ["nsd", "-v"]}.get(
            k, [b.pindnsd(k), "--version"])
        if tuple(argv) not in seen:
            seen.add(tuple(argv))
            facts.append("- %s: %s%s" % (k, bench.version_of(argv), " (%s)" % argv[0]
                                         if k.startswith("pindns") else ""))
    return facts


def available(b, servers, report):
    kinds = []
    for k in servers.split(","):
        k = k.strip()
        if not k:
            continue
        need = {"knot": ["knotd", "knotc"], "nsd": ["nsd", "nsd-control"]}.get(k)
        if need is None and not k.startswith("pindns"):
            raise SystemExit("unknown server %r (pindns, pindns-base, knot, nsd)" % k)
        missing = [t for t in need or [] if not shutil.which(t)]
        if k.startswith("pindns") and not os.path.exists(b.pindnsd(k)):
            missing = [b.pindnsd(k)]
        if missing:
            report.append("(%s skipped: %s not installed)" % (k, ", ".join(missing)))
            continue
        kinds.append(k)
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--servers", default="pindns,knot,nsd",
                    help="comma-separated, of pindns, knot, nsd (default %(default)s)")
    ap.add_argument("--zones", default="10000,100000",
                    help="comma-separated zone counts (default %(default)s)")
    ap.add_argument("--rounds", type=int,
                    help="rounds per zone count; the median is reported (default 3 below "
                         "100,000 zones, else 1)")
    ap.add_argument("--baseline", metavar="BUILD",
                    help="also run the pindnsd of this build (pindns-base), for before/after")
    ap.add_argument("--out", help="write the report here too (default "
                                  "BUILD/bench/manyzones-DATE.md; none with --smoke)")
    ap.add_argument("--smoke", action="store_true",
                    help="%d zones, 1 round: checks that the script works" % SMOKE_ZONES)
    args = ap.parse_args()
    try:
        counts = [int(x) for x in args.zones.split(",") if x.strip()]
    except ValueError:
        ap.error("--zones: comma-separated numbers")
    if args.smoke:
        counts, args.rounds = [SMOKE_ZONES], 1
    if any(c < 2 for c in counts):
        ap.error("--zones: at least 2 zones")
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds: at least 1")
    servers = args.servers
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        servers += ",pindns-base"
    if PIN:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # this script and its tools off CPU 0

    # SIGTERM stops the servers as Ctrl-C does.
    signal.signal(signal.SIGTERM, bench.on_sigterm)
    b = Bench(args)
    report = ["# pindns many-zones benchmark, %s" % datetime.datetime.now().strftime(
        "%Y-%m-%d %H:%M"), ""]
    ok = True
    try:
        kinds = available(b, servers, report)
        report[2:2] = machine_facts(b, kinds) + [""]
        report += ["Each zone: SOA, 2 NS with A glue, www A + AAAA, mail A, MX, TXT (10 "
                   "records). Each server on CPU %s (taskset) with one UDP worker; times "
                   "from exec (start) or from the control command (reload, add) until the "
                   "answer, polled every %d ms over UDP. per zone = (peak RSS - 1-zone peak "
                   "RSS) / N. × Knot: median of the per-round ratios to Knot. reload 1 zone: "
                   "pindnsctl reload ZONE / knotc zone-reload ZONE / nsd-control reload "
                   "ZONE; SIGHUP: pindnsd only, one file rewritten then kill -HUP; add 1 "
                   "zone: file written, then pindnsctl reload (all) / knotc conf-begin, "
                   "conf-set, conf-commit / nsd-control addzone." % (
                       SERVER_CPU if PIN else "any", POLL * 1000), ""]
        for n in counts:
            rounds = args.rounds or (3 if n < 100000 else 1)
            zone_cache(b.build, n)
            zone_cache(b.build, 1)
            runs = {k: [] for k in kinds}
            for rnd in range(rounds):
                for k in kinds:
                    print("round %d/%d, %d zones, %s..." % (rnd + 1, rounds, n, k),
                          file=sys.stderr)
                    r = measure(b, k, n)
                    runs[k].append(r)
                    print("  %s" % ", ".join("%s %s" % (key, ("failed: %s" % v) if isinstance(
                        v, Failed) else ("%.3f" % v if isinstance(v, float) else v))
                        for key, v in r.items()), file=sys.stderr)
                    ok = ok and not any(isinstance(v, Failed) for v in r.values())
            report += ["## %s zones (%d round%s)" % (format(n, ","), rounds,
                                                     "" if rounds == 1 else "s, medians"),
                       "", table(n, runs), ""]
    finally:
        b.cleanup()
    if b.unclean:
        ok = False
        report += ["pindnsd did not stop cleanly: " + "; ".join(b.unclean), ""]

    text = "\n".join(report) + "\n"
    print(text)
    out = args.out
    if not out and not args.smoke:
        out = os.path.join(b.build, "bench", "manyzones-%s.md" %
                           datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    bench.write_report(text, [out])
    return bench.exit_status(ok, report, args.smoke)


if __name__ == "__main__":
    bench.run_main(main)
