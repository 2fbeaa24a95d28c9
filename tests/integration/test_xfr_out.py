"""Zone transfers out: pindnsd as the primary of a Knot and an NSD secondary.

Both secondaries transfer example.com and example.org from pindnsd (AXFR, signed with a
TSIG key that provide-xfr asks for), then answer every query of the differential list
(test_differential.QUERIES) as pindnsd does. After a change (the zone file rewritten,
SIGHUP: the reload pindnsctl reload makes) pindnsd answers an IXFR from the old serial in
the incremental form, Knot's log says it took an IXFR, and both secondaries reach the new
serial and answer the list alike again. A transfer from an address provide-xfr does not
name, or unsigned, is REFUSED; one signed with a wrong secret (BADSIG) or an unknown key
(BADKEY) is NOTAUTH; AXFR over UDP is NOTIMP and IXFR over UDP the SOA alone.

Compared with Knot: rcode, the AA flag and the answer and authority sections (records
sorted, as sent). Knot's additional section differs by design (it adds the addresses of
targets from every zone it serves, pindns from the query's zone only), so it is not
compared; Knot answers the reserved type 0 NOTIMP. Compared with NSD: as test_differential
compares pindns with NSD, whose deliberate differences apply the same. ANY: both answer
one RRset (RFC 8482), the one they pick by how they hold the zone (a transferred copy in
another order than the file): it must be ours at that name.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_differential  # noqa: E402
import xfrpeers  # noqa: E402

ZONES = ("example.com", "example.org")
S = {}


def _fast_timers(text):
    """The zone with an SOA refresh of 1 s and retry of 1 s: NSD, which pindnsd does not
    NOTIFY yet, checks the serial on its own."""
    text = re.sub(r"\b7200\s*; refresh", "1 ; refresh", text)
    text = re.sub(r"\b3600\s*; retry", "1 ; retry", text)
    return re.sub(r"(\d{10}) 7200 3600 ", r"\1 1 1 ", text)


def write_zones(folder, serial=None, extra=""):
    for name in ZONES:
        with open(os.path.join(harness.ZONES, name + ".zone")) as f:
            text = _fast_timers(f.read())
        if serial is not None:
            text = text.replace("2026112301", str(serial))
        if name == "example.com":
            text += extra
        path = os.path.join(folder, name + ".zone")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)


def setUpModule():
    missing = xfrpeers.missing("kdig", "knotd", "knotc", "nsd", "dig")
    if missing:
        raise unittest.SkipTest("missing: %s" % ", ".join(missing))
    top = tempfile.mkdtemp(prefix="pindns-xfrout-")
    zones = os.path.join(top, "zones")
    os.mkdir(zones)
    os.chmod(top, 0o755)
    os.chmod(zones, 0o755)
    write_zones(zones)
    S["zones"] = zones
    S["key"] = key = xfrpeers.TsigKey.generate("xfr.key")
    conf = os.path.join(top, "pindns.conf")
    with open(conf, "w") as f:
        f.write(xfrpeers.pindns_conf(key=key, provide=[("*", "127.0.0.1/32")]))
        f.write("identity: %s\nversion: \"\"\n" % test_differential.IDENTITY)
    S["ours"] = harness.start_pindnsd(["--config", conf], zones=zones, tcp=True)
    try:
        S["knot"] = xfrpeers.KnotSecondary(S["ours"].port, ZONES, key=key)
        S["nsd"] = xfrpeers.NsdSecondary(S["ours"].port, ZONES, key=key)
        S["knot"].wait_zones(ZONES, timeout=20)
        S["nsd"].wait_zones(ZONES, timeout=20)
    except Exception:
        tearDownModule()
        raise


def tearDownModule():
    for name in ("knot", "nsd"):
        if name in S:
            S.pop(name).stop()
    if "ours" in S:
        srv = S.pop("ours")
        srv.stop()
        srv.check()  # exit status 0 and no sanitizer report


def _record(fields):
    """A record as kdig and knotc both write it (libknot's format), class left out."""
    if len(fields) > 2 and fields[2] == "IN":
        del fields[2]
    return " ".join([fields[0].lower()] + fields[1:])


def knot_records(origin):
    """What the Knot secondary holds of origin (knotc zone-read)."""
    out = S["knot"].knotc("zone-read", origin + ".")
    # "[ORIGIN.] OWNER TTL TYPE RDATA"
    return sorted({_record(line.split()[1:]) for line in out.splitlines() if line.strip()})


class XfrOut(unittest.TestCase):
    """In order: the first transfers, refusals, then a change and the IXFR."""

    def axfr(self, **kw):
        return xfrpeers.axfr(S["ours"].port, "example.com", **kw)

    def same_as_ours(self, origin):
        """Knot holds exactly our records: our AXFR (by kdig) against knotc zone-read,
        both in libknot's format. NSD lets nobody transfer from it and has no control
        socket here: its copy is checked by the queries (answers_alike)."""
        r = subprocess.run(["kdig", "@127.0.0.1", "-p", str(S["ours"].port), "+retry=0",
                            "+timeout=5", "+nocomments", "+nostats", "+noquestion", "-y",
                            S["key"].dig(), origin, "AXFR"],
                           capture_output=True, text=True, timeout=20)
        ours = sorted({_record(line.split()) for line in r.stdout.splitlines()
                       if line.strip() and not line.startswith(";") and
                       line.split()[3:4] != ["TSIG"]})
        self.assertGreaterEqual(len(ours), 4, r.stdout + r.stderr)  # SOA, NS, more
        self.assertEqual(ours, knot_records(origin))

    def one_of_ours(self, name, theirs, what):
        """An ANY answer of one RRset (RFC 8482), which Knot and NSD pick by how they
        hold the zone: it must be one of ours at that name."""
        types = {rr.split()[3] for rr in theirs.answer}
        self.assertEqual(len(types), 1, what)
        ours = harness.dig(S["ours"].port, name, types.pop())
        self.assertEqual(sorted(ours.as_sent["ANSWER"]), sorted(theirs.as_sent["ANSWER"]), what)

    def compare_knot(self, name, rtype, opts):
        a = harness.dig(S["ours"].port, name, rtype, *opts)
        b = harness.dig(S["knot"].port, name, rtype, *opts)
        what = "%s %s %s\n--- pindns:\n%s\n--- knot:\n%s" % (name, rtype, " ".join(opts),
                                                             a.text, b.text)
        self.assertIsNotNone(a.rcode, what)
        if rtype == "TYPE0":
            # Knot answers the reserved type 0 NOTIMP, pindns (as NSD) NODATA.
            self.assertEqual(b.rcode, "NOTIMP", what)
            return
        self.assertEqual(a.rcode, b.rcode, what)
        if rtype == "ANY" and a.answer and b.answer:
            self.one_of_ours(name, b, what)
            return
        self.assertEqual("aa" in a.flags, "aa" in b.flags, what)
        for section in ("ANSWER", "AUTHORITY"):
            self.assertEqual(sorted(a.as_sent[section]), sorted(b.as_sent[section]), what)

    def answers_alike(self):
        diff = test_differential.Differential("test_queries")
        diff.ours, diff.nsd = S["ours"], S["nsd"]
        checked = 0
        for name, rtype in test_differential.QUERIES:
            with self.subTest(peer="nsd", name=name, type=rtype):
                if rtype == "ANY":
                    b = harness.dig(S["nsd"].port, name, rtype)
                    a = harness.dig(S["ours"].port, name, rtype)
                    self.assertEqual(a.rcode, b.rcode, b.text)
                    if b.answer:
                        self.one_of_ours(name, b, "%s ANY\n%s" % (name, b.text))
                else:
                    diff.compare(name, rtype, ())
            if (name.lower().rstrip(".").endswith(ZONES)):
                with self.subTest(peer="knot", name=name, type=rtype):
                    self.compare_knot(name, rtype, ())
            checked += 1
        self.assertEqual(checked, len(test_differential.QUERIES))

    def test_1_transferred_and_answered_alike(self):
        for origin in ZONES:
            self.same_as_ours(origin)
        self.answers_alike()

    def test_2_pipelined_on_one_connection(self):
        """After a transfer the connection goes on (NSD pipelines the transfers of its
        zones on one connection, RFC 7766 6.2.1): more transfers and queries on it are
        answered in turn, as kdig +keepopen sends them."""
        r = subprocess.run(["kdig", "@127.0.0.1", "-p", str(S["ours"].port), "+tcp",
                            "+keepopen", "+retry=0", "+timeout=5", "-y", S["key"].dig(),
                            "example.org", "AXFR", "example.com", "AXFR", "www.example.com",
                            "A"], capture_output=True, text=True, timeout=30)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertEqual(len(re.findall(r"^;; From 127\.0\.0\.1@%d\(TCP\)" % S["ours"].port,
                                        out, re.M)), 3, out)
        soas = re.findall(r"^example\.(org|com)\.\s+\d+\s+IN\s+SOA", out, re.M)
        self.assertEqual(soas, ["org", "org", "com", "com"], out)
        self.assertRegex(out, r"(?m)^www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.80")
        self.assertNotRegex(out, "(?i)failed|warning|BADSIG|BADKEY|NOTAUTH")

    def test_2_refusals(self):
        key = S["key"]
        # Unsigned, where provide-xfr asks for the key: REFUSED.
        t = self.axfr()
        self.assertFalse(t.ok, t.text)
        self.assertIn("REFUSED", t.text)
        # From an address provide-xfr does not name (127.0.0.2 reaches 127.0.0.1).
        r = subprocess.run(["kdig", "@127.0.0.1", "-p", str(S["ours"].port), "-b",
                            "127.0.0.2", "+retry=0", "+timeout=5", "-y", key.dig(),
                            "example.com", "AXFR"], capture_output=True, text=True,
                           timeout=20)
        self.assertIn("REFUSED", r.stdout + r.stderr)
        # A wrong secret: NOTAUTH (BADSIG); an unknown key: NOTAUTH (BADKEY).
        wrong = xfrpeers.TsigKey(key.name, xfrpeers.TsigKey.generate().secret)
        t = self.axfr(key=wrong, tool="dig")
        self.assertFalse(t.ok, t.text)
        self.assertRegex(t.text, "NOTAUTH|BADSIG|tsig verify failure")
        t = self.axfr(key=xfrpeers.TsigKey.generate("other.key"), tool="dig")
        self.assertFalse(t.ok, t.text)
        self.assertRegex(t.text, "NOTAUTH|BADKEY|tsig")
        # Over UDP: AXFR NOTIMP (it needs TCP; dig would not send it so), IXFR the SOA
        # alone.
        reply = harness.raw_query(S["ours"].port, harness.make_query("example.com", 252))
        self.assertIsNotNone(reply)
        self.assertEqual(reply[3] & 0xF, 4)
        # dig shows an IXFR as a transfer: the records, then the server and transport.
        r = xfrpeers.query(S["ours"].port, "example.com", "IXFR=1", "+notcp", key=key)
        rrs = [line.split() for line in r.text.splitlines()
               if line.strip() and not line.startswith(";")]
        self.assertEqual([f[3] for f in rrs if f[3] != "TSIG"], ["SOA"], r.text)
        self.assertEqual(int(rrs[0][6]), xfrpeers.soa_serial(S["ours"].port, "example.com"))
        self.assertIn("(UDP)", r.text)
        self.assertNotRegex(r.text, "(?i)failure|could not be validated")
        # A signed ordinary query is answered, signed (the secondaries' SOA checks),
        # over UDP and TCP.
        for transport in ("udp", "tcp"):
            r = xfrpeers.query(S["ours"].port, "www.example.com", "A", key=key,
                               transport=transport)
            self.assertEqual(r.rcode, "NOERROR", r.text)
            self.assertIn("TSIG PSEUDOSECTION", r.text)
            self.assertNotRegex(r.text, "(?i)could not be validated|verify failure")

    def test_3_change_goes_by_ixfr(self):
        port = S["ours"].port
        old = xfrpeers.soa_serial(port, "example.com")
        new = old + 1
        write_zones(S["zones"], serial=new,
                    extra="ixfr-new  A  192.0.2.222\nixfr-new  TXT  \"added\"\n")
        os.kill(S["ours"].proc.pid, signal.SIGHUP)
        xfrpeers.wait_serial(port, "example.com", new)
        # Incremental form (RFC 1995 4): new SOA, old SOA, deletions, new SOA, additions,
        # new SOA.
        t = xfrpeers.axfr(port, "example.com", key=S["key"], ixfr=old)
        self.assertTrue(t.ok, t.text)
        soas = [r for r in t.records if r.split()[3] == "SOA"]
        serials = [int(r.split()[6]) for r in soas]
        self.assertEqual(serials, [new, old, new, new], t.text)
        self.assertTrue(any("ixfr-new" in r for r in t.records), t.text)
        self.assertLess(len(t.records), 12, "not incremental:\n" + t.text)
        # The secondaries take it: Knot by IXFR (its log says so), NSD on its timer.
        S["knot"].refresh("example.com")
        xfrpeers.wait_serial(S["knot"].port, "example.com", new, timeout=20)
        xfrpeers.wait_serial(S["nsd"].port, "example.com", new, timeout=20)
        self.assertRegex(S["knot"].output(), r"(?i)IXFR, incoming.*(finished|serial)")
        self.same_as_ours("example.com")
        self.answers_alike()
        r = harness.dig(S["knot"].port, "ixfr-new.example.com", "A")
        self.assertEqual(r.answer, harness.dig(port, "ixfr-new.example.com", "A").answer)


if __name__ == "__main__":
    harness.main()
