#!/usr/bin/env python3
"""What changing a running pindnsd costs in queries, as a table: 100 reloads and 10
binary upgrades by socket handoff, against 10 naive stop-and-start restarts, each under
the same continuous load from pindns-load (loopback only; everything stops by itself)."""

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

QUERIES = "www.example.com A\nmail.example.com AAAA\nnope.example.com A\nexample.com MX\n"


def run_load(build, port, seconds, queries):
    return subprocess.Popen([os.path.join(build, "pindns-load"), "-s", "127.0.0.1:%d" % port,
                             "-f", queries, "-d", str(seconds), "-W", "0", "-S", "4", "-w", "16",
                             "-t", "1000", "--json"], stdout=subprocess.PIPE, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reloads", type=int, default=100)
    ap.add_argument("--upgrades", type=int, default=10)
    ap.add_argument("--restarts", type=int, default=10)
    args = ap.parse_args()
    pindnsd = os.path.join(os.path.abspath(args.build), "pindnsd")
    work = tempfile.mkdtemp(prefix="pindns-restart-")
    zones = os.path.join(work, "zones")
    shutil.copytree(harness.ZONES, zones)
    queries = os.path.join(work, "queries.txt")
    with open(queries, "w") as f:
        f.write(QUERIES)
    sock = os.path.join(work, "handoff.sock")
    rows = []
    servers = []
    try:
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

        upgraded = os.path.join(work, "pindnsd-next")
        shutil.copy(pindnsd, upgraded)
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
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("| change under load | queries sent | answered | lost |")
    print("|---|---|---|---|")
    for name, r in rows:
        print("| %s | %d | %d | %d |" % (name, r["sent"], r["answered"], r["lost"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
