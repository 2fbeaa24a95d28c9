"""Differential test: pindnsd and NSD serve the same zones/ and get the same queries.

rcode, header flags, answer and authority sections must be identical (records sorted,
owner names and data as sent: a lost letter case of the query name shows), and so must
the OPT record (version, DO and the other flags, payload size, every option).
Deliberate differences, each explained where it is allowed:
- Additional section: NSD runs with minimal-responses (its default adds the apex NS
  RRset to every answer). It then adds nothing but glue; pindns also adds the in-zone
  addresses of NS, MX and SRV targets (as Knot does, and as the issue asks). So NSD's
  additional section must be contained in ours, and every extra record of ours must be
  an A/AAAA of such a target.
- CROSS_ZONE: NSD follows a CNAME/DNAME into another zone it happens to serve. The
  RFC 1034 4.3.2 algorithm only restarts within the server's data when the server
  is authoritative for the target, and resolvers discard such records as out of
  bailiwick (RFC 2181 5.4.1), so pindns stops at the zone edge like Knot does. There
  our answer must be the start of NSD's, and NSD's extra records must lie in the other zone.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

QUERIES = [
    # apex data, including the RFC 8482 single-RRset ANY (SOA at the apex, as NSD)
    ("example.com", "SOA"), ("example.com", "NS"), ("example.com", "MX"),
    ("example.com", "TXT"), ("example.com", "A"), ("example.com", "AAAA"),
    ("example.com", "ANY"), ("example.org", "NS"),
    # exact matches and NODATA
    ("www.example.com", "A"), ("www.example.com", "AAAA"), ("www.example.com", "TXT"),
    ("www.example.com", "ANY"), ("ns1.example.com", "A"), ("mail.example.com", "AAAA"),
    ("www.example.com", "TYPE0"), ("www.example.com", "OPT"), ("www.example.com", "RRSIG"),
    # letter case must not matter, and must be kept in the answer's owner names
    ("WWW.EXAMPLE.COM", "A"), ("wWw.ExAmPlE.cOm", "AAAA"), ("Example.Com", "MX"),
    # NXDOMAIN, empty non-terminals
    ("nonexistent.example.com", "A"), ("a.b.c.nonexistent.example.com", "TXT"),
    ("ent.example.com", "A"), ("b.ent.example.com", "A"), ("ent.example.com", "ANY"),
    ("a.b.ent.example.com", "A"), ("x.a.b.ent.example.com", "A"),
    # CNAME chains, loops, chains out of the zone and into nothing
    ("ftp.example.com", "A"), ("ftp.example.com", "CNAME"), ("ftp.example.com", "AAAA"),
    ("ftp.example.com", "TXT"), ("alias.example.com", "A"), ("alias.example.com", "MX"),
    ("cdn.example.com", "A"), ("broken.example.com", "A"), ("loop1.example.com", "A"),
    ("loop2.example.com", "CNAME"),
    # wildcards (RFC 4592): synthesis, NODATA at a wildcard, shadowing, deeper names
    ("www.apps.example.com", "A"), ("www.apps.example.com", "TXT"),
    ("www.apps.example.com", "MX"), ("www.apps.example.com", "ANY"),
    ("x.y.apps.example.com", "A"), ("special.apps.example.com", "A"),
    ("special.apps.example.com", "TXT"), ("apps.example.com", "A"),
    ("*.apps.example.com", "A"), ("foo.alias-wild.example.com", "A"),
    ("foo.alias-wild.example.com", "AAAA"),
    # services: SRV target addresses in additional
    ("_sip._udp.example.com", "SRV"), ("_udp.example.com", "A"),
    # delegations: referrals with glue, DS on the parent side, names below the cut
    ("sub.example.com", "NS"), ("sub.example.com", "A"), ("sub.example.com", "DS"),
    ("sub.example.com", "ANY"), ("www.sub.example.com", "A"), ("ns1.sub.example.com", "A"),
    ("ns1.sub.example.com", "AAAA"), ("a.b.sub.example.com", "MX"),
    ("secure.example.com", "DS"), ("secure.example.com", "NS"),
    ("x.secure.example.com", "A"), ("example.com", "DS"), ("example.org", "DS"),
    # DNAME (RFC 6672): the owner itself, substitution, and chains out of the zone
    ("old.example.com", "DNAME"), ("old.example.com", "A"), ("old.example.com", "ANY"),
    ("www.old.example.com", "A"), ("a.b.old.example.com", "A"),
    # truncation: an RRset that only fits with EDNS
    ("big.example.com", "TXT"),
    # RFC 3597 unknown types
    ("generic.example.com", "TYPE65280"), ("generic.example.com", "A"),
    # outside every zone: REFUSED, with EDE 20 when the query had EDNS
    ("www.example.net", "A"), ("net", "NS"), (".", "NS"), ("example", "A"),
    # the other zone
    ("www.example.org", "A"), ("example.org", "ANY"), ("nope.example.org", "AAAA"),
]

VARIANTS = [
    ("edns", ()),
    ("no-edns", ("+noedns",)),
    ("dnssec", ("+dnssec",)),
    ("cd", ("+cdflag", "+adflag")),
    ("small-buffer", ("+bufsize=512",)),
]

# NSD keeps chasing into example.org, which it also serves; see the module comment.
CROSS_ZONE = {("www.old.example.com", "A"): "example.org.",
              ("a.b.old.example.com", "A"): "example.org."}


def owner(rr):
    return rr.split()[0]


def targets(answer):
    """Names whose addresses may go into the additional section."""
    out = set()
    for rr in answer:
        f = rr.split()
        if f[3] == "NS":
            out.add(f[4])
        elif f[3] == "MX":
            out.add(f[5])
        elif f[3] == "SRV":
            out.add(f[7])
    return out


class Differential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ours = harness.start_pindnsd()
        try:
            cls.nsd = harness.start_nsd()
        except Exception:
            cls.ours.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ours.stop()
        cls.nsd.stop()

    def compare(self, name, rtype, opts):
        a = harness.dig(self.ours.port, name, rtype, *opts)
        b = harness.dig(self.nsd.port, name, rtype, *opts)
        what = "%s %s %s\n--- pindns:\n%s\n--- nsd:\n%s" % (name, rtype, " ".join(opts),
                                                            a.text, b.text)
        self.assertIsNotNone(b.rcode, "NSD did not answer: " + what)
        self.assertIsNotNone(a.rcode, "pindns did not answer: " + what)
        cross = CROSS_ZONE.get((name.lower(), rtype))
        if cross:
            self.assertEqual(a.flags, b.flags, what)
            for rr in a.answer:
                self.assertIn(rr, b.answer, what)
            for rr in set(b.answer) - set(a.answer):
                self.assertTrue(owner(rr).endswith(cross), what)
            for rr in b.authority:
                self.assertTrue(owner(rr).endswith(cross), what)
            return
        self.assertEqual(a.rcode, b.rcode, what)
        self.assertEqual(a.flags, b.flags, what)
        for section in ("ANSWER", "AUTHORITY"):
            self.assertEqual(sorted(a.as_sent[section]), sorted(b.as_sent[section]), what)
        ours, theirs = set(a.as_sent["ADDITIONAL"]), set(b.as_sent["ADDITIONAL"])
        self.assertTrue(theirs <= ours, what)
        allowed = targets(a.answer)
        for rr in ours - theirs:
            f = rr.split()
            self.assertIn(f[3], ("A", "AAAA"), what)
            self.assertIn(f[0].lower(), allowed, what)
        self.assertEqual(a.edns, b.edns, what)

    def test_queries(self):
        checked = 0
        for variant, opts in VARIANTS:
            for name, rtype in QUERIES:
                with self.subTest(variant=variant, name=name, type=rtype):
                    self.compare(name, rtype, opts)
                    checked += 1
        self.assertEqual(checked, len(VARIANTS) * len(QUERIES))


if __name__ == "__main__":
    harness.main(verbosity=1)
