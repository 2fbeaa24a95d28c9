"""Integration: zone reloads under continuous load lose nothing and switch answers."""

import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class ReloadUnderLoad(unittest.TestCase):
    def test_twenty_reloads_lose_nothing(self):
        zones = tempfile.mkdtemp(prefix="pindns-reload-")
        path = os.path.join(zones, "example.com.zone")
        with open(os.path.join(harness.ZONES, "example.com.zone")) as f:
            base = f.read()
        versions = [base.replace("192.0.2.80", "192.0.2.%d" % (100 + v))
                    .replace("2026112301", "20261123%02d" % (10 + v)) for v in range(2)]
        with open(path, "w") as f:
            f.write(versions[0])
        srv = harness.start_pindnsd(zones=zones)
        self.addCleanup(srv.stop)
        queries = os.path.join(zones, "queries.txt")
        with open(queries, "w") as f:
            f.write("www.example.com A\nmail.example.com AAAA\nnope.example.com A\n"
                    "alias.example.com A\nexample.com MX\n")
        # A modest window: the point is that nothing is lost, not saturation.
        load = harness.Load(srv.port, queries)
        time.sleep(0.5)
        for i in range(20):
            v = (i + 1) % 2
            # Write to a new file and rename it into place, as editors and tools do.
            tmp = path + ".new"
            with open(tmp, "w") as f:
                f.write(versions[v])
            os.replace(tmp, path)
            os.kill(srv.proc.pid, signal.SIGHUP)
            want = "www.example.com. 3600 IN A 192.0.2.%d" % (100 + v)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if harness.dig(srv.port, "www.example.com", "A").answer == [want]:
                    done = time.monotonic()
                    break
                time.sleep(0.02)
            else:
                self.fail("reload %d did not switch the answer to %s" % (i + 1, want))
            time.sleep(0.2)
        r = load.finish(self, done)
        self.assertGreater(r["answered"], 1000)
        self.assertEqual(srv.output().count("reload done"), 20)
        self.assertIsNone(srv.proc.poll())


class UnreadableZonesDir(unittest.TestCase):
    def test_zones_kept_when_the_folder_cannot_be_read(self):
        base = tempfile.mkdtemp(prefix="pindns-gone-")
        self.addCleanup(shutil.rmtree, base, True)
        zones = os.path.join(base, "zones")
        shutil.copytree(harness.ZONES, zones)
        os.chmod(zones, 0o755)
        srv = harness.start_pindnsd(zones=zones)
        self.addCleanup(srv.stop)
        os.rename(zones, zones + ".moved")
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload done" not in srv.output():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.assertIn("cannot read zones-dir %s" % zones, srv.output())
        self.assertIn("reload done: 2 zone(s) serving", srv.output())
        self.assertEqual(harness.dig(srv.port, "www.example.com", "A").rcode, "NOERROR")
        self.assertEqual(harness.dig(srv.port, "www.example.org", "A").rcode, "NOERROR")


class SkipUnchanged(unittest.TestCase):
    def test_unchanged_files_are_not_parsed_again(self):
        zones = tempfile.mkdtemp(prefix="pindns-skip-")
        self.addCleanup(shutil.rmtree, zones, True)
        for f in os.listdir(harness.ZONES):
            shutil.copy(os.path.join(harness.ZONES, f), zones)
        inc = os.path.join(zones, "extra.inc")
        with open(inc, "w") as f:
            f.write("extra A 192.0.2.77\n")
        with open(os.path.join(zones, "example.com.zone"), "a") as f:
            f.write("$INCLUDE extra.inc\n")
        srv = harness.start_pindnsd(zones=zones)
        self.addCleanup(srv.stop)

        def hup(count):
            os.kill(srv.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while srv.output().count("reload done") < count:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)

        hup(1)
        log = srv.output()
        self.assertIn("reload done: 2 zone(s) serving, 0 failed; 0 loaded (0 new), 0 removed, "
                      "2 unchanged", log)
        self.assertEqual(log.count("loaded from"), 2)  # the start, nothing since
        # A change in an included file counts as a change of the zone.
        time.sleep(0.01)
        with open(inc + ".new", "w") as f:
            f.write("extra A 192.0.2.78\n")
        os.replace(inc + ".new", inc)
        hup(2)
        self.assertEqual(harness.dig(srv.port, "extra.example.com", "A").answer,
                         ["extra.example.com. 3600 IN A 192.0.2.78"])
        self.assertEqual(srv.output().count("zone example.com loaded from"), 2)
        self.assertEqual(srv.output().count("zone example.org loaded from"), 1)


if __name__ == "__main__":
    harness.main()
