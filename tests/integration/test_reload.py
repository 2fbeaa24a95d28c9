"""Integration: zone reloads under continuous load lose nothing and switch answers."""

import os
import re
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


def peak_rss_kib(pid):
    """The peak resident set of a process (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


class MillionNames(unittest.TestCase):
    """An untrusted zone file: a million names directly under one node. pindns sets no
    bound on names per node or per zone (a zone file of up to 4 GiB is read), so the
    zone must load within bounded memory and time, and while it does the old version
    of the zone keeps serving."""

    NAMES = 1000000
    RSS_MAX_KIB = 1536 * 1024  # 1.5 GiB, the ASan build's overhead included
    HEAD = ("$ORIGIN big.example.\n$TTL 300\n"
            "@ IN SOA ns1 hostmaster %d 7200 3600 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n"
            "probe A %s\n")

    def serve_small(self, prefix):
        """pindnsd serving the small big.example of serial 1: the server and the file."""
        zones = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, zones, True)
        path = os.path.join(zones, "big.example.zone")
        with open(path, "w") as f:
            f.write(self.HEAD % (1, "192.0.2.1"))
        srv = harness.start_pindnsd(zones=zones)
        self.addCleanup(srv.stop)
        return srv, path

    def test_a_million_names_under_one_node(self):
        srv, path = self.serve_small("pindns-million-")
        before = peak_rss_kib(srv.proc.pid)
        with open(path + ".new", "w") as f:
            f.write(self.HEAD % (2, "192.0.2.2"))
            # n1 .. n1000000, every one a child of big.example.
            f.writelines("n%d A 192.0.%d.%d\n" % (i, i // 250 % 250, i % 250 + 1)
                         for i in range(1, self.NAMES + 1))
        os.replace(path + ".new", path)

        # While the new version loads, the old one answers: every probe is answered,
        # from the old version until the switch, never from it again after.
        probe = harness.make_query("probe.big.example")
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGHUP)
        old = new = 0
        deadline = t0 + 120
        while "reload done" not in srv.output():
            self.assertLess(time.monotonic(), deadline, "no reload done:\n" + srv.output())
            self.assertIsNone(srv.proc.poll(), "pindnsd died:\n" + srv.output())
            reply = harness.raw_query(srv.port, probe, timeout=2)
            self.assertIsNotNone(reply, "the probe went unanswered during the reload")
            addr = reply[-4:]
            if addr == bytes([192, 0, 2, 1]):
                self.assertEqual(new, 0, "the old version answered after the new one")
                old += 1
            else:
                self.assertEqual(addr, bytes([192, 0, 2, 2]), reply.hex())
                new += 1
            time.sleep(0.01)
        took = time.monotonic() - t0
        log = srv.output()
        self.assertIn("zone big.example loaded from %s: %d records" % (path, self.NAMES + 4),
                      log)
        self.assertIn("reload done: 1 zone(s) serving, 0 failed; 1 loaded (0 new)", log)
        self.assertGreater(old, 0, "no answer from the old version during the reload")
        peak = peak_rss_kib(srv.proc.pid)
        print("a million names: reloaded in %.1f s, %d probes answered by the old version "
              "meanwhile; peak RSS %.0f MiB (%.0f MiB before)" % (
                  took, old, peak / 1024, before / 1024))
        self.assertLess(peak, self.RSS_MAX_KIB)
        for name, want in (("n1", "192.0.0.2"), ("n500000", "192.0.0.1"),
                           ("N1000000.BIG.example", "192.0.0.1"), ("probe", "192.0.2.2")):
            if "." not in name:
                name += ".big.example"
            self.assertEqual(harness.dig(srv.port, name, "A").answer,
                             ["%s. 300 IN A %s" % (name.lower(), want)])
        self.assertEqual(harness.dig(srv.port, "n1000001.big.example", "A").rcode, "NXDOMAIN")
        self.assertEqual(harness.dig(srv.port, "big.example", "SOA").rcode, "NOERROR")

    def test_a_100_mb_txt_is_refused_and_the_old_zone_serves(self):
        """A TXT record of 100 MB in one parenthesised RR (RDATA holds 65,535 bytes at
        most): refused with the file and line, in bounded memory, the old zone serving."""
        srv, path = self.serve_small("pindns-bigtxt-")
        chunk = '"%s"\n' % ("x" * 250)
        with open(path + ".new", "w") as f:
            f.write(self.HEAD % (2, "192.0.2.2"))
            f.write("huge TXT (\n")
            f.writelines(chunk for _ in range(100 * 1024 * 1024 // len(chunk)))
            f.write(")\n")
        os.replace(path + ".new", path)
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 120
        while "reload done" not in srv.output():
            self.assertLess(time.monotonic(), deadline, "no reload done:\n" + srv.output())
            self.assertIsNone(srv.proc.poll(), "pindnsd died:\n" + srv.output())
            time.sleep(0.05)
        log = srv.output()
        self.assertIn("reload done: 1 zone(s) serving, 1 failed", log)
        self.assertRegex(log, r"%s:7: RDATA of 65,535 characters or more" % re.escape(path))
        peak = peak_rss_kib(srv.proc.pid)
        print("a 100 MB TXT: refused; peak RSS %.0f MiB" % (peak / 1024))
        self.assertLess(peak, self.RSS_MAX_KIB)
        # The old version, untouched.
        self.assertEqual(harness.dig(srv.port, "probe.big.example", "A").answer,
                         ["probe.big.example. 300 IN A 192.0.2.1"])
        self.assertEqual(harness.dig(srv.port, "huge.big.example", "TXT").rcode, "NXDOMAIN")


if __name__ == "__main__":
    harness.main()
