"""Integration: pindnsd as a secondary of Knot (RFC 5936 AXFR, RFC 1995 IXFR, RFC 1996
NOTIFY, RFC 8945 TSIG with hmac-sha256).

One Knot (knotd from Debian) is the primary of every zone, on a loopback high port, with
a TSIG key and a `notify:` remote naming the pindnsd under test. The secondaries:
  a.test  straight from Knot: the first AXFR, then a change by knotc that reaches pindnsd
          by NOTIFY and IXFR within a second while pindns-load queries it, none lost;
          pindnsd then sends a signed NOTIFY to its notify: target, a second Knot;
  c.test  through a TCP proxy of the test (and a UDP relay on the same port) that cuts
          transfers after some bytes: the old version serves on, the failure is logged;
  e.test  through another relay, with a short SOA expire: once the relay stops, the zone
          answers SERVFAIL after expire, and serves again when it is back.
Then pindnsd restarts: with its primaries unreachable it serves the copies it kept in
state-dir; with a wrong key Knot refuses it (NOTAUTH, BADSIG; Knot 3.2 logs nothing of
it at info), pindnsd logs it and serves the kept copy. A zone bigger than xfr-max-size
is refused, and that is logged. A catalog's members, transferred from a second Knot,
are kept too and served after a restart. Every pindnsd must exit 0 with no sanitizer report (harness).
"""

import os
import re
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import xfrpeers  # noqa: E402

MISSING = xfrpeers.missing("knotd", "knotc")
KEY = xfrpeers.TsigKey.generate("xfr.key")
BIG = ['t%d TXT "%s"' % (i, "x" * 100) for i in range(2000)]  # about 230 KB: many messages


class UdpRelay:
    """Forwards each UDP datagram on 127.0.0.1:port to target and the answer back: the
    SOA queries' way to a primary behind a CuttingProxy (which carries TCP only).
    stop() and start() make the primary unreachable and reachable again."""

    def __init__(self, port, target):
        self.port, self.target = port, target
        self.thread = None
        self.start()

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            data, client = self.sock.recvfrom(65535)
            up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            up.settimeout(2)
            try:
                up.sendto(data, self.target)
                self.sock.sendto(up.recv(65535), client)
            except OSError:
                pass
            finally:
                up.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class Relay:
    """A CuttingProxy (TCP) with a UdpRelay on its port, in front of Knot."""

    def __init__(self, knot_port, cut_after=None):
        self.knot_port = knot_port
        self.tcp = xfrpeers.CuttingProxy(knot_port, cut_after=cut_after)
        self.port = self.tcp.port
        self.udp = UdpRelay(self.port, ("127.0.0.1", knot_port))

    def down(self):
        self.tcp.close()
        self.udp.stop()

    def up(self):
        self.tcp = xfrpeers.CuttingProxy(self.knot_port, port=self.port)
        self.udp.start()

    def close(self):
        self.tcp.close()
        self.udp.stop()


def log_lines(srv, pattern):
    return [line for line in srv.output().splitlines() if re.search(pattern, line)]


def wait_log(srv, pattern, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(srv, pattern)
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError("no log line matching %r in %.0f s; the log:\n%s" % (
        pattern, timeout, srv.output()[-4000:]))


@unittest.skipIf(MISSING, "needs %s (packaging/deps.sh test installs them)" % ", ".join(MISSING))
class SecondaryOfKnot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-xfrin-")
        cls.knot = xfrpeers.KnotPrimary({
            "a.test": xfrpeers.zone_text("a.test", serial=10),
            "c.test": xfrpeers.zone_text("c.test", serial=20, records=BIG, refresh=1,
                                         retry=1),
            "e.test": xfrpeers.zone_text("e.test", serial=30, refresh=1, retry=1, expire=5),
        }, key=KEY)
        # A secondary of Knot (not of pindnsd) that pindnsd sends NOTIFY to: a real peer
        # checks our NOTIFY and its signature.
        cls.knot2 = xfrpeers.KnotSecondary(cls.knot.port, zones=["a.test"], key=KEY)
        cls.cut = Relay(cls.knot.port)
        cls.gone = Relay(cls.knot.port)
        cls.state = xfrpeers.pindns_state_dir(cls.dir)
        cls.zones = os.path.join(cls.dir, "zones")
        os.mkdir(cls.zones)
        cls.conf = cls.write_conf("pindnsd.conf", KEY, cls.knot.port, cls.cut.port,
                                  cls.gone.port)
        cls.srv = harness.start_pindnsd(["--config", cls.conf], zones=cls.zones,
                                        workdir=cls.dir)
        cls.knot.set_notify([cls.srv.port])

    @classmethod
    def write_conf(cls, name, key, a_port, c_port, e_port):
        path = os.path.join(cls.dir, name)
        with open(path, "w") as f:
            f.write(xfrpeers.pindns_conf(
                key=key, secondaries=[("a.test", a_port), ("c.test", c_port),
                                      ("e.test", e_port)],
                notify=[("a.test", cls.knot2.port)], state_dir=cls.state,
                extra="xfr-timeout: 2s\ncache-size: 0\n"))
        return path

    @classmethod
    def tearDownClass(cls):
        for what in ("srv",):
            if getattr(cls, what, None):
                getattr(cls, what).stop()
        cls.cut.close()
        cls.gone.close()
        cls.knot2.stop()
        cls.knot.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def assert_serial(self, origin, serial, timeout=10.0, port=None):
        port = port or self.srv.port
        try:
            xfrpeers.wait_serial(port, origin, serial, timeout=timeout)
        except TimeoutError as e:
            self.fail("%s\npindnsd's log:\n%s" % (e, self.srv.output()[-4000:]))
        self.assertEqual(xfrpeers.soa_serial(port, origin), serial)

    def test_1_first_axfr(self):
        """Each zone comes by AXFR at start, signed, and is served and kept."""
        self.assert_serial("a.test", 10)
        self.assert_serial("c.test", 20)
        self.assert_serial("e.test", 30)
        r = xfrpeers.query(self.srv.port, "www.a.test", "A")
        self.assertEqual(r.rcode, "NOERROR")
        self.assertIn("192.0.2.80", r.text)
        self.assertTrue(log_lines(self.srv, r"zone a\.test: AXFR from 127\.0\.0\.1:%d: "
                                            r"serial 10" % self.knot.port))
        for origin in ("a.test", "c.test", "e.test"):
            self.assertTrue(os.path.exists(os.path.join(self.state, origin + ".zone")))

    def test_2_notify_ixfr_under_load(self):
        """A change on Knot reaches pindnsd by NOTIFY and IXFR within a second, while
        pindns-load queries it: no query lost, none SERVFAIL."""
        self.assert_serial("a.test", 10)
        queries = os.path.join(self.dir, "queries.txt")
        with open(queries, "w") as f:
            f.write("www.a.test A\na.test SOA\nns1.a.test A\nnew.a.test A\n")
        load = harness.Load(self.srv.port, queries)
        time.sleep(0.5)
        serial = self.knot.set_records("a.test", "new", "A", ["192.0.2.99"])
        t0 = self.knot.last_commit
        took = xfrpeers.wait_serial(self.srv.port, "a.test", serial, timeout=5)
        done = time.monotonic()
        self.assertLess(done - t0, 1.0, "the change took %.2f s" % (done - t0))
        time.sleep(0.3)
        load.finish(self, done)
        self.assertIn("192.0.2.99", xfrpeers.query(self.srv.port, "new.a.test", "A").text)
        self.assertTrue(wait_log(self.srv, r"zone a\.test: IXFR from .*serial %d \(was 10\)"
                                 % serial))
        print("NOTIFY to IXFR served in %.3f s" % took)
        # pindnsd passed the new serial on to its notify: target, signed.
        deadline = time.monotonic() + 5
        pattern = r"\[a\.test\.\] notify, incoming, remote 127\.0\.0\.1@\d+.*serial %d" % serial
        while not re.search(pattern, self.knot2.output()) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(self.knot2.output(), pattern)
        self.assertNotRegex(self.knot2.output(), r"(?i)notify.*(denied|TSIG)")

    def test_3_cut_transfer(self):
        """A transfer cut midway leaves the old version serving, and says why."""
        self.assert_serial("c.test", 20)
        self.cut.tcp.cut_after = 20000
        big = ['t%d TXT "%s"' % (i, "y" * 100) for i in range(2000)]
        serial = self.knot.replace_zone("c.test", xfrpeers.zone_text(
            "c.test", serial=21, records=big, refresh=1, retry=1))
        wait_log(self.srv, r"zone c\.test: transfer from 127\.0\.0\.1:%d failed: "
                           r"[AI]XFR: connection closed after \d+ records" % self.cut.port)
        self.assertEqual(xfrpeers.soa_serial(self.srv.port, "c.test"), 20)
        self.assertIn("x" * 100, xfrpeers.query(self.srv.port, "t5.c.test", "TXT").text)
        self.cut.tcp.cut_after = None
        self.assert_serial("c.test", serial, timeout=15)
        self.assertIn("y" * 100, xfrpeers.query(self.srv.port, "t5.c.test", "TXT").text)

    def test_4_expire(self):
        """Past the SOA expire without a refresh, SERVFAIL; served again once back."""
        self.assert_serial("e.test", 30)
        self.gone.down()
        try:
            xfrpeers.wait_rcode(self.srv.port, "e.test", 2, timeout=15)
            wait_log(self.srv, r"zone e\.test: expired")
        finally:
            self.gone.up()
        xfrpeers.wait_rcode(self.srv.port, "e.test", 0, timeout=15)
        self.assert_serial("e.test", 30)

    def test_5_restart_serves_kept_copy(self):
        """A restart with every primary unreachable serves the copies kept in state-dir
        at once; a restart with a wrong key is refused by Knot, logged, and serves the
        kept copy too."""
        want = {o: xfrpeers.soa_serial(self.srv.port, o) for o in ("a.test", "c.test")}
        self.srv.stop()
        self.srv = None
        dead = harness.free_port()
        conf = self.write_conf("dead.conf", KEY, dead, dead, dead)
        srv = harness.start_pindnsd(["--config", conf], zones=self.zones, workdir=self.dir)
        try:
            for origin, serial in want.items():
                self.assertEqual(xfrpeers.soa_serial(srv.port, origin), serial)
            self.assertTrue(log_lines(srv, r"zone a\.test: kept copy loaded from"))
            wait_log(srv, r"zone a\.test: transfer from 127\.0\.0\.1:%d failed: SOA query"
                          % dead)
        finally:
            srv.stop()
        wrong = xfrpeers.TsigKey.generate("xfr.key")
        conf = self.write_conf("wrong.conf", wrong, self.knot.port, self.knot.port,
                               self.knot.port)
        self.knot.set_records("a.test", "later", "A", ["192.0.2.98"])
        srv = harness.start_pindnsd(["--config", conf], zones=self.zones, workdir=self.dir)
        try:
            wait_log(srv, r"zone a\.test: transfer from 127\.0\.0\.1:%d failed: SOA query: "
                          r"bad TSIG" % self.knot.port)
            self.assertEqual(xfrpeers.soa_serial(srv.port, "a.test"), want["a.test"])
            self.assertIn("192.0.2.80", xfrpeers.query(srv.port, "www.a.test", "A").text)
            # Knot 3.2 refuses it (NOTAUTH, BADSIG) without a line in its log at info.
            self.assertTrue(log_lines(srv, r"BADSIG.*rcode NOTAUTH"))
        finally:
            srv.stop()

    def test_6_too_big(self):
        """A transfer bringing more than xfr-max-size is cut off, and says so."""
        state = xfrpeers.pindns_state_dir(self.dir, "state-small")
        path = os.path.join(self.dir, "small.conf")
        with open(path, "w") as f:
            f.write(xfrpeers.pindns_conf(key=KEY, secondaries=[("c.test", self.knot.port)],
                                         state_dir=state, extra="xfr-max-size: 10000\n"))
        srv = harness.start_pindnsd(["--config", path], zones=self.zones, workdir=self.dir)
        try:
            wait_log(srv, r"zone c\.test: transfer from 127\.0\.0\.1:%d failed: AXFR: too big"
                          % self.knot.port)
            self.assertIsNone(xfrpeers.soa_serial(srv.port, "c.test"))
        finally:
            srv.stop()

    def test_7_catalog_members_kept(self):
        """A catalog's members (RFC 9432, the catalog Knot generates) are transferred
        and kept: a restart with the primary unreachable serves them from state-dir."""
        knot = xfrpeers.KnotPrimary({"m1.test": xfrpeers.zone_text("m1.test", serial=5),
                                     "m2.test": xfrpeers.zone_text("m2.test", serial=6)},
                                    key=KEY, catalog="cat.test")
        state = xfrpeers.pindns_state_dir(self.dir, "state-catalog")

        def conf(name, port):
            path = os.path.join(self.dir, name)
            with open(path, "w") as f:
                f.write(xfrpeers.pindns_conf(key=KEY, catalogs=[("cat.test", port)],
                                             state_dir=state, extra="xfr-timeout: 1s\n"))
            return path

        try:
            srv = harness.start_pindnsd(["--config", conf("cat.conf", knot.port)],
                                        zones=self.zones, workdir=self.dir)
            try:
                self.assert_serial("m1.test", 5, port=srv.port)
                self.assert_serial("m2.test", 6, port=srv.port)
            finally:
                srv.stop()
        finally:
            knot.stop()
        self.assertEqual(sorted(os.listdir(state)),
                         ["cat.test.zone", "m1.test.zone", "m2.test.zone"])
        dead = harness.free_port()
        srv = harness.start_pindnsd(["--config", conf("cat-dead.conf", dead)],
                                    zones=self.zones, workdir=self.dir)
        try:
            wait_log(srv, r"zone m2\.test: kept copy loaded from")
            self.assertEqual(xfrpeers.soa_serial(srv.port, "m1.test"), 5)
            self.assertEqual(xfrpeers.soa_serial(srv.port, "m2.test"), 6)
        finally:
            srv.stop()


if __name__ == "__main__":
    harness.main()
