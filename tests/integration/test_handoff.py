"""Integration: under continuous load, 20 reloads, 3 binary upgrades and 3 restarts by
socket handoff, with every query answered (the issue's proof of zero loss)."""

import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Handoff(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pindns-handoff-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.zones = os.path.join(self.dir, "zones")
        os.makedirs(self.zones)
        for f in os.listdir(harness.ZONES):
            shutil.copy(os.path.join(harness.ZONES, f), self.zones)
        self.sock = os.path.join(self.dir, "handoff.sock")

    def successor(self, binary, port, n):
        """Starts `binary` taking over from the running server; returns it once serving."""
        srv = harness.Server([binary, "--foreground", "--zones", self.zones, "--takeover",
                              self.sock, "--handoff-socket", self.sock],
                             port, os.path.join(self.dir, "successor-%d.log" % n), ours=True)
        self.addCleanup(srv.stop)  # one cleanup each: one that fails stops no other
        return srv

    def test_reloads_upgrades_and_restarts_lose_nothing(self):
        srv = harness.start_pindnsd(["--handoff-socket", self.sock], zones=self.zones)
        self.addCleanup(srv.stop)
        port = srv.port
        queries = os.path.join(self.dir, "queries.txt")
        with open(queries, "w") as f:
            f.write("www.example.com A\nmail.example.com AAAA\nnope.example.com A\n"
                    "alias.example.com A\nexample.com MX\nx.sub.example.com A\n")
        load = harness.Load(port, queries, timeout_ms=3000)
        time.sleep(0.5)

        # 20 reloads, each switching www's address.
        path = os.path.join(self.zones, "example.com.zone")
        with open(path) as f:
            base = f.read()
        for i in range(20):
            addr = "192.0.2.%d" % (100 + i)
            with open(path + ".new", "w") as f:
                f.write(base.replace("192.0.2.80", addr)
                        .replace("2026112301", "20261124%02d" % i))
            os.replace(path + ".new", path)
            os.kill(srv.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 5
            while harness.dig(port, "www.example.com", "A").answer != [
                    "www.example.com. 3600 IN A %s" % addr]:
                self.assertLess(time.monotonic(), deadline, "reload %d not visible" % i)
                time.sleep(0.02)

        # 3 binary upgrades (another executable file), then 3 restarts of the same one.
        upgraded = os.path.join(self.dir, "pindnsd-next")
        shutil.copy(harness.PINDNSD, upgraded)
        binaries = [upgraded] * 3 + [harness.PINDNSD] * 3
        for n, binary in enumerate(binaries):
            old = srv
            srv = self.successor(binary, port, n)
            # The old one leaves only after the new one serves.
            old.proc.wait(timeout=60)
            old.stop()  # it exited by itself: fails unless that was 0, with a clean log
            self.assertIn("handed the sockets over", old.output())
            self.assertIsNone(srv.proc.poll(), srv.output())
            r = harness.dig(port, "www.example.com", "A")
            self.assertEqual(r.answer, ["www.example.com. 3600 IN A 192.0.2.119"])
            done = time.monotonic()
            time.sleep(0.5)

        r = load.finish(self, done)
        self.assertGreater(r["answered"], 1000)
        self.assertIn("took over the sockets", srv.output())
        # The counters went along: the last process's totals cover every query answered
        # by all seven (plus this test's own dig probes).
        srv.stop()  # SIGTERM; fails unless it exits 0 with no sanitizer report
        import re
        m = re.search(r"totals \(carried over restarts\): queries (\d+), responses (\d+)",
                      srv.output())
        self.assertIsNotNone(m, srv.output())
        self.assertGreaterEqual(int(m.group(1)), r["answered"])
        self.assertLess(int(m.group(1)), r["answered"] + 1000)
        self.assertGreaterEqual(int(m.group(2)), r["answered"])

    def test_takeover_without_a_running_server_says_so(self):
        r = harness.run_pindnsd(["--foreground", "--zones", self.zones, "--takeover", self.sock],
                                timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("takeover: cannot reach a running pindnsd at %s" % self.sock, r.stderr)


if __name__ == "__main__":
    harness.main()
