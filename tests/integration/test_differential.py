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

RawDifferential sends hand-made packets to both (every opcode, with and without a
question, every class of interest, TSIG with a key neither has, NSID, malformed EDNS
options, keepalive, and other odd shapes) and compares the replies field by field: ID and
all 16 header bits, the question as sent, every section (names decompressed), the OPT
record (size, extended rcode, version, flags and every option) and the TSIG record.
pindns follows NSD for every malformed input. Its deliberate differences, each allowed
only where its case says so:
- TSIG_OTHER_DATA: NSD echoes a query's TSIG Other Data in its BADKEY record; pindns
  sends Other Len 0 as RFC 8945 5.3.2 has it (and Knot does).
- TSIG_BADVERS: with a TSIG and an OPT of version 1, NSD puts BADVERS's extended rcode
  into the OPT of its NOTAUTH answer (which makes rcode 25); pindns answers NOTAUTH
  with a version-0 OPT without DO or options.
- Keepalive over TCP: NSD 4.6 does not implement RFC 7828; pindns answers the option
  with its TIMEOUT, and a query giving a TIMEOUT itself is FORMERR (3.2.1, as Unbound).
  Over UDP both ignore it, and that is compared exactly.
- Not sent at all: an OPT carrying two NSID options, which NSD answers with a malformed
  OPT (RDLENGTH counting its NSID twice, written once); pindns sends it once.
"""

import os
import struct
import subprocess
import sys
import tempfile
import time
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


# Both servers say the same about themselves, so their CH answers compare byte for byte:
# the identity, a hidden version (REFUSED, EDE 18) and the NSID.
IDENTITY = "pindns-test"  # what harness.NSD_CONF gives NSD
NSID = "pindns-diff"
NSD_EXTRA = '  hide-version: yes\n  nsid: "ascii_%s"\n' % NSID

SERVERS = {}


def pindns_knows_nsid():
    """Whether this pindnsd takes the nsid: key (its --help lists the config keys)."""
    out = harness.run_pindnsd(["--help"]).stdout
    return "nsid" in out


def setUpModule():
    conf = os.path.join(tempfile.mkdtemp(prefix="pindns-diff-"), "pindns.conf")
    with open(conf, "w") as f:
        f.write('identity: %s\nversion: ""\n' % IDENTITY)
        SERVERS["nsid"] = pindns_knows_nsid()
        if SERVERS["nsid"]:
            f.write("nsid: %s\n" % NSID)
    SERVERS["ours"] = harness.start_pindnsd(["--config", conf])
    marker = "remote-control:"
    plain = harness.NSD_CONF
    if marker not in plain:
        SERVERS["ours"].stop()
        raise RuntimeError("harness.NSD_CONF has no %r to put our NSD options before" % marker)
    harness.NSD_CONF = plain.replace(marker, NSD_EXTRA + marker)
    try:
        SERVERS["nsd"] = harness.start_nsd()
    except Exception:
        SERVERS["ours"].stop()
        raise
    finally:
        harness.NSD_CONF = plain


def tearDownModule():
    for key in ("ours", "nsd"):
        if key in SERVERS:
            SERVERS[key].stop()


class Differential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ours = SERVERS["ours"]
        cls.nsd = SERVERS["nsd"]

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


# --- Raw packets --------------------------------------------------------------------

QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
OPT, TSIG = 41, 250
NSID_OPT, KEEPALIVE_OPT = 3, 11


def name_wire(name):
    return harness.encode_name(name)


def header(qid=0x5A5A, flags=RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name="www.example.com", qtype=1, qclass=1):
    return name_wire(name) + struct.pack("!HH", qtype, qclass)


def opt(size=1232, version=0, do=False, options=(), raw=b"", ext=0):
    """An OPT record; options as (code, data) pairs, raw bytes appended to its RDATA."""
    rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in options) + raw
    return b"\0" + struct.pack("!HHBBHH", OPT, size, ext, version, 0x8000 if do else 0,
                               len(rdata)) + rdata


def tsig(key="Key.Example", alg="HMAC-SHA256", time_signed=1700000000, fudge=300,
         mac=b"\x11" * 32, orig_id=0x5A5A, error=0, other=b"", ttl=0, cls=255, owner=None):
    """A TSIG record (RFC 8945 4.2); owner, if given, is the owner name's wire form."""
    rd = name_wire(alg) + struct.pack("!HIH", time_signed >> 32, time_signed & 0xFFFFFFFF,
                                      fudge)
    rd += struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", orig_id, error, len(other))
    rd += other
    return (owner or name_wire(key)) + struct.pack("!HHIH", TSIG, cls, ttl, len(rd)) + rd


def query(qname="www.example.com", qtype=1, qclass=1, flags=RD, records=(), qd=None,
          an=0, ns=0, ar=None, with_question=True):
    """A query: the question (unless with_question is false), then records as raw bytes,
    counted into ARCOUNT unless ar says otherwise."""
    body = question(qname, qtype, qclass) if with_question else b""
    qd = (1 if with_question else 0) if qd is None else qd
    ar = len(records) if ar is None else ar
    return header(flags=flags, qd=qd, an=an, ns=ns, ar=ar) + body + b"".join(records)


def read_name(msg, off):
    """The name at off (compression followed) as wire bytes, and the offset after it."""
    out, end, hops = b"", None, 0
    while True:
        length = msg[off]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = (length & 0x3F) << 8 | msg[off + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        out += msg[off:off + 1 + length]
        off += 1 + length
        if length == 0:
            return out, (end if end is not None else off)


# Where the names are in the RDATA of the types that compress them (RFC 1035 3.3).
RDATA_NAMES = {2: (0, 1), 5: (0, 1), 12: (0, 1), 15: (2, 1), 6: (0, 2), 250: (0, 1)}


def read_rdata(msg, off, rdlen, rtype):
    """RDATA with its names decompressed."""
    if rtype not in RDATA_NAMES:
        return msg[off:off + rdlen]
    skip, count = RDATA_NAMES[rtype]
    out, p = msg[off:off + skip], off + skip
    for _ in range(count):
        name, p = read_name(msg, p)
        out += name
    return out + msg[p:off + rdlen]


def parse(msg):
    """A reply as comparable fields; raises on any malformation."""
    if msg is None:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    r = {"id": qid, "flags": "%04x" % flags, "counts": (qd, an, ns, ar), "question": [],
         "opt": None, "tsig": None, "sections": ([], [], [])}
    off = 12
    for _ in range(qd):
        _, end = read_name(msg, off)
        r["question"].append(msg[off:end + 4].hex())
        off = end + 4
    for i in range(an + ns + ar):
        owner, off = read_name(msg, off)
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if off + rdlen > len(msg):
            raise ValueError("RDATA past the end")
        rdata = read_rdata(msg, off, rdlen, rtype)
        off += rdlen
        if rtype == OPT:
            options, p = [], 0
            while p < len(rdata):
                code, olen = struct.unpack("!HH", rdata[p:p + 4])
                options.append((code, rdata[p + 4:p + 4 + olen].hex()))
                p += 4 + olen
                if p > len(rdata):
                    raise ValueError("OPT option past its RDATA")
            r["opt"] = {"owner": owner.hex(), "size": rclass, "ext_rcode": ttl >> 24,
                        "version": (ttl >> 16) & 0xFF, "flags": "%04x" % (ttl & 0xFFFF),
                        "options": options, "last": i == an + ns + ar - 1}
            continue
        rr = (owner.hex(), rtype, rclass, ttl, rdata.hex())
        if rtype == TSIG:
            r["tsig"] = rr + (i == an + ns + ar - 1,)
            continue
        section = 0 if i < an else 1 if i < an + ns else 2
        r["sections"][section].append(rr)
    if off != len(msg):
        raise ValueError("%d bytes after the last record" % (len(msg) - off))
    return r


def tcp_ask(port, payload):
    return harness.tcp_query(port, payload, timeout=2.0)


# name -> (payload, transport); see RawDifferential for what each says.
def raw_cases():
    cases = {}
    flags = RD | CD  # CD shows which answers echo the query's flags (NSD's errors)
    for op in range(16):
        f = flags | op << 11
        name, qtype = ("example.com", 6) if op == 4 else ("www.example.com", 1)
        if op == 4:
            f |= AA
        cases["opcode %d, no question" % op] = query(flags=f, with_question=False)
        cases["opcode %d, no question, OPT" % op] = query(flags=f, with_question=False,
                                                           records=[opt()])
        cases["opcode %d, one question" % op] = query(name, qtype, flags=f)
        cases["opcode %d, one question, OPT" % op] = query(name, qtype, flags=f,
                                                            records=[opt()])
    cases["notify for a name that is no zone"] = query("www.example.com", 6, flags=AA | 4 << 11)
    cases["notify for the other zone, TSIG"] = query("example.org", 6, flags=AA | 4 << 11,
                                                     records=[tsig()])
    cases["notify, ARCOUNT past the records"] = query("example.com", 6, flags=AA | 4 << 11,
                                                      ar=1)
    for cls, cname in ((1, "IN"), (3, "CH"), (4, "HS"), (254, "NONE"), (255, "ANY"),
                       (1234, "CLASS1234")):
        for qname, qtype in (("www.example.com", 1), ("nope.example.com", 1),
                             ("example.com", 15), ("www.sub.example.com", 1),
                             ("www.example.net", 1), ("id.server", 16),
                             ("hostname.bind", 1), ("version.bind", 16),
                             ("version.server", 255)):
            for edns in (False, True):
                cases["class %s %s %d%s" % (cname, qname, qtype, " OPT" if edns else "")] = \
                    query(qname, qtype, cls, flags=flags, records=[opt()] if edns else [])
    cases["CH TXT unknown name"] = query("foo.bind", 16, 3, records=[opt()])
    cases["CH TXT, letter case"] = query("ID.Server", 16, 3, records=[opt()])
    # TSIG with a key neither has: BADKEY, whatever the question
    cases["tsig"] = query(flags=flags, records=[tsig()])
    cases["tsig, OPT"] = query(records=[opt(do=True), tsig()])
    cases["tsig, OPT asking NSID"] = query(records=[opt(options=[(NSID_OPT, b"")]), tsig()])
    cases["tsig, other original ID"] = query(records=[tsig(orig_id=0x1234)])
    cases["tsig, compressed key name"] = query(records=[tsig(owner=b"\xc0\x0c")])
    cases["tsig, no MAC, unknown algorithm"] = query(records=[tsig(mac=b"", alg="foo.bar")])
    cases["tsig, NXDOMAIN name"] = query("nope.example.com", records=[tsig()])
    cases["tsig, name outside"] = query("www.example.net", records=[tsig()])
    cases["tsig, CH"] = query("id.server", 16, 3, records=[tsig()])
    cases["tsig, AXFR"] = query("example.com", 252, records=[tsig()])
    cases["tsig, opcode STATUS"] = query(flags=RD | 2 << 11, records=[tsig()])
    cases["tsig before the OPT"] = query(records=[tsig(), opt()])
    cases["tsig twice"] = query(records=[tsig(), tsig()])
    cases["tsig, TTL 1"] = query(records=[tsig(ttl=1)])
    cases["tsig, class IN"] = query(records=[tsig(cls=1)])
    cases["tsig, cut short"] = query(records=[tsig()[:-3]])
    cases["tsig, 17 bytes of Other Data"] = query(records=[tsig(other=b"x" * 17)])
    cases["tsig, an answer record too"] = query(an=1, records=[
        b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4", tsig()], ar=1)
    cases[TSIG_OTHER_DATA] = query(records=[tsig(error=18, other=b"\0\0\0\0\0\1")])
    cases[TSIG_BADVERS] = query(records=[opt(version=1), tsig()])
    # NSID
    for qname in ("www.example.com", "nope.example.com", "www.example.net", "big.example.com"):
        cases["NSID, %s" % qname] = query(qname, 16 if qname.startswith("big") else 1,
                                          records=[opt(options=[(NSID_OPT, b"")])])
    cases["NSID with data"] = query(records=[opt(options=[(NSID_OPT, b"abc")])])
    cases["NSID, no question"] = query(with_question=False, records=[
        opt(options=[(NSID_OPT, b"")])])
    cases["NSID, EDNS version 1"] = query(records=[opt(version=1, options=[(NSID_OPT, b"")])])
    cases["NSID, 512 bytes and truncated"] = query("big.example.com", 16, records=[
        opt(size=512, options=[(NSID_OPT, b"")])])
    # malformed EDNS options, and options either ignores
    cases["option past the RDATA"] = query(records=[opt(raw=b"\0\3\0\5ab")])
    cases["option header cut"] = query(records=[opt(raw=b"\0\3")])
    cases["3 bytes after an option"] = query(records=[opt(options=[(NSID_OPT, b"")],
                                                          raw=b"\0\1\0")])
    cases["OPT RDATA past the packet"] = query(records=[opt()[:-2] + b"\0\x20"])
    cases["unknown option"] = query(records=[opt(options=[(65001, b"xyz")])])
    cases["padding"] = query(records=[opt(options=[(12, b"\0" * 10)])])
    cases["client cookie"] = query(records=[opt(options=[(10, b"12345678")])])
    cases["malformed option, version 1"] = query(records=[opt(version=1, raw=b"\0\3\0\5")])
    cases["no question, malformed option"] = query(with_question=False,
                                                   records=[opt(raw=b"\0\3\0\5")])
    # keepalive over UDP: ignored, TIMEOUT or not
    cases["keepalive"] = query(records=[opt(options=[(KEEPALIVE_OPT, b"")])])
    cases["keepalive with a TIMEOUT"] = query(records=[opt(options=[(KEEPALIVE_OPT, b"\0d")])])
    cases["keepalive, 1 byte"] = query(records=[opt(options=[(KEEPALIVE_OPT, b"\0")])])
    # other odd shapes
    rr_a = b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4"
    cases["RCODE bits in the query"] = query(flags=RD | 5)
    cases["AA TC RA Z in the query"] = query(flags=RD | AA | TC | RA | Z)
    cases["EDNS version 1, every flag"] = query(flags=RD | AA | TC | RA | Z | AD | CD,
                                                records=[opt(version=1, do=True)])
    cases["EDNS version 1, outside"] = query("www.example.net", records=[opt(version=1)])
    cases["extended rcode bits in the OPT"] = query(records=[opt(ext=5)])
    cases["two OPT"] = query(records=[opt(), opt()])
    cases["OPT not owned by the root"] = query(records=[b"\xc0\x0c" + opt()[1:]])
    cases["an A record after the OPT"] = query(records=[opt(), rr_a])
    cases["an A record before the OPT"] = query(records=[rr_a, opt()])
    cases["an answer record"] = query(an=1, records=[rr_a], ar=0)
    cases["an authority record"] = query(ns=1, records=[rr_a], ar=0)
    cases["ARCOUNT past the records"] = query(ar=1)
    cases["QDCOUNT 2"] = query(qd=2, records=[question("a.example.com")], ar=0)
    cases["QDCOUNT 0, a question"] = query(qd=0)
    cases["question cut"] = query()[:-2]
    cases["pointer in the question"] = header() + b"\xc0\x04\0\1\0\1"
    cases["trailing bytes"] = query() + b"\0\0\0"
    cases["AXFR"] = query("example.com", 252, records=[opt()])
    cases["IXFR"] = query("example.com", 251, records=[opt()])
    soa = b"\xc0\x0c\0\6\0\1\0\0\0\0\0\x16" + b"\0\0" + b"\0" * 20
    cases["IXFR with its SOA"] = query("example.com", 251, ns=1, records=[soa], ar=0)
    for qtype in (0, 41, 249, 250, 253, 254):
        cases["type %d" % qtype] = query("www.example.com", qtype)
    return cases


TSIG_OTHER_DATA = "tsig, an error and Other Data in the query"
TSIG_BADVERS = "tsig, EDNS version 1"

# Over TCP: transfers are refused (no provide-xfr), answers are never truncated.
TCP_CASES = {
    "TCP AXFR": query("example.com", 252, records=[opt()]),
    "TCP IXFR": query("example.com", 251, records=[opt()]),
    "TCP big TXT without EDNS": query("big.example.com", 16),
    "TCP big TXT, 512-byte EDNS": query("big.example.com", 16, records=[opt(size=512)]),
    "TCP notimp": query(flags=RD | 1 << 11),
    "TCP tsig": query(records=[opt(), tsig()]),
}


class RawDifferential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ours = SERVERS["ours"]
        cls.nsd = SERVERS["nsd"]

    def exchange(self, payload, tcp=False):
        """Both servers' replies to payload, parsed. NSD drops error replies past 100 a
        second (ERROR_RATELIMIT), so its queries are paced below that."""
        time.sleep(0.015)
        if tcp:
            a, b = tcp_ask(self.ours.port, payload), tcp_ask(self.nsd.port, payload)
        else:
            a = harness.raw_query(self.ours.port, payload, timeout=2)
            b = harness.raw_query(self.nsd.port, payload, timeout=2)
        return a, b

    def compare(self, what, payload, tcp=False):
        a, b = self.exchange(payload, tcp)
        text = "%s: %s\n--- pindns: %s\n--- nsd:    %s" % (
            what, payload.hex(), a and a.hex(), b and b.hex())
        self.assertEqual(a is None, b is None, text)
        if a is None:
            return None, None
        ours, theirs = parse(a), parse(b)
        text += "\n--- pindns: %s\n--- nsd:    %s" % (ours, theirs)
        # NSD's additional section may hold less: see the module comment.
        extra = set(ours["sections"][2]) - set(theirs["sections"][2])
        self.assertTrue(set(theirs["sections"][2]) <= set(ours["sections"][2]), text)
        for rr in extra:
            self.assertIn(rr[1], (1, 28), text)
        for r in (ours, theirs):
            r["sections"] = tuple(sorted(s) for s in r["sections"][:2])
            r["counts"] = r["counts"][:3] + (r["counts"][3] - len(extra) if r is ours
                                             else r["counts"][3],)
        if what == TSIG_OTHER_DATA:
            # NSD echoes the query's Other Len and Data after the error; we send none.
            self.assertTrue(theirs["tsig"][4].endswith("0006000000000001"), text)
            rr = theirs["tsig"]
            theirs["tsig"] = rr[:4] + (rr[4][:-16] + "0000",) + rr[5:]
        if what == TSIG_BADVERS:
            # NSD's OPT says BADVERS under a NOTAUTH header; ours is a plain version-0 OPT.
            self.assertEqual(theirs["opt"]["ext_rcode"], 1, text)
            self.assertEqual(ours["opt"]["ext_rcode"], 0, text)
            theirs["opt"]["ext_rcode"] = 0
        self.assertEqual(ours, theirs, text)
        return ours, theirs

    def test_raw_packets(self):
        checked = 0
        for what, payload in raw_cases().items():
            if "NSID" in what and not SERVERS["nsid"]:
                continue
            with self.subTest(what):
                self.compare(what, payload)
                checked += 1
        self.assertGreater(checked, 200)

    def test_nsid(self):
        if not SERVERS["nsid"]:
            self.skipTest("pindnsd --help names no nsid: key yet, so NSID is not compared")
        ours, _ = self.compare("NSID", query(records=[opt(options=[(NSID_OPT, b"")])]))
        self.assertEqual(ours["opt"]["options"], [(NSID_OPT, NSID.encode().hex())])

    def test_tcp(self):
        for what, payload in TCP_CASES.items():
            with self.subTest(what):
                ours, _ = self.compare(what, payload, tcp=True)
                self.assertFalse(int(ours["flags"], 16) & TC)

    def test_keepalive_over_tcp(self):
        """NSD 4.6 does not do RFC 7828: only the rest of the answer is compared."""
        q = query(records=[opt(options=[(KEEPALIVE_OPT, b"")])])
        a, b = self.exchange(q, tcp=True)
        ours, theirs = parse(a), parse(b)
        self.assertEqual(len(ours["opt"]["options"]), 1, ours)
        code, timeout = ours["opt"]["options"][0]
        self.assertEqual(code, KEEPALIVE_OPT)
        self.assertEqual(len(timeout), 4)  # 2 bytes, in hex
        ours["opt"]["options"] = []
        self.assertEqual(ours, theirs)
        # A TIMEOUT in a query: FORMERR from us (3.2.1, as Unbound), an answer from NSD.
        q = query(records=[opt(options=[(KEEPALIVE_OPT, b"\0d")])])
        a, b = self.exchange(q, tcp=True)
        self.assertEqual(parse(a)["flags"], "%04x" % (QR | RD | 1))
        self.assertEqual(parse(a)["counts"], (0, 0, 0, 0))
        self.assertEqual(parse(b)["flags"], "%04x" % (QR | AA | RD))

    def test_tsig_with_dig(self):
        """dig -y signs with a key neither server has: both say BADKEY, unsigned."""
        replies = []
        for srv in (self.ours, self.nsd):
            out = subprocess.run(
                ["dig", "@127.0.0.1", "-p", str(srv.port), "+norec", "+nocookie",
                 "+tries=1", "+time=2", "+notcp", "-y", "hmac-sha256:Key.Example:c2VjcmV0",
                 "www.example.com", "A"], capture_output=True, text=True, timeout=20).stdout
            # The record in the TSIG pseudosection: the one line whose type field is TSIG.
            rrs = [l.split() for l in out.splitlines()
                   if not l.startswith(";") and l.split()[3:4] == ["TSIG"]]
            replies.append((harness.Reply(out), rrs))
        (a, ta), (b, tb) = replies
        self.assertEqual(a.rcode, "NOTAUTH", a.text)
        both = "%s\n---\n%s" % (a.text, b.text)
        self.assertEqual((a.rcode, a.flags, a.counts, a.edns),
                         (b.rcode, b.flags, b.counts, b.edns), both)
        # key, TTL, class, type, algorithm, (time), fudge, MAC size, (ID), error, other len
        pick = [0, 1, 2, 3, 4, 6, 7, 9, 10]
        self.assertEqual(len(ta), 1, a.text)
        self.assertEqual([ta[0][i] for i in pick], [tb[0][i] for i in pick], both)
        self.assertEqual(ta[0][9], "BADKEY")


if __name__ == "__main__":
    harness.main(verbosity=1)
