"""Integration: the zone-transfer peers of xfrpeers.py work, against Knot and NSD alone.

A Knot primary with a TSIG key and a generated catalog; an NSD secondary and a Knot
secondary (interpreting the catalog) of it; changes made on the primary reach both by
NOTIFY; members added and removed; transfers signed, refused unsigned, and cut short by
the proxy. No pindnsd here: this checks the tools the transfer tests stand on.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import xfrpeers  # noqa: E402

MISSING = xfrpeers.missing("knotd", "knotc", "nsd", "kdig", "dig")
CATALOG = "catalog.test"
PEERS = {}


def setUpModule():
    if MISSING:
        raise unittest.SkipTest("not installed: %s" % ", ".join(MISSING))
    key = PEERS["key"] = xfrpeers.TsigKey.generate("xfr.key")
    zones = {z: xfrpeers.zone_text(z) for z in ("a.test", "b.test", "plain.test")}
    PEERS["knot"] = xfrpeers.KnotPrimary(zones, key=key, catalog=CATALOG,
                                         members=["a.test", "b.test"])
    try:
        PEERS["nsd"] = xfrpeers.NsdSecondary(PEERS["knot"].port, ["a.test", "plain.test"],
                                             key=key)
        PEERS["knot2"] = xfrpeers.KnotSecondary(PEERS["knot"].port, key=key, catalog=CATALOG)
        PEERS["knot"].set_notify([PEERS["nsd"].port, PEERS["knot2"].port])
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for name in ("knot2", "nsd", "knot"):
        peer = PEERS.pop(name, None)
        if peer:
            peer.stop()


class Peers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.key, cls.knot = PEERS["key"], PEERS["knot"]
        cls.nsd, cls.knot2 = PEERS["nsd"], PEERS["knot2"]

    def test_catalog_generated(self):
        self.assertEqual(xfrpeers.catalog_members(self.knot.port, CATALOG, key=self.key),
                         ["a.test", "b.test"])
        t = xfrpeers.axfr(self.knot.port, CATALOG, key=self.key)
        self.assertIn('version.%s. 0 IN TXT "2"' % CATALOG, t.records, t)

    def test_transfer_needs_the_key(self):
        t = xfrpeers.axfr(self.knot.port, "a.test", key=self.key, tool="dig")
        self.assertTrue(t.ok, t)
        self.assertIn("ns1.a.test. 300 IN A 192.0.2.53", t.records, t)
        t = xfrpeers.axfr(self.knot.port, "a.test")
        self.assertFalse(t.ok, t)
        wrong = xfrpeers.TsigKey.generate("xfr.key")
        self.assertFalse(xfrpeers.axfr(self.knot.port, "a.test", key=wrong).ok)

    def test_secondaries_follow_changes(self):
        self.nsd.wait_zones(["a.test", "plain.test"])
        self.knot2.wait_zones([CATALOG, "a.test"])
        self.assertIsNone(self.knot2.serial("plain.test"))  # not a member
        serial = self.knot.set_records("a.test", "www", "A", ["192.0.2.81", "192.0.2.82"])
        self.assertEqual(serial, 2)
        for peer in (self.nsd, self.knot2):
            xfrpeers.wait_serial(peer.port, "a.test", serial, timeout=10)
            r = xfrpeers.query(peer.port, "www.a.test", "A")
            self.assertEqual(sorted(rr.split()[4] for rr in r.answer),
                             ["192.0.2.81", "192.0.2.82"], r)
        # IXFR from the old serial: Knot answers with the difference.
        t = xfrpeers.axfr(self.knot.port, "a.test", key=self.key, ixfr=1)
        self.assertTrue(t.ok, t)
        self.assertIn("www.a.test. 300 IN A 192.0.2.80", t.records, t)  # deleted
        # A rewritten file: Knot increments the serial itself.
        s2 = self.knot.replace_zone("plain.test", xfrpeers.zone_text(
            "plain.test", serial=1, records=["new A 192.0.2.9"]))
        self.assertEqual(s2, 2)
        xfrpeers.wait_serial(self.nsd.port, "plain.test", s2)
        self.assertEqual(xfrpeers.query(self.nsd.port, "new.plain.test").answer,
                         ["new.plain.test. 300 IN A 192.0.2.9"])

    def test_members_come_and_go(self):
        self.knot2.wait_zones(["b.test"])
        self.knot.add_member("c.test", xfrpeers.zone_text("c.test"))
        self.assertEqual(xfrpeers.catalog_members(self.knot.port, CATALOG, key=self.key),
                         ["a.test", "b.test", "c.test"])
        self.knot2.wait_zones(["c.test"])
        self.knot.remove_member("b.test")
        self.assertEqual(xfrpeers.catalog_members(self.knot.port, CATALOG, key=self.key),
                         ["a.test", "c.test"])
        xfrpeers.wait_rcode(self.knot2.port, "b.test", 5)  # REFUSED: no longer a zone

    def test_cutting_proxy(self):
        big = xfrpeers.zone_text("big.test", records=[
            'h%d TXT "%s"' % (i, "x" * 200) for i in range(400)])
        self.knot.add_zone("big.test", big, member=False)
        whole = xfrpeers.axfr(self.knot.port, "big.test", key=self.key)
        self.assertTrue(whole.ok, whole)
        proxy = xfrpeers.CuttingProxy(self.knot.port, cut_after=5000, cuts=1)
        try:
            t = xfrpeers.axfr(proxy.port, "big.test", key=self.key)
            self.assertFalse(t.ok, t)
            self.assertLess(len(t.records), len(whole.records))
            t = xfrpeers.axfr(proxy.port, "big.test", key=self.key)  # not cut: cuts=1
            self.assertTrue(t.ok, t)
            self.assertEqual(t.records, whole.records)
            self.assertEqual((proxy.connections, proxy.cut), (2, 1))
        finally:
            proxy.close()

    def test_z_restart_on_the_same_port(self):
        """A primary stopped with its folder kept comes back on its port, with its changes
        (the journal) and its run-time configuration (members added)."""
        serial = self.knot.bump("a.test")
        members = xfrpeers.catalog_members(self.knot.port, CATALOG, key=self.key)
        port = self.knot.port
        self.knot.stop(keep_dir=True)
        self.assertIsNone(xfrpeers.soa_serial(port, "a.test", timeout=0.3))
        self.knot.start(port=port)
        self.assertEqual(self.knot.serial("a.test"), serial)
        self.assertEqual(xfrpeers.catalog_members(port, CATALOG, key=self.key), members)
        serial = self.knot.bump("a.test")
        xfrpeers.wait_serial(self.nsd.port, "a.test", serial)


if __name__ == "__main__":
    harness.main(verbosity=2)
