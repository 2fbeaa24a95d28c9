"""Integration: pindnsctl against a running pindnsd, and the Prometheus endpoint."""

import json
import os
import re
import shutil
import struct
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

    def test_zone_list_pattern_and_count(self):
        r = ctl("-s", self.sock, "zone-list")
        self.assertTrue(r.stdout.endswith("\n2 zone(s)\n"), r.stdout)
        for pattern in ("EXAMPLE.COM", "*.com", "example.com.", "example.co?"):
            with self.subTest(pattern=pattern):
                r = ctl("-s", self.sock, "zone-list", pattern)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stdout.splitlines()
                self.assertEqual(len(lines), 2, r.stdout)
                self.assertRegex(lines[0], r"^example\.com\. serial ")
                self.assertEqual(lines[1], "1 of 2 zone(s) match '%s'" % pattern)
        r = ctl("-s", self.sock, "zone-list", "nothing.*")
        self.assertEqual(r.stdout, "0 of 2 zone(s) match 'nothing.*'\n")
        self.assertEqual(ctl("-s", self.sock, "zone-list", "a", "b").returncode, 2)

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

    def test_zone_transfer_commands_without_transfers(self):
        # No secondary, catalog or notify target: every zone is a primary from its file.
        r = ctl("-s", self.sock, "zone-status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("every zone is a primary loaded from its file", r.stdout)
        r = ctl("-s", self.sock, "zone-status", "EXAMPLE.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "example.com. role primary (zone file) serial 2026112301 "
                                   "notify none\n")
        r = ctl("-s", self.sock, "zone-status", "nothere.test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no zone nothere.test here", r.stderr)
        for cmd in ("zone-refresh", "zone-retransfer"):
            r = ctl("-s", self.sock, cmd, "example.com")
            self.assertEqual(r.returncode, 1, cmd)
            self.assertIn("example.com is a primary loaded from its file, not a secondary",
                          r.stderr)
        r = ctl("-s", self.sock, "zone-notify", "example.org")
        self.assertEqual(r.returncode, 1)
        self.assertIn("example.org has no notify target", r.stderr)
        r = ctl("-s", self.sock, "zone-status", "bad..name")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'bad..name' is not a domain name", r.stderr)
        for args in (("zone-refresh",), ("zone-notify", "a", "b"), ("zone-status", "a", "b")):
            self.assertEqual(ctl("-s", self.sock, *args).returncode, 2, args)
        # The transfer counters are there, at 0, in both forms.
        r = ctl("-s", self.sock, "stats")
        self.assertRegex(r.stdout, r"\ntransfers: notify-in 0 notify-refused 0 notify-out 0 "
                                   r"notify-acked 0 refresh 0 in-axfr 0 in-ixfr 0 in-failed 0 "
                                   r"out-axfr 0 out-ixfr 0 out-refused 0 out-failed 0 "
                                   r"expired 0\n")
        st = json.loads(ctl("-s", self.sock, "stats", "--json").stdout)
        self.assertEqual(st["transfers"]["in_axfr"], 0)
        self.assertEqual(len(st["transfers"]), 13)

    def test_conf_check_transfer_settings(self):
        conf = os.path.join(self.dir, "xfr.conf")
        zone = os.path.join(harness.ZONES, "example.com.zone")
        key = "tsig-key: xfr.key hmac-sha256 c2VjcmV0IGtleSBvZiAzMiBieXRlcyBmb3IgaG1hYw==\n"
        with open(conf, "w") as f:
            f.write(key + "zone: example.com %s\n" % zone +
                    "provide-xfr: example.com 127.0.0.1 key xfr.key\n"
                    "notify: * 127.0.0.1:5399 key xfr.key\n"
                    "secondary: example.net 127.0.0.1:5398 key xfr.key\n")
        r = ctl("conf-check", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(conf, "w") as f:
            f.write("secondary: example.net 127.0.0.1 key xfr.key\n" + key)
        r = ctl("conf-check", conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:1: secondary example.net: tsig-key 'xfr.key' is not defined" % conf,
                      r.stderr)
        with open(conf, "w") as f:
            f.write("secondary: example.com 127.0.0.1\nzone: example.com %s\n" % zone)
        r = ctl("conf-check", conf)
        self.assertEqual(r.returncode, 1)
        self.assertIn("zone example.com is both a secondary", r.stderr)

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
        # This process's transfers: none here, the families there all the same.
        self.assertIn("# TYPE pindns_xfr_in_total counter\n", body)
        self.assertIn('pindns_xfr_in_total{kind="axfr"} 0\n', body)
        self.assertIn('pindns_xfr_notify_received_total{result="refused"} 0\n', body)
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


SIGNED = """$ORIGIN signed.test.
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 60
  NS ns1
ns1 A 192.0.2.53
www A 192.0.2.80
mail MX 10 www
"""
LDNS_TOOLS = ("ldns-keygen", "ldns-signzone")


def sig_time(t):
    """An RRSIG time as ldns-signzone takes it: YYYYMMDDhhmmss, UTC."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


@unittest.skipIf([t for t in LDNS_TOOLS if not shutil.which(t)],
                 "ldns-keygen and ldns-signzone (ldnsutils) not installed")
class ZoneCheckSigned(unittest.TestCase):
    """zone-check and the load log on zones signed by ldns-signzone: signatures that
    expired or expire soon warn with file:line and the zone loads; a broken NSEC chain
    is an error naming the owner."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-signed-")
        cls.src = os.path.join(cls.dir, "signed.test.unsigned")
        with open(cls.src, "w") as f:
            f.write(SIGNED)
        r = harness.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "signed.test"], cwd=cls.dir)
        if r.returncode != 0:
            raise RuntimeError("ldns-keygen failed: %s" % r.stderr)
        cls.key = os.path.join(cls.dir, r.stdout.strip())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def sign(self, name, inception, expiration, nsec3=False):
        """Signs SIGNED into dir/name with the given RRSIG times; returns the path."""
        out = os.path.join(self.dir, name)
        argv = ["ldns-signzone", "-i", inception, "-e", expiration, "-f", out]
        r = harness.run(argv + (["-n", "-t", "0"] if nsec3 else []) + [self.src, self.key])
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(out, 0o644)
        return out

    def lines(self, path):
        with open(path) as f:
            return f.read().splitlines()

    def check_warnings(self, path, stderr, when):
        """Every stderr line is a warning whose file:line is an RRSIG record of path
        and that names its owner; returns how many."""
        lines = self.lines(path)
        warnings = stderr.splitlines()
        for w in warnings:
            m = re.match(r"^%s:(\d+): warning: (.*%s.*)$" % (re.escape(path), when), w)
            self.assertTrue(m, "not a warning with file:line: %r in\n%s" % (w, stderr))
            fields = lines[int(m.group(1)) - 1].split()
            self.assertEqual(fields[3], "RRSIG", w)
            self.assertIn(fields[0], m.group(2))
        return len(warnings)

    def test_expired_signatures_warn_and_the_zone_loads(self):
        path = self.sign("expired.zone", "20200101000000", "20200201000000")
        r = ctl("zone-check", path, "signed.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        # SOA, NS, DNSKEY, the MX, 2 A and 4 NSEC, each with its RRSIG.
        self.assertEqual(self.check_warnings(path, r.stderr, "expired"), 10)
        self.assertEqual(r.stdout, "%s: zone signed.test OK, 20 records, serial 1, signed "
                                   "(NSEC), 10 warnings; earliest signature expiry "
                                   "2020-02-01 00:00:00 UTC\n" % path)
        r = ctl("zone-check", "--warn", "0", path, "signed.test")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertIn("signed (NSEC); earliest signature expiry 2020-02-01", r.stdout)

    def test_expiry_window(self):
        now = time.time()
        path = self.sign("soon.zone", sig_time(now - 86400), sig_time(now + 3 * 86400),
                         nsec3=True)
        r = ctl("zone-check", path, "signed.test")  # the default: 7 days
        self.assertEqual(r.returncode, 0, r.stderr)
        n = self.check_warnings(path, r.stderr, "expires")
        self.assertGreater(n, 10)  # the NSEC3 records' RRSIGs too
        self.assertRegex(r.stdout, r"^%s: zone signed\.test OK, \d+ records, serial 1, signed "
                                   r"\(NSEC3\), %d warnings; earliest signature expiry "
                                   r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n$" % (re.escape(path), n))
        r = ctl("zone-check", "--warn", "2d", path, "signed.test")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertIn("signed (NSEC3); earliest", r.stdout)
        r = ctl("zone-check", path, "signed.test", "--warn=96h")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.check_warnings(path, r.stderr, "expires"), n)
        r = ctl("zone-check", "--warn", "soon", path, "signed.test")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--warn: signature-expiry-warning must be a time", r.stderr)
        self.assertEqual(ctl("--warn", "1d", "status").returncode, 2)

    def test_broken_nsec_chain_is_an_error(self):
        far = sig_time(time.time() + 365 * 86400)
        good = self.sign("good.zone", "20200101000000", far)
        lines = self.lines(good)
        # ns1's NSEC skips www: the chain no longer reaches every name.
        i = next(k for k, l in enumerate(lines) if l.startswith("ns1.signed.test.\t") and
                 l.split()[3] == "NSEC")
        broken = lines[:i] + [lines[i].replace("www.signed.test.", "zzz.signed.test.")] + \
            lines[i + 1:]
        path = os.path.join(self.dir, "broken.zone")
        with open(path, "w") as f:
            f.write("\n".join(broken) + "\n")
        r = ctl("zone-check", path, "signed.test")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"^%s:%d: .*ns1\.signed\.test\." % (re.escape(path), i + 1))
        # mail has lost its NSEC: an error naming it, on a line of its own records.
        kept = [l for l in lines if not (l.startswith("mail.signed.test.\t") and
                                         l.split()[3] == "NSEC")]
        with open(path, "w") as f:
            f.write("\n".join(kept) + "\n")
        r = ctl("zone-check", path, "signed.test")
        self.assertEqual(r.returncode, 1, r.stdout)
        m = re.match(r"^%s:(\d+): .*mail\.signed\.test\." % re.escape(path), r.stderr)
        self.assertTrue(m, r.stderr)
        self.assertTrue(kept[int(m.group(1)) - 1].startswith("mail.signed.test."), r.stderr)

    def test_daemon_logs_warnings_on_load_and_reload(self):
        zones = tempfile.mkdtemp(prefix="pindns-signed-zones-")
        path = self.sign("expired.zone", "20200101000000", "20200201000000")
        shutil.copy(path, os.path.join(zones, "signed.test.zone"))
        path = os.path.join(zones, "signed.test.zone")
        os.chmod(path, 0o644)
        sock = os.path.join(self.dir, "signed.sock")
        conf = os.path.join(self.dir, "signed.conf")
        with open(conf, "w") as f:
            f.write("control-socket: %s\nsignature-expiry-warning: 1d\n" % sock)
        srv = harness.start_pindnsd(["--config", conf], zones=zones)
        try:
            # Served all the same: an operator re-signs while it answers.
            reply = harness.raw_query(srv.port, harness.make_query("signed.test", qtype=6))
            self.assertEqual(reply[3] & 0x0F, 0)  # NOERROR
            self.assertEqual(struct.unpack("!H", reply[6:8])[0], 1)  # the SOA
            log = srv.output()
            warned = re.findall(r"zone signed\.test: %s:(\d+): warning: .*expired" %
                                re.escape(path), log)
            self.assertEqual(len(warned), 10, log)
            self.assertRegex(log, r"zone signed\.test loaded from %s: 20 records, signed "
                                  r"\(NSEC\), serial 1, 10 warnings, [\d.]+ ms; earliest "
                                  r"signature expiry 2020-02-01 00:00:00 UTC" % re.escape(path))
            # Unchanged on reload: not parsed again, but still warned of.
            r = ctl("-s", sock, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            log = srv.output()
            self.assertRegex(log, r"zone signed\.test: warning: a signature expired "
                                  r"2020-02-01 00:00:00 UTC; re-sign the zone")
            # Changed: loaded again, each warning again.
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000000000))
            r = ctl("-s", sock, "reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            warned = re.findall(r"zone signed\.test: %s:\d+: warning: " % re.escape(path),
                                srv.output())
            self.assertEqual(len(warned), 20)
        finally:
            srv.stop()
            shutil.rmtree(zones, ignore_errors=True)


if __name__ == "__main__":
    harness.main()
