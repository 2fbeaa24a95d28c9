#!/usr/bin/env python3
"""What changing a running pindnsd costs in queries, as a table: 100 reloads and 10
binary upgrades by socket handoff, against 10 naive stop-and-start restarts, each under
the same continuous load from pindns-load (loopback only; everything stops by itself).

Then TCP: one client keeps one connection open across 10 upgrades by handoff, a few
queries pipelined on it all the while (pindns-load --tcp, 1 connection x 4 in flight),
and the table says what it saw: answers, losses, connections opened, closes and resets
by the server, and the longest time without an answer. It passes (exit 0) only if that
one connection lasted, nothing was lost and the load outlived the last upgrade. It needs
a pindnsd with TCP (its --help mentions tcp-threads); without, it is skipped.

With --ctl-upgrade the upgrades are made as a package upgrade makes them: a new file put
at the path the running pindnsd was started from, then `pindnsctl upgrade`, which has
the running one start it (the successor is its child, not this script's)."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from bench import pindnsd_has_tcp, tcp_query  # noqa: E402

QUERIES = "www.example.com A\nmail.example.com AAAA\nnope.example.com A\nexample.com MX\n"


def run_load(build, port, seconds, queries):
    return subprocess.Popen([os.path.join(build, "pindns-load"), "-s", "127.0.0.1:%d" % port,
                             "-f", queries, "-d", str(seconds), "-W", "0", "-S", "4", "-w", "16",
                             "-t", "1000", "--json"], stdout=subprocess.PIPE, text=True)


TCP_INFLIGHT = 4


def start_first(args, binaries, work, port, zones, name, servers):
    """The first pindnsd of a lineage, with its handoff socket (and control socket, for
    --ctl-upgrade: started from a copy of the binary that upgrades replace)."""
    # Upgraded by pindnsctl, the successor runs as the user the first one became: the
    # sockets' folder must be that user's, which pindnsd makes it when it creates it.
    run = os.path.join(work, "run-" + name) if args.ctl_upgrade else work
    sock = os.path.join(run, "handoff-%s.sock" % name)
    argv = [binaries[0], "--foreground", "--listen", "127.0.0.1:%d" % port, "--zones", zones,
            "--handoff-socket", sock]
    if args.ctl_upgrade:
        installed = os.path.join(work, "sbin-" + name, "pindnsd")
        os.makedirs(os.path.dirname(installed))
        shutil.copy(binaries[0], installed)
        argv[0] = installed
        argv += ["--control-socket", os.path.join(run, "control.sock")]
    srv = harness.Server(argv, port, os.path.join(work, "%s0.log" % name))
    servers.append(srv)
    srv.pid = srv.proc.pid  # the one serving now, which --ctl-upgrade changes
    return srv, sock


def wait_gone(pid, timeout=60):
    """Waits until pid has exited (a zombie no one reaps counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.02)
    raise RuntimeError("pindnsd pid %d still runs %d s after it handed over" % (pid, timeout))


def upgrade(args, srv, sock, binary, zones, port, log, servers):
    """One upgrade of the lineage srv belongs to, to binary: by --takeover beside it, or
    (--ctl-upgrade) binary put at srv's path and pindnsctl upgrade. Returns once the old
    process has exited; the result is what to upgrade next time."""
    if not args.ctl_upgrade:
        new = harness.Server([binary, "--foreground", "--zones", zones, "--takeover", sock,
                              "--handoff-socket", sock], port, log)
        servers.append(new)
        srv.proc.wait(timeout=60)
        new.pid = new.proc.pid
        return new
    installed = srv.argv[0]
    shutil.copy(binary, installed + ".new")
    os.replace(installed + ".new", installed)  # a new file, as dpkg puts it in place
    ctl = srv.argv[srv.argv.index("--control-socket") + 1]
    r = subprocess.run([os.path.join(args.build, "pindnsctl"), "-s", ctl, "upgrade"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("pindnsctl upgrade: %s%s" % (r.stdout, r.stderr))
    old = srv.pid
    srv.pid = int(r.stdout.split("-> pid ")[1].split()[0])
    wait_gone(old)
    return srv


def stop_lineage(args, srv):
    """Stops the one serving now (with --ctl-upgrade not the first, whose group it is in:
    srv.stop() would kill it), then srv."""
    if args.ctl_upgrade and srv.pid != srv.proc.pid:
        os.kill(srv.pid, signal.SIGTERM)
        wait_gone(srv.pid)
    srv.stop()


def tcp_upgrades(args, binaries, work, zones, queries, servers):
    """One pindnsd lineage, upgraded args.upgrades times under one TCP connection's load;
    returns pindns-load's report with "changed_until", the end of the last upgrade."""
    port = harness.free_port()
    srv, sock = start_first(args, binaries, work, port, zones, "t", servers)
    first = srv
    harness.wait_for_udp(port, proc=srv.proc)
    deadline = time.monotonic() + 10
    while tcp_query(port, harness.make_query("www.example.com"), timeout=0.5) is None:
        if time.monotonic() > deadline or srv.proc.poll() is not None:
            raise RuntimeError("pindnsd does not answer over TCP:\n" + srv.output())
        time.sleep(0.05)
    # Until stopped (SIGINT: it stops sending and waits for what is in flight), so that
    # the load surely outlasts the last upgrade however long the upgrades take.
    load = subprocess.Popen([os.path.join(args.build, "pindns-load"), "-s",
                             "127.0.0.1:%d" % port, "-f", queries, "-d", "600", "-W", "0",
                             "--tcp", "--connections", "1", "--inflight", str(TCP_INFLIGHT),
                             "-t", "1000", "--json"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        for n in range(args.upgrades):
            srv = upgrade(args, srv, sock, binaries[(n + 1) % 2], zones, port,
                          os.path.join(work, "t%d.log" % (n + 1)), servers)
            time.sleep(0.3)
        changed_until = time.monotonic()
        time.sleep(0.3)
    finally:
        load.send_signal(signal.SIGINT)
        out = load.communicate(timeout=60)[0]
        if args.ctl_upgrade:
            stop_lineage(args, first)
    if load.returncode != 0:
        raise RuntimeError("pindns-load --tcp exited %d: %s" % (load.returncode, out))
    r = json.loads(out)
    r["changed_until"] = changed_until
    return r


def tcp_verdict(r):
    """What went wrong on the connection that should have lasted; [] if nothing."""
    bad = []
    if r["connects"] != 1:
        bad.append("%d connections opened, 1 expected" % r["connects"])
    for key, what in (("server_closes", "closed by the server"), ("resets", "reset"),
                      ("connect_errors", "connects failed"), ("lost", "queries lost"),
                      ("unexpected", "answers matching no query")):
        if r[key]:
            bad.append("%d %s" % (r[key], what))
    if r["answered"] != r["sent"]:
        bad.append("%d sent but %d answered" % (r["sent"], r["answered"]))
    if r["last_sent_mono"] <= r["changed_until"]:
        bad.append("the load stopped sending before the last upgrade was done")
    return bad


def udp_changes(args, binaries, work, zones, queries, servers):
    """Reloads and upgrades under UDP load, then naive restarts: the table's rows."""
    pindnsd, upgraded = binaries
    rows = []
    # Reloads and upgrades, one server lineage, one load run each.
    port = harness.free_port()
    srv, sock = start_first(args, binaries, work, port, zones, "s", servers)
    harness.wait_for_udp(port, proc=srv.proc)
    load = run_load(args.build, port, 0.3 + args.reloads * 0.05 + 1, queries)
    time.sleep(0.3)
    for _ in range(args.reloads):
        os.kill(srv.proc.pid, signal.SIGHUP)
        time.sleep(0.05)
    rows.append(("%d reloads (SIGHUP)" % args.reloads, json.loads(load.communicate()[0])))

    load = run_load(args.build, port, args.upgrades * 0.6 + 1, queries)
    time.sleep(0.3)
    for n in range(args.upgrades):
        srv = upgrade(args, srv, sock, upgraded if n % 2 == 0 else pindnsd, zones, port,
                      os.path.join(work, "u%d.log" % n), servers)
        time.sleep(0.3)
    how = "pindnsctl upgrade" if args.ctl_upgrade else "handoff"
    rows.append(("%d upgrades by %s" % (args.upgrades, how), json.loads(load.communicate()[0])))
    stop_lineage(args, srv)

    # The naive way: stop, start again, on the same port.
    port = harness.free_port()
    argv = [pindnsd, "--foreground", "--listen", "127.0.0.1:%d" % port, "--zones", zones]
    srv = harness.Server(argv, port, os.path.join(work, "n.log"))
    servers.append(srv)
    harness.wait_for_udp(port, proc=srv.proc)
    load = run_load(args.build, port, args.restarts * 0.6 + 1, queries)
    time.sleep(0.3)
    for n in range(args.restarts):
        srv.stop()
        srv = harness.Server(argv, port, os.path.join(work, "n%d.log" % n))
        servers.append(srv)
        harness.wait_for_udp(port, proc=srv.proc)
        time.sleep(0.3)
    rows.append(("%d naive stop-and-start" % args.restarts, json.loads(load.communicate()[0])))
    srv.stop()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--upgrades", type=int, default=10)
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--no-tcp", action="store_true", help="skip the TCP part")
    ap.add_argument("--ctl-upgrade", action="store_true",
                    help="upgrade by pindnsctl upgrade (a new file at the running binary's "
                         "path) instead of starting pindnsd --takeover beside it")
    ap.add_argument("--tcp-only", action="store_true",
                    help="only the TCP part (exit 77 when pindnsd has no TCP)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    pindnsd = os.path.join(args.build, "pindnsd")
    tcp = not args.no_tcp and pindnsd_has_tcp(pindnsd)
    no_tcp_why = "--no-tcp" if args.no_tcp else (
        "`%s --help` does not mention tcp-threads, so it has no TCP listener" % pindnsd)
    if args.tcp_only and not tcp:
        print("TCP part skipped: " + no_tcp_why)
        return harness.SKIPPED
    work = tempfile.mkdtemp(prefix="pindns-restart-")
    zones = os.path.join(work, "zones")
    shutil.copytree(harness.ZONES, zones)
    queries = os.path.join(work, "queries.txt")
    with open(queries, "w") as f:
        f.write(QUERIES)
    # Upgrades alternate between two files of the same binary, as when a package upgrade
    # puts a new file in place.
    binaries = [pindnsd, os.path.join(work, "pindnsd-next")]
    shutil.copy(pindnsd, binaries[1])
    rows = []
    r = None
    servers = []
    try:
        if not args.tcp_only:
            rows = udp_changes(args, binaries, work, zones, queries, servers)
        if tcp:
            r = tcp_upgrades(args, binaries, work, zones, queries, servers)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    if rows:
        print("| change under load | queries sent | answered | lost |")
        print("|---|---|---|---|")
        for name, row in rows:
            print("| %s | %d | %d | %d |" % (name, row["sent"], row["answered"], row["lost"]))
    if not tcp:
        print("\nTCP part skipped: " + no_tcp_why)
        return 0
    if rows:
        print()
    print("| TCP, 1 connection x %d in flight | queries sent | answered | lost | timed out "
          "| connections opened | closed by the server | resets | longest gap ms |"
          % TCP_INFLIGHT)
    print("|---|---|---|---|---|---|---|---|---|")
    print("| %d upgrades by %s | %d | %d | %d | %d | %d | %d | %d | %.1f |" % (
        args.upgrades, "pindnsctl upgrade" if args.ctl_upgrade else "handoff", r["sent"],
        r["answered"], r["lost"], r["timeouts"], r["connects"], r["server_closes"], r["resets"],
        r["max_gap_us"] / 1000))
    bad = tcp_verdict(r)
    if bad:
        print("\nTCP: FAIL: " + "; ".join(bad))
        return 1
    print("\nTCP: PASS: one connection lasted through %d upgrades, every query answered, "
          "sending until %.2f s after the last upgrade" % (
              args.upgrades, r["last_sent_mono"] - r["changed_until"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
