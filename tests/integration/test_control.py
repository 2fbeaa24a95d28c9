"""Integration: pindnsctl against a running pindnsd, and the Prometheus endpoint."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CTL = os.path.join(os.path.dirname(harness.PINDNSD), "pindnsctl")


def ctl(*args):
    return harness.run([CTL] + list(args), timeout=30)


class Control(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-ctl-")
        cls.sock = os.path.join(cls.dir, "control.sock")
        cls.metrics_port = harness.free_port()
        conf = os.path.join(cls.dir, "pindns.conf")
        with open(conf, "w") as f:
            f.write("control-socket: %s\nmetrics-listen: 127.0.0.1:%d\n" % (
                cls.sock, cls.metrics_port))
        cls.srv = harness.start_pindnsd(["--config", conf], tcp=True)
        for i in range(30):
            harness.raw_query(cls.srv.port, harness.make_query("www.example.com", qid=i))
        harness.raw_query(cls.srv.port, harness.make_query("nope.example.com"))
        # Two over TCP, on one connection the client then closes.
        with harness.tcp_connect(cls.srv.port) as s:
            for i in range(2):
                harness.send_msgs(s, harness.make_query("www.example.com", qid=100 + i))
                harness.recv_msg(s)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_status_and_zone_list(self):
        r = ctl("-s", self.sock, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^running: pid %d, version \d+\.\d+\.\d+, 2 worker\(s\) and 1 TCP "
                                   r"thread\(s\), 2 "
                                   r"zone\(s\), up \d+ s\n$" % self.srv.proc.pid)
        r = ctl("-s", self.sock, "zone-list")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"example\.com\. serial 2026112301 records 44 loaded "
                                   r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n")

    def test_stats_count_what_was_sent(self):
        r = ctl("-s", self.sock, "stats", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual([w["transport"] for w in st["workers"]], ["udp", "udp", "tcp"])
        self.assertGreaterEqual(st["total"]["queries"], 31)
        self.assertGreaterEqual(st["total"]["rcodes"]["NXDOMAIN"], 1)
        self.assertEqual(sum(w["queries"] for w in st["workers"]), st["total"]["queries"])
        self.assertTrue(0 <= st["spread"] <= 1)
        udp, tcp = st["transports"]["udp"], st["transports"]["tcp"]
        self.assertEqual((udp["workers"], tcp["workers"]), (2, 1))
        self.assertEqual(udp["queries"] + tcp["queries"], st["total"]["queries"])
        self.assertGreaterEqual(tcp["queries"], 2)  # and the readiness probe's
        self.assertEqual(tcp["responses"], tcp["queries"])
        self.assertEqual(st["workers"][2]["queries"], tcp["queries"])
        conns = st["tcp_connections"]
        self.assertGreaterEqual(conns["accepted"], 2)
        self.assertEqual(conns["adopted"], 0)
        self.assertEqual(conns["closed"], sum(conns["closed_by_reason"].values()))
        self.assertEqual(conns["open"], conns["accepted"] - conns["closed"])
        self.assertIn("eof", conns["closed_by_reason"])
        r = ctl("-s", self.sock, "stats")
        self.assertIn("spread (least/most busy worker):", r.stdout)
        self.assertRegex(r.stdout, r"\nworker 2: transport tcp queries [1-9]\d* ")
        self.assertRegex(r.stdout, r"\ntcp: workers 1 queries [1-9]\d* responses [1-9]\d* ")
        self.assertRegex(r.stdout, r"\ntcp-connections: open \d+ accepted \d+ adopted 0 "
                                   r"closed \d+\ntcp-closed: eof \d+ idle \d+ ")

    def test_reload(self):
        r = ctl("-s", self.sock, "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reload done: 2 zone(s) serving, 0 failed", r.stdout)
        r = ctl("-s", self.sock, "reload", "example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl("-s", self.sock, "reload", "nothere.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no zone nothere.test in the configuration", r.stderr)

    def test_prometheus_exposition(self):
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        if shutil.which("curl"):
            r = subprocess.run(["curl", "-sS", "--max-time", "10", url], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            body = r.stdout
        else:  # packaging/deps.sh installs curl; this keeps the check without it
            body = urllib.request.urlopen(url, timeout=10).read().decode()
        for name in ("pindns_queries_total", "pindns_responses_total",
                     "pindns_responses_by_rcode_total", "pindns_cache_hits_total"):
            self.assertIn("# TYPE %s counter" % name, body)
        self.assertRegex(body, r'pindns_queries_total\{worker="0",transport="udp"\} \d+\n')
        self.assertRegex(body, r'pindns_queries_total\{worker="2",transport="tcp"\} [1-9]\d*\n')
        self.assertRegex(body, r'pindns_responses_by_rcode_total\{worker="\d",transport="udp",'
                               r'rcode="NXDOMAIN"\} [1-9]\d*\n')
        self.assertIn("# TYPE pindns_tcp_connections_open gauge\n", body)
        self.assertRegex(body, r'pindns_tcp_connections_accepted_total [1-9]\d*\n')
        self.assertRegex(body, r'pindns_tcp_connections_closed_total\{reason="eof"\} \d+\n')
        # Every sample line follows the exposition format.
        for line in body.splitlines():
            if not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? \d+$')

    def test_offline_checks_and_exit_codes(self):
        r = ctl("zone-check", os.path.join(harness.ZONES, "example.com.zone"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("zone example.com OK, 44 records", r.stdout)
        bad = os.path.join(self.dir, "bad.test.zone")
        with open(bad, "w") as f:
            f.write("$ORIGIN bad.test.\n@ 300 SOA ns h 1 2 3 4 5\n@ 300 NS ns\nx 300 A 1.2.3\n")
        r = ctl("zone-check", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.test.zone:4:", r.stderr)
        r = ctl("-s", os.path.join(self.dir, "nothing.sock"), "status")
        self.assertEqual(r.returncode, 3)
        self.assertIn("pindnsd is not running", r.stderr)
        self.assertEqual(ctl("frobnicate").returncode, 2)

    def test_zz_stop(self):
        srv = harness.start_pindnsd(["--control-socket", os.path.join(self.dir, "c2.sock")])
        r = ctl("-s", os.path.join(self.dir, "c2.sock"), "stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(srv.proc.wait(timeout=20), 0)
        srv.stop()


if __name__ == "__main__":
    harness.main()
