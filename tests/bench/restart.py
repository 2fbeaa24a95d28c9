#!/usr/bin/env python3
"""What changing a running pindnsd costs in queries, as a table: 100 reloads and 10
binary upgrades by socket handoff, against 10 naive stop-and-start restarts, each under
the same continuous load from pindns-load (loopback only; everything stops by itself).

Then TCP: one client keeps one connection open across 10 upgrades by handoff, a few
queries pipelined on it all the while (pindns-load --tcp, 1 connection x 4 in flight),
and the table says what it saw: answers, losses, connections opened, closes and resets
by the server, and the longest time without an answer. It passes (exit 0) only if that
one connection lasted, nothing was lost and the load outlived the last upgrade. It needs
a pindnsd with TCP (its --help mentions tcp-threads); without, it is skipped."""

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


def tcp_upgrades(args, binaries, work, zones, queries, servers):
    """One pindnsd lineage, upgraded args.upgrades times under one TCP connection's load;
    returns pindns-load's report with "changed_until", the end of the last upgrade."""
    sock = os.path.join(work, "handoff-tcp.sock")
    port = harness.free_port()
    srv = harness.Server([binaries[0], "--foreground", "--listen", "127.0.0.1:%d" % port,
                          "--zones", zones, "--handoff-socket", sock],
                         port, os.path.join(work, "t0.log"))
    servers.append(srv)
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
            old = srv
            srv = harness.Server([binaries[(n + 1) % 2], "--foreground", "--zones", zones,
                                  "--takeover", sock, "--handoff-socket", sock],
                                 port, os.path.join(work, "t%d.log" % (n + 1)))
            servers.append(srv)
            old.proc.wait(timeout=60)
            time.sleep(0.3)
        changed_until = time.monotonic()
        time.sleep(0.3)
    finally:
        load.send_signal(signal.SIGINT)
        out = load.communicate(timeout=60)[0]
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
    sock = os.path.join(work, "handoff.sock")
    rows = []
    # Reloads and upgrades, one server lineage, one load run each.
    port = harness.free_port()
    srv = harness.Server([pindnsd, "--foreground", "--listen", "127.0.0.1:%d" % port,
                          "--zones", zones, "--handoff-socket", sock],
                         port, os.path.join(work, "s0.log"))
    servers.append(srv)
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
        old = srv
        srv = harness.Server([upgraded if n % 2 == 0 else pindnsd, "--foreground",
                              "--zones", zones, "--takeover", sock, "--handoff-socket", sock],
                             port, os.path.join(work, "u%d.log" % n))
        servers.append(srv)
        old.proc.wait(timeout=60)
        time.sleep(0.3)
    rows.append(("%d upgrades by handoff" % args.upgrades, json.loads(load.communicate()[0])))
    srv.stop()

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
    print("| %d upgrades by handoff | %d | %d | %d | %d | %d | %d | %d | %.1f |" % (
        args.upgrades, r["sent"], r["answered"], r["lost"], r["timeouts"], r["connects"],
        r["server_closes"], r["resets"], r["max_gap_us"] / 1000))
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
