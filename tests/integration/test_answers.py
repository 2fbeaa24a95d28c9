"""Integration: the real pindnsd on loopback, checked with dig and kdig."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Answers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.v6 = harness.have_ipv6_loopback()
        args = ["--listen", "[::1]:{port}"] if cls.v6 else []
        cls.srv = harness.start_pindnsd(args)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_positive_answer(self):
        r = harness.dig(self.port, "www.example.com", "A")
        self.assertEqual(r.rcode, "NOERROR")
        self.assertEqual(r.flags, {"qr", "aa"})
        self.assertEqual(r.answer, ["www.example.com. 3600 IN A 192.0.2.80"])
        self.assertEqual(r.edns["udp"], 1232)

    def test_query_name_case_is_kept(self):
        r = harness.dig(self.port, "WwW.ExAmPlE.CoM", "AAAA")
        self.assertRegex(r.text, r"\nWwW\.ExAmPlE\.CoM\.\s+3600\tIN\tAAAA\t2001:db8::80")

    def test_nodata_soa_uses_the_minimum(self):
        r = harness.dig(self.port, "www.example.com", "MX")
        self.assertEqual(r.rcode, "NOERROR")
        self.assertEqual(r.answer, [])
        self.assertEqual(len(r.authority), 1)
        self.assertTrue(r.authority[0].startswith("example.com. 300 IN SOA"))

    def test_nxdomain(self):
        r = harness.dig(self.port, "nothing-here.example.com", "A")
        self.assertEqual(r.rcode, "NXDOMAIN")
        self.assertIn("aa", r.flags)

    def test_cname_chain_and_wildcard(self):
        r = harness.dig(self.port, "alias.example.com", "A")
        self.assertEqual(len(r.answer), 3)
        r = harness.dig(self.port, "Anything.Apps.example.com", "A")
        self.assertRegex(r.text, r"\nAnything\.Apps\.example\.com\.\s+3600\tIN\tA\t192\.0\.2\.100")

    def test_referral(self):
        r = harness.dig(self.port, "host.sub.example.com", "A")
        self.assertEqual(r.flags, {"qr"})
        self.assertEqual(sorted(r.authority), ["sub.example.com. 3600 IN NS ns.example.net.",
                                               "sub.example.com. 3600 IN NS ns1.sub.example.com."])
        self.assertIn("ns1.sub.example.com. 3600 IN A 192.0.2.153", r.additional)

    def test_mx_targets_in_additional(self):
        r = harness.dig(self.port, "example.com", "MX")
        self.assertIn("mail.example.com. 3600 IN A 192.0.2.25", r.additional)
        self.assertIn("mail.example.com. 3600 IN AAAA 2001:db8::25", r.additional)

    def test_truncation_without_edns(self):
        r = harness.dig(self.port, "big.example.com", "TXT", "+noedns")
        self.assertIn("tc", r.flags)
        self.assertEqual(r.answer, [])
        r = harness.dig(self.port, "big.example.com", "TXT")
        self.assertNotIn("tc", r.flags)
        self.assertEqual(len(r.answer), 6)

    def test_refused_outside_with_ede(self):
        r = harness.dig(self.port, "www.example.net", "A")
        self.assertEqual(r.rcode, "REFUSED")
        self.assertEqual(r.ede, 20)

    def test_chaos_identity(self):
        r = harness.dig(self.port, "version.server", "TXT", cls="CH")
        self.assertEqual(r.rcode, "NOERROR")
        self.assertNotIn("aa", r.flags)
        self.assertIn('"pindns ', r.text)

    def test_badvers(self):
        r = harness.dig(self.port, "www.example.com", "A", "+edns=1", "+noednsneg")
        self.assertEqual(r.rcode, "BADVERS")

    @unittest.skipUnless(shutil.which("kdig"), "kdig (knot-dnsutils) not installed")
    def test_kdig_agrees(self):
        out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(self.port), "+notcp", "+retry=0",
                              "+norec", "_sip._udp.example.com", "SRV"],
                             capture_output=True, text=True, timeout=20).stdout
        self.assertIn("status: NOERROR", out)
        self.assertIn("Flags: qr aa;", out)
        self.assertIn("_sip._udp.example.com.\t3600\tIN\tSRV\t10 60 5060 sip.example.com.", out)
        self.assertRegex(out, r"\nsip\.example\.com\.\s+3600\tIN\tA\t192\.0\.2\.60")

    def test_ipv6_listener(self):
        if not self.v6:
            self.skipTest("host: no IPv6 on loopback")
        r = harness.dig(self.port, "www.example.com", "AAAA", host="::1")
        self.assertEqual(r.answer, ["www.example.com. 3600 IN AAAA 2001:db8::80"])

    def test_many_source_ports_all_answered(self):
        """Every worker's socket answers: 200 queries from 200 source ports."""
        socks = []
        try:
            for i in range(200):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(2)
                s.sendto(harness.make_query("www.example.com", qid=i), ("127.0.0.1", self.port))
                socks.append(s)
            for i, s in enumerate(socks):
                reply = s.recv(4096)
                self.assertEqual(int.from_bytes(reply[:2], "big"), i)
                self.assertEqual(reply[3] & 0xF, 0)
        finally:
            for s in socks:
                s.close()


class Options(unittest.TestCase):
    def serve_with(self, conf_text):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(conf_text)
        self.addCleanup(os.unlink, f.name)
        srv = harness.start_pindnsd(["--config", f.name])
        self.addCleanup(srv.stop)
        return srv

    def test_cache_off_answers_the_same(self):
        srv = self.serve_with("cache-size: 0\n")
        for name, rtype in (("www.example.com", "A"), ("alias.example.com", "A"),
                            ("nope.example.com", "MX")):
            a = harness.dig(srv.port, name, rtype)
            b = harness.dig(self.cached.port, name, rtype)
            self.assertEqual((a.rcode, a.flags, a.answer, a.authority),
                             (b.rcode, b.flags, b.answer, b.authority))
        self.assertIn("cache 0 KiB each", srv.output())

    def test_reuseport_cpu_steering_still_answers(self):
        srv = self.serve_with("reuseport-cpu: yes\n")
        for i in range(20):
            r = harness.raw_query(srv.port, harness.make_query("www.example.com", qid=i))
            self.assertIsNotNone(r)
            self.assertEqual(r[3] & 0xF, 0)

    @classmethod
    def setUpClass(cls):
        cls.cached = harness.start_pindnsd()

    @classmethod
    def tearDownClass(cls):
        cls.cached.stop()


if __name__ == "__main__":
    harness.main()
