"""Hostile input: a fixed corpus of malformed DNS queries, each with what pindnsd must do.

The expectations are the rules of lib/core/query.c and lib/core/answer.c, which take
NSD's choices: a packet shorter than a header or with QR set is dropped; another
opcode than QUERY and NOTIFY gets NOTIMP with the query's flags and nothing else; a
question that does not parse, rcode bits in a query, answer or authority records (but
an IXFR's SOA), additional records other than one OPT first and one TSIG last, and a
malformed OPT or TSIG get FORMERR, the header alone; QDCOUNT other than 1 gets FORMERR
with no flag but QR (unless it is the EDNS probe, QDCOUNT 0 and an OPT alone); a class
other than IN, ANY and CH is REFUSED without the question; bytes after the records the
counts say are ignored. test_hostile.py sends the corpus to a real pindnsd over UDP and
TCP; over TCP a packet dropped over UDP closes the connection and TC is never set.

The corpus is the same on every run (one seeded random generator). Families:
truncation, compression, names, counts, opt, opcode, class, misc, flip (random bit
flips of valid queries: dropped when QR ends up set, else some well-formed reply with
the ID, opcode and question asked) and cookie (RFC 7873 5.2.2: a COOKIE option of 0 to
7, 9 to 15 or more than 40 bytes is FORMERR; 8 and 16 to 40 are not).

As a program, `hostile.py --out DIR` writes each packet as DIR/NNNN-family.bin and
every expectation to DIR/expectations.json; `hostile.py` alone prints the families.
"""

import argparse
import ipaddress
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SEED = 14  # pindns issue 14; change it and every run still gets one same corpus

QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
OPCODE_MASK, RCODE_MASK = 0x7800, 0x000F
OP_QUERY, OP_NOTIFY = 0, 4
NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED, NOTAUTH = 0, 1, 3, 4, 5, 9
BADVERS, BADKEY, BADCOOKIE = 16, 17, 23
T_A, T_SOA, T_TXT, T_AAAA, T_OPT = 1, 6, 16, 28, 41
T_TSIG, T_IXFR, T_AXFR, T_ANY = 250, 251, 252, 255
C_IN, C_CH, C_ANY = 1, 3, 255
O_NSID, O_COOKIE, O_KEEPALIVE, O_PADDING, O_EDE = 3, 10, 11, 12, 15
EDE_PROHIBITED, EDE_NOT_AUTHORITATIVE, EDE_NOT_SUPPORTED = 18, 20, 21
PKT_MAX = 4096  # lib/net: a bigger datagram is cut by the kernel, and dropped

ID_VALID = 0xC000  # the valid queries' IDs start here; the corpus's stay below


# --- building messages --------------------------------------------------------------------

name = harness.encode_name  # a dotted name in wire form, uncompressed


def header(flags=RD, qd=1, an=0, ns=0, ar=0, qid=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname="www.example.com", qtype=T_A, qclass=C_IN):
    raw = qname if isinstance(qname, bytes) else name(qname)
    return raw + struct.pack("!HH", qtype, qclass)


def options(*opts):
    return b"".join(struct.pack("!HH", code, len(data)) + data for code, data in opts)


def opt(size=1232, ext=0, version=0, flags=0, rdata=b"", rdlen=None, owner=b"\0"):
    """An OPT record; rdata is raw option bytes (see options())."""
    rdlen = len(rdata) if rdlen is None else rdlen
    return owner + struct.pack("!HHBBHH", T_OPT, size, ext, version, flags, rdlen) + rdata


def rr(owner, rtype, rclass=C_IN, ttl=300, rdata=b"", rdlen=None):
    rdlen = len(rdata) if rdlen is None else rdlen
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, rdlen) + rdata


def tsig(key=b"\1k\0", alg=None, ttl=0, rclass=C_ANY, mac=b"", macsize=None, other=b"",
         otherlen=None, rdlen=None, extra=b""):
    """A TSIG record (RFC 8945 4.2) with the fields given; sizes may lie."""
    alg = name("hmac-sha256") if alg is None else alg
    rdata = (alg + b"\0\0\0\0\0\0" + b"\x01\x2c" +
             struct.pack("!H", len(mac) if macsize is None else macsize) + mac +
             struct.pack("!HHH", 0x1234, 0, len(other) if otherlen is None else otherlen) +
             other + extra)
    return rr(key, T_TSIG, rclass, ttl, rdata, rdlen)


SOA_RDATA = b"\3ns1\xc0\x0c" + b"\4host\xc0\x0c" + struct.pack("!IIIII", 1, 7200, 3600,
                                                                   1209600, 300)
Q_WWW = question("www.example.com")
Q_APEX_SOA = question("example.com", T_SOA)


def msg(flags=RD, qd=1, an=0, ns=0, ar=0, body=Q_WWW):
    return header(flags, qd, an, ns, ar) + body


# --- expectations -------------------------------------------------------------------------

class Expect:
    """What the server must do with one packet on one transport.

    kind "drop": no reply (over TCP: the connection closed, nothing sent). "reply": a
    well-formed reply with the packet's ID, and every field given here exactly: flags
    (all 16 bits, rcode included), question (the bytes echoed after the header; b"" for
    none, QDCOUNT 0), counts (AN, NS, AR), length, opt (an OPT record there or not),
    ext_rcode (the OPT's upper rcode bits), ede (an EDE INFO-CODE in the OPT), answer
    (the answer section's records as (type, rdata)) and tsig_error (the TSIG record
    ending the reply, with that error). "any": some well-formed reply with the ID, QR,
    the opcode and the question asked (a bit flip's). "not-formerr": a well-formed reply,
    no FORMERR, NOERROR or BADCOOKIE, with the question given and an OPT (a cookie of a
    valid length)."""

    FIELDS = ("flags", "question", "counts", "length", "opt", "ext_rcode", "ede", "answer",
              "tsig_error")

    def __init__(self, kind, **fields):
        assert kind in ("drop", "reply", "any", "not-formerr"), kind
        unknown = set(fields) - set(self.FIELDS)
        assert not unknown, unknown
        self.kind = kind
        self.fields = fields

    def __getattr__(self, key):
        if key in Expect.FIELDS:
            return self.fields.get(key)
        raise AttributeError(key)

    def but(self, **fields):
        """A copy with these fields changed."""
        f = dict(self.fields)
        f.update(fields)
        return Expect(self.kind, **f)

    def over_tcp(self):
        """The same over TCP: the reply never has TC (the whole answer fits, and the TC a
        NOTIMP copies from the query is cleared; lib/core/answer.c pd__finish)."""
        if self.kind == "reply" and self.flags is not None:
            return self.but(flags=self.flags & ~TC)
        return self

    def to_json(self):
        out = {"kind": self.kind}
        for k, v in self.fields.items():
            if isinstance(v, bytes):
                v = v.hex()
            elif k == "flags":
                v = "0x%04x" % v
            elif k == "answer":
                v = [[t, d.hex()] for t, d in v]
            out[k] = v
        return out


DROP = Expect("drop")


def echoed_flags(pflags, rcode):
    """The query's own flags, as NOTIMP, NOTIFY, TSIG and BADVERS answers send them: QR
    set, AD cleared, the rcode's low bits replaced."""
    return QR | (pflags & ~(AD | RCODE_MASK)) | (rcode & RCODE_MASK)


def answer_flags(pflags, rcode=NOERROR, aa=True):
    """An answer's flags: QR, the opcode and RD echoed, AA when the zone is the
    authority for the class (IN)."""
    return QR | (pflags & (OPCODE_MASK | RD)) | (AA if aa else 0) | (rcode & RCODE_MASK)


def formerr(pflags, qdcount=False):
    """FORMERR as NSD sends it: the header alone, QR, the opcode and RD echoed; for a
    QDCOUNT other than 1 (the question read), no flag but QR (NSD clears them)."""
    flags = QR | FORMERR | (0 if qdcount else pflags & (OPCODE_MASK | RD))
    return Expect("reply", flags=flags, question=b"", counts=(0, 0, 0), length=12, opt=False)


def notimp(pflags):
    return Expect("reply", flags=echoed_flags(pflags, NOTIMP), question=b"", counts=(0, 0, 0),
                  length=12, opt=False)


def answer(pflags, q, edns, records=(), ns=0, rcode=NOERROR, aa=True):
    """A NOERROR (or NXDOMAIN) answer with the question q echoed, records in the answer
    section (type, rdata) and ns in authority, our OPT when the query had EDNS."""
    return Expect("reply", flags=answer_flags(pflags, rcode, aa), question=q,
                  counts=(len(records), ns, 1 if edns else 0), opt=edns,
                  answer=list(records))


A_WWW = (T_A, bytes([192, 0, 2, 80]))


def www(pflags, edns=False, aa=True):
    return answer(pflags, Q_WWW, edns, [A_WWW], aa=aa)


def refused(pflags, q, edns, ede):
    """REFUSED with the question q echoed (b"" for none) and, with EDNS, the EDE."""
    return Expect("reply", flags=answer_flags(pflags, REFUSED, aa=False), question=q,
                  counts=(0, 0, 1 if edns else 0), opt=edns, ede=ede if edns else None)


def notauth(pflags, edns, bare=False):
    """A TSIG with a key we do not have: NOTAUTH, the query's flags, no question, our
    OPT when the query had one (without options for another version), the TSIG
    (BADKEY) last."""
    return Expect("reply", flags=echoed_flags(pflags, NOTAUTH), question=b"",
                  counts=(0, 0, 2 if edns else 1), opt=edns, tsig_error=BADKEY,
                  **({"ext_rcode": 0} if edns and bare else {}))


def badvers(pflags, q):
    """RFC 6891 6.1.3: BADVERS (16: 0 in the header, 1 in the OPT), the question echoed."""
    return Expect("reply", flags=echoed_flags(pflags, BADVERS), question=q, counts=(0, 0, 1),
                  opt=True, ext_rcode=BADVERS >> 4)


LOOSE = Expect("any")


# --- the corpus ---------------------------------------------------------------------------

class Case:
    """One packet of the corpus: its family, what it is, and what UDP and TCP must do."""

    def __init__(self, family, what, packet, udp, tcp=None):
        self.family = family
        self.what = what
        self.packet = bytes(packet)
        self.udp = udp
        self.tcp = udp.over_tcp() if tcp is None else tcp
        self.same_over_tcp = tcp is None  # the TCP reply is the UDP one but for TC

    def __repr__(self):
        return "%s: %s (%d bytes)" % (self.family, self.what, len(self.packet))


def _valid_bases():
    """Well-formed queries of many shapes: (label, packet, how it is answered)."""
    e = opt()
    nsid_ka = opt(rdata=options((O_NSID, b""), (O_KEEPALIVE, b"")))
    t = tsig()
    ixfr = question("example.com", T_IXFR)
    return [
        ("www A", msg(), www(RD)),
        ("www A, EDNS", msg(ar=1, body=Q_WWW + e), www(RD, edns=True)),
        ("www A, EDNS NSID keepalive", msg(ar=1, body=Q_WWW + nsid_ka), www(RD, edns=True)),
        ("www A, TSIG", msg(ar=1, body=Q_WWW + t), notauth(RD, False)),
        ("www A, EDNS TSIG", msg(ar=2, body=Q_WWW + e + t), notauth(RD, True)),
        ("wildcard TXT, EDNS DO",
         msg(ar=1, body=question("a.b.apps.example.com", T_TXT) + opt(flags=0x8000)),
         answer(RD, question("a.b.apps.example.com", T_TXT), True,
                [(T_TXT, b"\x08wildcard")])),
        ("NOTIFY example.com SOA", msg(flags=0x2400, body=Q_APEX_SOA),
         Expect("reply", flags=echoed_flags(0x2400, REFUSED), question=b"", counts=(0, 0, 0),
                length=12, opt=False)),
        ("IXFR with its SOA", msg(ns=1, body=ixfr + rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA)),
         refused(RD, ixfr, False, EDE_PROHIBITED)),
        ("EDNS probe (QDCOUNT 0)", msg(qd=0, ar=1, body=opt()),
         Expect("reply", flags=QR | RD, question=b"", counts=(0, 0, 1), opt=True)),
    ]


def family_truncation(rnd):
    """Every valid query cut at every length short of whole: below 12 bytes dropped,
    otherwise FORMERR (something the counts promise is missing). The EDNS probe cut
    before its OPT's first 5 bytes fails the question read (flags echoed); cut after,
    its OPT (QDCOUNT 0: no flag but QR)."""
    out = []
    for label, pkt, _ in _valid_bases():
        flags = struct.unpack("!H", pkt[2:4])[0]
        probe = label.startswith("EDNS probe")
        for k in range(len(pkt)):
            if k < 12:
                exp = DROP
            elif probe and k >= 12 + 5:
                exp = formerr(flags, qdcount=True)
            else:
                exp = formerr(flags)
            out.append(Case("truncation", "%s cut to %d of %d bytes" % (label, k, len(pkt)),
                            pkt[:k], exp))
    return out


def family_compression(rnd):
    """Pointers in the question (never allowed there: it is the first name), loops,
    pointers to themselves and forward in the records after it; valid backward pointers
    in a TSIG and an IXFR's SOA for contrast."""
    out = []
    tail = struct.pack("!HH", T_A, C_IN)

    def q_case(what, qname):
        out.append(Case("compression", "question: " + what, msg(body=qname + tail),
                        formerr(RD)))

    q_case("pointer to itself", b"\xc0\x0c")
    for target in range(12):
        q_case("pointer into the header at %d" % target, bytes([0xC0, target]))
    q_case("forward pointer", b"\xc0\x20" + b"\0" * 32)
    q_case("pointer far past the end", b"\xff\xff")
    q_case("label then pointer back to the question", b"\3www\xc0\x0c")
    q_case("two labels then pointer to the second", b"\3www\7example\xc0\x10")
    q_case("label then pointer to the root of the header", b"\3www\xc0\x05")
    q_case("pointer, its second byte missing", b"\3www\xc0")
    q_case("label type 0x40", b"\x41a\0")
    q_case("label type 0x80", b"\x81a\0")
    q_case("pointer 0xC0 after 63 bytes", b"\x3f" + b"a" * 63 + b"\xc0\x0c")

    key_at = 12 + len(Q_WWW)  # where the TSIG's key name starts

    def t_case(what, record, exp):
        out.append(Case("compression", "TSIG: " + what, msg(ar=1, body=Q_WWW + record), exp))

    t_case("key name a pointer to the question", tsig(key=b"\xc0\x0c"), notauth(RD, False))
    t_case("key name a pointer to itself", tsig(key=struct.pack("!H", 0xC000 | key_at)),
           formerr(RD))
    t_case("key name a forward pointer", tsig(key=struct.pack("!H", 0xC000 | key_at + 20)),
           formerr(RD))
    t_case("key name a label then a pointer to itself",
           tsig(key=b"\1k" + struct.pack("!H", 0xC000 | key_at)), formerr(RD))
    # Two hops, then back to the first: a loop no single pointer shows.
    loop2 = (b"\1k" + struct.pack("!H", 0xC000 | key_at + 4) +
             struct.pack("!H", 0xC000 | key_at))
    t_case("key name pointing at a pointer that points back", tsig(key=loop2), formerr(RD))
    # Any zero byte reads as the root: the question's type (0x0001) has one first.
    t_case("key name a pointer to the question's type (the root)", tsig(key=b"\xc0\x1d"),
           notauth(RD, False))
    t_case("algorithm a pointer to the key name", tsig(alg=struct.pack("!H", 0xC000 | key_at)),
           notauth(RD, False))
    alg_at = key_at + 3 + 10
    t_case("algorithm a pointer to itself", tsig(alg=struct.pack("!H", 0xC000 | alg_at)),
           formerr(RD))
    t_case("algorithm a forward pointer", tsig(alg=struct.pack("!H", 0xC000 | alg_at + 2)),
           formerr(RD))
    t_case("key name a pointer to the QDCOUNT's zero byte (the root)", tsig(key=b"\xc0\x04"),
           notauth(RD, False))

    ixfr = question("example.com", T_IXFR)
    soa_at = 12 + len(ixfr)

    def i_case(what, record, exp):
        out.append(Case("compression", "IXFR authority: " + what,
                        msg(ns=1, body=ixfr + record), exp))

    i_case("owner a pointer to itself",
           rr(struct.pack("!H", 0xC000 | soa_at), T_SOA, rdata=SOA_RDATA), formerr(RD))
    i_case("owner a forward pointer",
           rr(struct.pack("!H", 0xC000 | soa_at + 4), T_SOA, rdata=SOA_RDATA), formerr(RD))
    i_case("owner a label then a loop",
           rr(b"\1x" + struct.pack("!H", 0xC000 | soa_at), T_SOA, rdata=SOA_RDATA), formerr(RD))
    i_case("owner a pointer to the question", rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA),
           refused(RD, ixfr, False, EDE_PROHIBITED))
    # As NSD, the RDATA of a record skipped is not read: a loop there goes unseen.
    rd_at = soa_at + 2 + 10
    bad_rdata = struct.pack("!H", 0xC000 | rd_at) + SOA_RDATA[6:]
    i_case("SOA RDATA with a pointer to itself (not read)",
           rr(b"\xc0\x0c", T_SOA, rdata=bad_rdata), refused(RD, ixfr, False, EDE_PROHIBITED))
    i_case("owner a pointer, its second byte missing", b"\xc0", formerr(RD))

    out.append(Case("compression", "OPT owner a pointer to the question's root",
                    msg(ar=1, body=Q_WWW + opt(owner=b"\xc0\x1c")), formerr(RD)))
    out.append(Case("compression", "additional A record owned by a pointer to the question",
                    msg(ar=1, body=Q_WWW + rr(b"\xc0\x0c", T_A, rdata=b"\1\2\3\4")),
                    formerr(RD)))
    out.append(Case("compression", "counts lower than the loops: an A record ignored",
                    msg(ar=0, body=Q_WWW + rr(b"\xc0\x1f", T_A, rdata=b"\1\2\3\4")), www(RD)))
    return out


def _long_name(total, under="example.com"):
    """A name of total bytes in wire form ending in under: 63-byte labels, then one to
    make up the rest (at least 2 bytes: a label of 1)."""
    suffix = name(under)
    left = total - len(suffix)
    labels = []
    while left > 0:
        n = min(63, left - 1)
        if left - (n + 1) == 1:  # a 1-byte remainder cannot be a label
            n -= 1
        labels.append(bytes([n]) + b"x" * n)
        left -= n + 1
    out = b"".join(labels) + suffix
    assert len(out) == total, (len(out), total)
    return out


def family_names(rnd):
    """Labels over 63 bytes and names over 255, in the question, in a TSIG and through
    a compression pointer; 63 and 255 exactly for contrast."""
    out = []
    tail = struct.pack("!HH", T_A, C_IN)
    for n in (64, 65, 100, 127, 128, 150, 191):
        raw = bytes([n]) + b"x" * n + name("example.com")
        out.append(Case("names", "question label of %d" % n, msg(body=raw + tail), formerr(RD)))
    l63 = b"\x3f" + b"x" * 63 + name("example.com")
    out.append(Case("names", "question label of 63 (NXDOMAIN)", msg(body=l63 + tail),
                    answer(RD, l63 + tail, False, ns=1, rcode=NXDOMAIN)))
    for total in (255, 254, 200):
        raw = _long_name(total)
        out.append(Case("names", "question name of %d bytes (NXDOMAIN)" % total,
                        msg(body=raw + tail), answer(RD, raw + tail, False, ns=1,
                                                     rcode=NXDOMAIN)))
        out.append(Case("names", "question name of %d bytes, EDNS (NXDOMAIN)" % total,
                        msg(ar=1, body=raw + tail + opt()),
                        answer(RD, raw + tail, True, ns=1, rcode=NXDOMAIN)))
    for total in (256, 257, 300, 400):
        raw = _long_name(total)
        out.append(Case("names", "question name of %d bytes" % total, msg(body=raw + tail),
                        formerr(RD)))
    dots127 = b"\1a" * 127 + b"\0"  # 255 bytes, 127 labels: no zone of ours
    out.append(Case("names", "question of 127 labels (255 bytes, no zone)",
                    msg(body=dots127 + tail), refused(RD, dots127 + tail, False,
                                                      EDE_NOT_AUTHORITATIVE)))
    dots128 = b"\1a" * 128 + b"\0"
    out.append(Case("names", "question of 128 labels (257 bytes)", msg(body=dots128 + tail),
                    formerr(RD)))
    nolabel = b"\3www\7example\3com"  # no root label: the name runs into the type
    out.append(Case("names", "question name whose root label is the type's first byte",
                    msg(body=nolabel + b"\0\1\0\1"), formerr(RD)))

    def t_case(what, key, exp):
        out.append(Case("names", "TSIG " + what, msg(ar=1, body=Q_WWW + tsig(key=key)), exp))

    t_case("key name with a label of 64", b"\x40" + b"k" * 64 + b"\0", formerr(RD))
    t_case("key name of 256 bytes", _long_name(256, "k"), formerr(RD))
    t_case("key name of 255 bytes", _long_name(255, "k"), notauth(RD, False))
    # The question's name is 17 bytes: a key of 238 + 17 is 255, of 239 + 17 is 256.
    for head, exp in ((238, notauth(RD, False)), (239, formerr(RD))):
        prefix = _long_name(head + 1, ".")[:-1]  # head bytes of labels, no root
        t_case("key name of %d bytes and a pointer to the question (%d in all)" % (
            head, head + 17), prefix + b"\xc0\x0c", exp)
    return out


def _records_expect(pflags, q, recs, qd, an, ns, ar):
    """What a QUERY of type A gets whose question q is followed by the records recs
    (their kinds, in order: "opt", "tsig", "other") under these counts: query.c's
    pd__parse_records, as NSD. The question parses, so a QDCOUNT other than 1 is
    FORMERR with QR alone; then no answers, no authority; of the additional
    records an OPT first, a TSIG next, ARCOUNT of them in all; what follows them is
    ignored."""
    if qd != 1:
        return formerr(pflags, qdcount=True)
    if an or ns:
        return formerr(pflags)
    i, left, edns, signed = 0, ar, False, False
    if left and i < len(recs) and recs[i] == "opt":
        edns, i, left = True, i + 1, left - 1
    if left:
        if i < len(recs) and recs[i] == "tsig":
            signed, i, left = True, i + 1, left - 1
        else:
            return formerr(pflags)
    if left:
        return formerr(pflags)
    return notauth(pflags, edns) if signed else www(pflags, edns)


def family_counts(rnd):
    """Counts that lie both ways: each of QD, AN, NS and AR set higher and lower than the
    records there, over messages of several shapes."""
    a_rec = rr(b"\xc0\x0c", T_A, rdata=bytes([192, 0, 2, 1]))
    soa = rr(b"\xc0\x10", T_SOA, rdata=SOA_RDATA)
    shapes = [
        ("question", [], (1, 0, 0, 0)),
        ("question OPT", [("opt", opt())], (1, 0, 0, 1)),
        ("question TSIG", [("tsig", tsig())], (1, 0, 0, 1)),
        ("question OPT TSIG", [("opt", opt()), ("tsig", tsig())], (1, 0, 0, 2)),
        ("two questions", [("other", Q_WWW)], (2, 0, 0, 0)),
        ("question, an A answer", [("other", a_rec)], (1, 1, 0, 0)),
        ("question, an A answer, OPT", [("other", a_rec), ("opt", opt())], (1, 1, 0, 1)),
        ("question, a SOA in authority", [("other", soa)], (1, 0, 1, 0)),
        ("question, SOA in authority, OPT", [("other", soa), ("opt", opt())], (1, 0, 1, 1)),
        ("question OPT OPT", [("opt", opt()), ("opt", opt())], (1, 0, 0, 2)),
    ]
    out = []
    seen = set()
    for label, recs, true in shapes:
        body = Q_WWW + b"".join(r for _, r in recs)
        kinds = [k for k, _ in recs]
        for which in range(4):
            for value in sorted({0, 1, 2, 3, true[which] + 1, 65535} - {true[which]}):
                counts = list(true)
                counts[which] = value
                key = (label, tuple(counts))
                if key in seen:
                    continue
                seen.add(key)
                qd, an, ns, ar = counts
                what = "%s, %s %d (there: %d)" % (label, "QD AN NS AR".split()[which], value,
                                                  true[which])
                out.append(Case("counts", what, msg(RD, qd, an, ns, ar, body),
                                _records_expect(RD, Q_WWW, kinds, qd, an, ns, ar)))
    # The real counts of each shape, for contrast (the lying ones differ from these).
    for label, recs, true in shapes:
        body = Q_WWW + b"".join(r for _, r in recs)
        out.append(Case("counts", "%s, counts true" % label, msg(RD, *true, body=body),
                        _records_expect(RD, Q_WWW, [k for k, _ in recs], *true)))
    out.append(Case("counts", "all counts 65535, a question only",
                    msg(RD, 65535, 65535, 65535, 65535), formerr(RD, qdcount=True)))
    out.append(Case("counts", "QD 1, the others 65535", msg(RD, 1, 65535, 65535, 65535),
                    formerr(RD)))
    out.append(Case("counts", "QD 0, the header alone", header(RD, 0), formerr(RD)))
    out.append(Case("counts", "QD 0, a question there", msg(qd=0), formerr(RD, qdcount=True)))
    # The EDNS probe, QDCOUNT 0: NOERROR only for an OPT alone, counted alone.
    probe = opt()
    for (qd, an, ns, ar), exp in (
            ((0, 0, 0, 1), Expect("reply", flags=QR | RD, question=b"", counts=(0, 0, 1),
                                  opt=True)),
            ((0, 0, 0, 2), formerr(RD, qdcount=True)),
            ((0, 1, 0, 1), formerr(RD, qdcount=True)),
            ((0, 0, 1, 1), formerr(RD, qdcount=True)),
            ((0, 0, 0, 0), formerr(RD, qdcount=True)),
            ((2, 0, 0, 1), formerr(RD, qdcount=True))):
        out.append(Case("counts", "EDNS probe, counts %d %d %d %d" % (qd, an, ns, ar),
                        msg(RD, qd, an, ns, ar, probe), exp))
    out.append(Case("counts", "EDNS probe and a TSIG, AR 2",
                    msg(RD, 0, 0, 0, 2, probe + tsig()), formerr(RD, qdcount=True)))
    return out


def family_opt(rnd):
    """OPT where it may not be (answer, authority), twice, owned by another name than the
    root, cut short or with RDATA that is not whole options; other versions; the fields
    a server ignores."""
    out = []
    e = opt()

    def case(what, pkt, exp, tcp=None):
        out.append(Case("opt", what, pkt, exp, tcp))

    case("OPT in the answer section", msg(an=1, body=Q_WWW + e), formerr(RD))
    case("OPT in answer and additional", msg(an=1, ar=1, body=Q_WWW + e + e), formerr(RD))
    case("OPT in authority", msg(ns=1, body=Q_WWW + e), formerr(RD))
    case("OPT in authority and additional", msg(ns=1, ar=1, body=Q_WWW + e + e), formerr(RD))
    ixfr = question("example.com", T_IXFR)
    # An IXFR's authority records are skipped unread: an OPT there is no EDNS.
    case("IXFR, OPT in authority", msg(ns=1, body=ixfr + e),
         refused(RD, ixfr, False, EDE_PROHIBITED))
    case("IXFR, OPT in authority and additional", msg(ns=1, ar=1, body=ixfr + e + e),
         refused(RD, ixfr, True, EDE_PROHIBITED))
    case("two OPTs, AR 2", msg(ar=2, body=Q_WWW + e + e), formerr(RD))
    case("two OPTs, AR 1 (the second ignored)", msg(ar=1, body=Q_WWW + e + e), www(RD, True))
    case("OPT then TSIG then OPT, AR 3", msg(ar=3, body=Q_WWW + e + tsig() + e), formerr(RD))
    case("TSIG then OPT", msg(ar=2, body=Q_WWW + tsig() + e), formerr(RD))
    for owner, what in ((b"\1a\0", "a"), (name("www.example.com"), "www.example.com"),
                        (b"\xc0\x0c", "a pointer to the question"), (b"\1\0\0", "a \\000 label")):
        case("OPT owned by %s" % what, msg(ar=1, body=Q_WWW + opt(owner=owner)), formerr(RD))
    case("OPT owned by a, AR 0 (after the records: ignored)",
         msg(ar=0, body=Q_WWW + opt(owner=b"\1a\0")),
         www(RD))
    # Cut short: the fixed part, or the RDATA it says.
    for k in (1, 3, 5, 10):
        case("OPT of %d bytes" % k, msg(ar=1, body=Q_WWW + e[:k]), formerr(RD))
    for rdlen, have in ((1, 0), (4, 3), (10, 4), (65535, 8)):
        case("OPT RDLENGTH %d, %d bytes there" % (rdlen, have),
             msg(ar=1, body=Q_WWW + opt(rdlen=rdlen, rdata=b"\0" * have)), formerr(RD))
    # RDLENGTH shorter than what follows: the rest is after the last record, ignored.
    case("OPT RDLENGTH 0, 8 bytes after it",
         msg(ar=1, body=Q_WWW + opt(rdlen=0, rdata=b"\0\3\0\4abcd")), www(RD, True))
    # Options that run past the RDATA, or leave 1 to 3 bytes over.
    for code in (O_NSID, 8, O_KEEPALIVE, O_PADDING, O_EDE, 65001):
        for olen, data in ((1, b""), (5, b"ab"), (0xFFFF, b"abcd")):
            rd = struct.pack("!HH", code, olen) + data
            case("option %d of length %d with %d bytes" % (code, olen, len(data)),
                 msg(ar=1, body=Q_WWW + opt(rdata=rd)), formerr(RD))
        for extra in (1, 2, 3):
            rd = options((code, b"\0\0")) + b"\0" * extra
            case("option %d, then %d byte(s) over" % (code, extra),
                 msg(ar=1, body=Q_WWW + opt(rdata=rd)), formerr(RD))
    for extra in (1, 2, 3):
        case("RDATA of %d byte(s), no option" % extra,
             msg(ar=1, body=Q_WWW + opt(rdata=b"\0" * extra)), formerr(RD))
        case("EDNS probe, RDATA of %d byte(s)" % extra,
             msg(qd=0, ar=1, body=opt(rdata=b"\0" * extra)), formerr(RD, qdcount=True))
    case("an option of 0 bytes, 4 over: a whole empty option",
         msg(ar=1, body=Q_WWW + opt(rdata=options((O_NSID, b"")) + b"\xfd\xe9\0\0")),
         www(RD, True))
    case("options NSID, ECS, padding, an unknown one",
         msg(ar=1, body=Q_WWW + opt(rdata=options((O_NSID, b""), (8, b"\0\1\x18\0\xc0\0\2"),
                                                 (O_PADDING, b"\0" * 20), (65001, b"x" * 9)))),
         www(RD, True))
    case("the same option 40 times",
         msg(ar=1, body=Q_WWW + opt(rdata=options(*[(65001, b"")] * 40))), www(RD, True))
    # Other versions get BADVERS, their options unread; with a TSIG, NOTAUTH first.
    for version, rd in ((1, b""), (1, b"\0\3\0\x09ab"), (2, b"\0"), (255, b"\xff" * 3)):
        case("OPT version %d, RDATA %s" % (version, rd.hex() or "empty"),
             msg(ar=1, body=Q_WWW + opt(version=version, rdata=rd)), badvers(RD, Q_WWW))
    case("OPT version 1 and a TSIG", msg(ar=2, body=Q_WWW + opt(version=1) + tsig()),
         notauth(RD, True, bare=True))
    case("EDNS probe, version 1", msg(qd=0, ar=1, body=opt(version=1)),
         formerr(RD, qdcount=True))
    # What a server ignores: the extended rcode, Z flags, buffer sizes below 512.
    for what, o in (("extended rcode 0xff", opt(ext=0xFF)), ("Z flags set", opt(flags=0x7FFF)),
                    ("DO and Z set", opt(flags=0xFFFF)), ("UDP size 0", opt(size=0)),
                    ("UDP size 1", opt(size=1)), ("UDP size 511", opt(size=511)),
                    ("UDP size 65535", opt(size=65535))):
        case("OPT " + what, msg(ar=1, body=Q_WWW + o), www(RD, True))
    # RFC 7828: keepalive ignored over UDP; over TCP with a TIMEOUT (any length but 0) it
    # is FORMERR, as Unbound.
    for olen in (1, 2, 3):
        ka = opt(rdata=options((O_KEEPALIVE, b"\0" * olen)))
        case("keepalive with %d byte(s) of TIMEOUT" % olen, msg(ar=1, body=Q_WWW + ka),
             www(RD, True), formerr(RD))
    return out


def family_opcode(rnd):
    """Every opcode 0 to 15, in five shapes: a query, the header alone, a query with
    every header flag set, a query with rcode bits, and lying counts with junk."""
    out = []
    junk = bytes(rnd.getrandbits(8) for _ in range(20))
    for op in range(16):
        base = op << 11 | RD
        allf = base | AA | TC | RA | Z | AD | CD
        shapes = [
            ("a query", msg(base), base),
            ("the header alone", header(base, 0), base),
            ("every flag set", msg(allf), allf),
            ("rcode 5 in the query", msg(base | 5), base | 5),
            ("counts 2/65535/65535/65535 and junk",
             msg(base, 2, 65535, 65535, 65535, Q_WWW + junk), base),
        ]
        for what, pkt, flags in shapes:
            if op not in (OP_QUERY, OP_NOTIFY):
                exp = notimp(flags)
            elif what == "the header alone" or what.startswith("rcode"):
                exp = formerr(flags)
            elif op == OP_QUERY:
                exp = formerr(flags, qdcount=True) if what.startswith("counts") else www(flags)
            else:
                # NOTIFY for www.example.com, no zone's apex: NXDOMAIN, the query's flags.
                exp = Expect("reply", flags=echoed_flags(flags, NXDOMAIN), question=b"",
                             counts=(0, 0, 0), length=12, opt=False)
            out.append(Case("opcode", "opcode %d, %s" % (op, what), pkt, exp))
    # NOTIFY further: for a zone's apex REFUSED (no secondaries yet), a TSIG NOTAUTH, a
    # malformed record FORMERR; another name NXDOMAIN whatever it carries.
    nf = 0x2400

    def echo(rcode, counts=(0, 0, 0), **kw):
        return Expect("reply", flags=echoed_flags(nf, rcode), question=b"", counts=counts,
                      opt=False, **kw)

    loop = rr(b"\xc0\x1d", T_A, rdata=b"\1\2\3\4")  # owner a pointer to itself (12 + 17)
    notify = [
        ("apex SOA", msg(nf, body=Q_APEX_SOA), echo(REFUSED, length=12)),
        ("apex SOA, QDCOUNT 0", msg(nf, qd=0, body=Q_APEX_SOA), echo(REFUSED, length=12)),
        ("apex SOA, QDCOUNT 3", msg(nf, qd=3, body=Q_APEX_SOA), echo(REFUSED, length=12)),
        ("apex SOA with its SOA as an answer",
         msg(nf, an=1, body=Q_APEX_SOA + rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA)),
         echo(REFUSED, length=12)),
        ("apex SOA, TSIG", msg(nf, ar=1, body=Q_APEX_SOA + tsig()),
         echo(NOTAUTH, (0, 0, 1), tsig_error=BADKEY)),
        ("apex SOA, a looping record then a TSIG", msg(nf, ar=2, body=Q_APEX_SOA + loop + tsig()),
         echo(FORMERR, length=12)),
        ("apex SOA, a TSIG cut short", msg(nf, ar=1, body=Q_APEX_SOA + tsig()[:-3]),
         echo(FORMERR, length=12)),
        ("apex SOA, a TSIG with TTL 1", msg(nf, ar=1, body=Q_APEX_SOA + tsig(ttl=1)),
         echo(FORMERR, length=12)),
        ("apex SOA, counts 65535", msg(nf, 1, 65535, 65535, 65535, Q_APEX_SOA),
         echo(FORMERR, length=12)),
        ("www.example.net", msg(nf, body=question("www.example.net", T_SOA)),
         echo(NXDOMAIN, length=12)),
        ("www.example.com, a TSIG cut short", msg(nf, ar=1, body=Q_WWW + tsig()[:-3]),
         echo(NXDOMAIN, length=12)),
    ]
    for what, pkt, exp in notify:
        out.append(Case("opcode", "NOTIFY " + what, pkt, exp))
    return out


def family_class(rnd):
    """Every class the rules tell apart and some random ones, for names in a zone, in
    none, and CHAOS's: IN answered, ANY answered from IN without AA, CH for the server's
    identity and version, anything else REFUSED without the question (NSD)."""
    out = []
    classes = [0, 1, 2, 3, 4, 254, 255]
    classes += sorted(rnd.sample(sorted(set(range(5, 65535)) - {254, 255}), 6)) + [65535]
    for qclass in classes:
        for qname, qtype in (("www.example.com", T_A), ("nothing.example.com", T_A),
                             ("version.server", T_TXT), ("id.server", T_TXT),
                             ("www.example.net", T_A)):
            q = question(qname, qtype, qclass)
            for edns in (False, True):
                pkt = msg(ar=1 if edns else 0, body=q + (opt() if edns else b""))
                in_zone = qname.endswith("example.com")
                if qclass == C_CH:
                    if qname.endswith(".server"):
                        exp = Expect("reply", flags=QR | RD, question=q,
                                     counts=(1, 0, 1 if edns else 0), opt=edns)
                    else:
                        exp = refused(RD, q, edns, EDE_NOT_SUPPORTED)
                elif qclass not in (C_IN, C_ANY):
                    exp = refused(RD, b"", edns, EDE_NOT_SUPPORTED)
                elif not in_zone:
                    exp = refused(RD, q, edns, EDE_NOT_AUTHORITATIVE)
                elif qname.startswith("www"):
                    exp = answer(RD, q, edns, [A_WWW], aa=qclass == C_IN)
                else:
                    # NXDOMAIN; for class ANY without the SOA (no proof for every class).
                    exp = answer(RD, q, edns, ns=1 if qclass == C_IN else 0, rcode=NXDOMAIN,
                                 aa=qclass == C_IN)
                out.append(Case("class", "class %d, %s %s%s" % (
                    qclass, qname, {1: "A", 16: "TXT"}[qtype], ", EDNS" if edns else ""),
                    pkt, exp))
    return out


def family_misc(rnd):
    """Dropped packets (short, QR set, too big for a datagram), rcode bits, header flags
    a query may not set, zone transfers, TSIG fields that lie."""
    out = []

    def case(what, pkt, exp, tcp=None):
        out.append(Case("misc", what, pkt, exp, tcp))

    for n in range(12):
        case("%d random bytes" % n, bytes(rnd.getrandbits(8) for _ in range(n)), DROP)
    for op in range(16):
        case("QR set, opcode %d" % op, msg(QR | op << 11 | RD), DROP)
    case("QR set, a response's flags", msg(QR | AA | RD | RA), DROP)
    case("QR set, header alone", header(QR, 0), DROP)
    for rc in range(1, 16):
        case("rcode %d in a query" % rc, msg(RD | rc), formerr(RD))
    case("no flag at all", msg(0), www(0))
    for what, f in (("TC", TC), ("AA", AA), ("Z", Z), ("AD", AD), ("CD", CD), ("RA", RA)):
        case("%s set in a query" % what, msg(RD | f), www(RD))
    # The datagram limit: 4096 bytes are read whole, more is cut and dropped; TCP reads
    # the whole message (the trailing bytes are after the last record: ignored).
    for size in (PKT_MAX, PKT_MAX + 1, 5000, 65507):  # 65507: the most IPv4 UDP carries
        pad = b"\0" * (size - 12 - len(Q_WWW))
        case("a query padded to %d bytes" % size, msg(body=Q_WWW + pad),
             www(RD) if size <= PKT_MAX else DROP, www(RD))
    axfr = question("example.com", T_AXFR)
    case("AXFR over UDP (NOTIMP), over TCP (REFUSED)", msg(body=axfr),
         Expect("reply", flags=QR | RD | NOTIMP, question=axfr, counts=(0, 0, 0), opt=False),
         refused(RD, axfr, False, EDE_PROHIBITED))
    case("AXFR, EDNS", msg(ar=1, body=axfr + opt()),
         Expect("reply", flags=QR | RD | NOTIMP, question=axfr, counts=(0, 0, 1), opt=True),
         refused(RD, axfr, True, EDE_PROHIBITED))
    ixfr = question("example.com", T_IXFR)
    case("IXFR without its SOA", msg(body=ixfr), refused(RD, ixfr, False, EDE_PROHIBITED))
    case("IXFR, 64 SOAs in authority",
         msg(ns=64, body=ixfr + rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA) * 64),
         refused(RD, ixfr, False, EDE_PROHIBITED))
    case("IXFR, 65 SOAs in authority",
         msg(ns=65, body=ixfr + rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA) * 65), formerr(RD))
    case("IXFR, NS 2 with one SOA",
         msg(ns=2, body=ixfr + rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA)), formerr(RD))
    case("IXFR, class CH", msg(ns=1, body=question("example.com", T_IXFR, C_CH) +
                               rr(b"\xc0\x0c", T_SOA, rdata=SOA_RDATA)),
         refused(RD, question("example.com", T_IXFR, C_CH), False, EDE_NOT_SUPPORTED))

    def t_case(what, record, exp, tcp=None):
        case("TSIG " + what, msg(ar=1, body=Q_WWW + record), exp, tcp)

    t_case("well-formed", tsig(), notauth(RD, False))
    t_case("TTL 1", tsig(ttl=1), formerr(RD))
    t_case("class IN (not a TSIG: another record)", tsig(rclass=C_IN), formerr(RD))
    t_case("MAC of 64 bytes", tsig(mac=b"m" * 64), notauth(RD, False))
    t_case("MAC size past the RDATA", tsig(mac=b"m" * 8, macsize=200), formerr(RD))
    t_case("Other Data of 16 bytes", tsig(other=b"o" * 16), notauth(RD, False))
    t_case("Other Data of 17 bytes", tsig(other=b"o" * 17), formerr(RD))
    t_case("Other Len past the RDATA", tsig(other=b"o" * 2, otherlen=6), formerr(RD))
    t_case("RDLENGTH short of the fields", tsig(rdlen=20), formerr(RD))
    t_case("RDLENGTH past the end", tsig(rdlen=200), formerr(RD))
    t_case("bytes in the RDATA after Other Data", tsig(extra=b"\0" * 5), notauth(RD, False))
    t_case("algorithm name cut", tsig(alg=b"\x0bhmac-sha2", rdlen=10), formerr(RD))
    # A MAC over 16384 bytes (NSD's bound) only fits a TCP message.
    t_case("MAC of 16385 bytes", tsig(mac=b"m" * 16385), DROP, formerr(RD))
    t_case("MAC of 16384 bytes", tsig(mac=b"m" * 16384), DROP, notauth(RD, False))
    case("TSIG, AR 2, nothing after it", msg(ar=2, body=Q_WWW + tsig()), formerr(RD))
    case("two TSIGs", msg(ar=2, body=Q_WWW + tsig() + tsig()), formerr(RD))
    case("TSIG, then bytes after it (ignored)", msg(ar=1, body=Q_WWW + tsig() + b"\xff" * 9),
         notauth(RD, False))
    return out


def family_flip(rnd, per_base=50):
    """Random flips of 1 to 3 bits past the ID of each valid query: dropped when QR ends up
    set, otherwise some well-formed reply with the ID, the opcode and the question asked
    (its bytes as sent, when the reply has one)."""
    out = []
    for label, pkt, _ in _valid_bases():
        for i in range(per_base):
            b = bytearray(pkt)
            bits = []
            for _ in range(rnd.randint(1, 3)):
                pos = rnd.randrange(16, len(b) * 8)  # past the 2-byte ID
                b[pos // 8] ^= 0x80 >> (pos % 8)
                bits.append(pos)
            exp = DROP if b[2] & 0x80 else LOOSE
            out.append(Case("flip", "%s, bits %s flipped" % (label, ",".join(map(str, bits))),
                            b, exp))
    return out


COOKIE_BAD = list(range(0, 8)) + list(range(9, 16)) + [41, 42, 48, 64, 100, 255, 1000]
COOKIE_GOOD = [8] + list(range(16, 41))


def family_cookie(rnd):
    """RFC 7873 5.2.2: a COOKIE option (code 10) too short for a client cookie (0 to 7),
    between one and a server cookie (9 to 15) or too long (over 40) is FORMERR; 8 and
    16 to 40 bytes are not. Alone, after another option, and in the EDNS probe."""
    out = []
    for n in COOKIE_BAD + COOKIE_GOOD:
        data = bytes(rnd.getrandbits(8) for _ in range(n))
        good = n in COOKIE_GOOD
        shapes = [("alone", msg(ar=1, body=Q_WWW + opt(rdata=options((O_COOKIE, data)))),
                   Q_WWW, formerr(RD)),
                  ("after NSID", msg(ar=1, body=Q_WWW + opt(rdata=options((O_NSID, b""),
                                                                          (O_COOKIE, data)))),
                   Q_WWW, formerr(RD)),
                  ("in the EDNS probe", msg(qd=0, ar=1, body=opt(rdata=options((O_COOKIE, data)))),
                   b"", formerr(RD, qdcount=True))]
        for what, pkt, q, bad in shapes:
            exp = Expect("not-formerr", question=q, opt=True) if good else bad
            out.append(Case("cookie", "COOKIE of %d bytes, %s" % (n, what), pkt, exp))
    return out


FAMILIES = [family_truncation, family_compression, family_names, family_counts, family_opt,
            family_opcode, family_class, family_misc, family_flip, family_cookie]


def corpus(seed=SEED):
    """Every case, each packet with an ID of its own (1, 2, ...: those of 2 bytes or
    more), always the same for one seed."""
    rnd = random.Random(seed)
    cases = []
    for fam in FAMILIES:
        cases.extend(fam(rnd))
    assert len(cases) < ID_VALID
    for i, c in enumerate(cases):
        if len(c.packet) >= 2:
            c.packet = struct.pack("!H", i + 1) + c.packet[2:]
    return cases


# --- valid queries, asked between the malformed ones --------------------------------------

VALID_KINDS = 6


def valid_query(n):
    """The valid query n (ID ID_VALID + n), asked between the malformed packets, and its
    answer from the example.com zone: (packet, Expect, fixed). A fixed one is asked
    again and again, so the answer cache has it and every answer to it must be the same
    bytes; the others ask a name no other query has (a wildcard's, or one that does not
    exist), which no cache holds: the server answers each in full."""
    kind = n % VALID_KINDS
    wild = question("v%d.apps.example.com" % n)
    wild_txt = question("v%d.apps.example.com" % n, T_TXT)
    mail = question("mail.example.com", T_AAAA)
    none = question("v%d.nothing.example.com" % n)
    pkt, exp, fixed = [
        (msg(), www(RD), True),
        (msg(ar=1, body=Q_WWW + opt()), www(RD, True), True),
        (msg(body=wild), answer(RD, wild, False, [(T_A, bytes([192, 0, 2, 100]))]), False),
        (msg(body=mail), answer(RD, mail, False,
                                [(T_AAAA, ipaddress.ip_address("2001:db8::25").packed)]), True),
        (msg(body=none), answer(RD, none, False, ns=1, rcode=NXDOMAIN), False),
        (msg(ar=1, body=wild_txt + opt()),
         answer(RD, wild_txt, True, [(T_TXT, b"\x08wildcard")]), False),
    ][kind]
    return struct.pack("!H", ID_VALID + n) + pkt[2:], exp, fixed


# --- reading replies ----------------------------------------------------------------------

class Malformed(Exception):
    pass


def read_name(buf, pos):
    """The name at pos, (its text, where it ends): pointers only backwards, labels of at
    most 63 bytes, 255 bytes in all."""
    labels, total, end, start = [], 0, None, pos
    while True:
        if pos >= len(buf):
            raise Malformed("name at %d runs past the end" % start)
        n = buf[pos]
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(buf):
                raise Malformed("pointer at %d cut" % pos)
            target = (n & 0x3F) << 8 | buf[pos + 1]
            if target >= start:
                raise Malformed("pointer at %d to %d: not backwards" % (pos, target))
            if end is None:
                end = pos + 2
            pos = start = target
            continue
        if n & 0xC0:
            raise Malformed("label type 0x%02x at %d" % (n & 0xC0, pos))
        total += n + 1
        if total > 255:
            raise Malformed("name at %d over 255 bytes" % start)
        if pos + 1 + n > len(buf):
            raise Malformed("label at %d runs past the end" % pos)
        if n == 0:
            return ".".join(labels) + ".", end if end is not None else pos + 1
        labels.append(buf[pos + 1:pos + 1 + n].decode("latin-1"))
        pos += 1 + n


class Reply:
    """A reply parsed whole and strictly: it raises Malformed for anything amiss."""

    def __init__(self, data):
        if len(data) < 12:
            raise Malformed("%d bytes: shorter than a header" % len(data))
        self.data = data
        self.id, self.flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        self.qd = qd
        self.counts = (an, ns, ar)
        pos = 12
        for _ in range(qd):
            _, pos = read_name(data, pos)
            pos += 4
            if pos > len(data):
                raise Malformed("question cut")
        self.question = data[12:pos]
        self.sections = ([], [], [])
        self.opt = None
        for sec, count in enumerate(self.counts):
            for _ in range(count):
                rstart = pos
                owner, pos = read_name(data, pos)
                if pos + 10 > len(data):
                    raise Malformed("record at %d cut" % rstart)
                rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
                pos += 10
                if pos + rdlen > len(data):
                    raise Malformed("RDATA at %d runs past the end" % pos)
                rdata = data[pos:pos + rdlen]
                pos += rdlen
                if rtype == T_OPT:
                    if sec != 2 or self.opt is not None or owner != ".":
                        raise Malformed("OPT out of place (section %d, owner %s)" % (sec, owner))
                    self.opt = self._opt(rclass, ttl, rdata)
                self.sections[sec].append((owner, rtype, rclass, ttl, rdata, rstart))
        if pos != len(data):
            raise Malformed("%d bytes after the last record" % (len(data) - pos))

    @staticmethod
    def _opt(size, ttl, rdata):
        opts, p = {}, 0
        while p < len(rdata):
            if p + 4 > len(rdata):
                raise Malformed("OPT RDATA: %d bytes over" % (len(rdata) - p))
            code, n = struct.unpack("!HH", rdata[p:p + 4])
            if p + 4 + n > len(rdata):
                raise Malformed("option %d runs past the RDATA" % code)
            opts[code] = rdata[p + 4:p + 4 + n]
            p += 4 + n
        return {"size": size, "ext_rcode": ttl >> 24, "version": (ttl >> 16) & 0xFF,
                "flags": ttl & 0xFFFF, "options": opts}

    def tsig_error(self):
        """The error field of the TSIG record ending the reply, or None."""
        if not self.sections[2] or self.sections[2][-1][1] != T_TSIG:
            return None
        rstart = self.sections[2][-1][5]
        _, p = read_name(self.data, rstart)
        p += 10
        _, p = read_name(self.data, p)  # algorithm
        p += 8
        macsize = struct.unpack("!H", self.data[p:p + 2])[0]
        p += 2 + macsize + 2
        return struct.unpack("!H", self.data[p:p + 2])[0]


def check(case_packet, exp, data):
    """How data (the reply, None for none) differs from exp for the packet sent: a list of
    problems, empty when it is as expected."""
    if exp.kind == "drop":
        if data is None:
            return []
        return ["dropped expected, got a reply of %d bytes: %s" % (len(data), data[:40].hex())]
    if data is None:
        return ["no reply (%s expected)" % exp.kind]
    try:
        r = Reply(data)
    except Malformed as e:
        return ["reply malformed: %s: %s" % (e, data[:60].hex())]
    problems = []
    pid = struct.unpack("!H", case_packet[:2])[0]
    if r.id != pid:
        problems.append("ID 0x%04x, the query's 0x%04x" % (r.id, pid))
    if not r.flags & QR:
        problems.append("QR not set")
    rcode = (r.flags & RCODE_MASK) | ((r.opt["ext_rcode"] << 4) if r.opt else 0)
    if exp.kind == "any":
        pflags = struct.unpack("!H", case_packet[2:4])[0]
        if r.flags & OPCODE_MASK != pflags & OPCODE_MASK:
            problems.append("opcode %d, the query's %d" % (
                (r.flags & OPCODE_MASK) >> 11, (pflags & OPCODE_MASK) >> 11))
        if r.qd > 1:
            problems.append("QDCOUNT %d" % r.qd)
        if r.question and case_packet[12:12 + len(r.question)] != r.question:
            problems.append("question %s, not the one asked" % r.question.hex())
        return problems
    if exp.kind == "not-formerr":
        if rcode not in (NOERROR, BADCOOKIE):
            problems.append("rcode %d (NOERROR or BADCOOKIE expected)" % rcode)
    if exp.flags is not None and r.flags != exp.flags:
        problems.append("flags 0x%04x (rcode %d), 0x%04x (rcode %d) expected" % (
            r.flags, r.flags & RCODE_MASK, exp.flags, exp.flags & RCODE_MASK))
    if exp.question is not None and r.question != exp.question:
        problems.append("question %s (QDCOUNT %d), %s expected" % (
            r.question.hex() or "none", r.qd, exp.question.hex() or "none"))
    if exp.counts is not None and r.counts != tuple(exp.counts):
        problems.append("AN/NS/AR %s, %s expected" % (r.counts, tuple(exp.counts)))
    if exp.length is not None and len(data) != exp.length:
        problems.append("%d bytes, %d expected" % (len(data), exp.length))
    if exp.opt is not None and (r.opt is not None) != exp.opt:
        problems.append("OPT %s" % ("there, none expected" if r.opt else "missing"))
    if exp.ext_rcode is not None and (r.opt or {}).get("ext_rcode") != exp.ext_rcode:
        problems.append("OPT extended rcode %s, %d expected" % (
            r.opt and r.opt["ext_rcode"], exp.ext_rcode))
    if exp.ede is not None:
        ede = (r.opt or {"options": {}})["options"].get(O_EDE)
        if ede is None or struct.unpack("!H", ede[:2])[0] != exp.ede:
            problems.append("EDE %s, %d expected" % (ede and ede.hex(), exp.ede))
    if exp.answer is not None:
        got = [(t, d) for _, t, _, _, d, _ in r.sections[0]]
        if got != [tuple(a) for a in exp.answer]:
            problems.append("answer %s, %s expected" % (
                [(t, d.hex()) for t, d in got], [(t, d.hex()) for t, d in exp.answer]))
    if exp.tsig_error is not None and r.tsig_error() != exp.tsig_error:
        problems.append("TSIG error %s, %d expected" % (r.tsig_error(), exp.tsig_error))
    return problems


# --- as a program -------------------------------------------------------------------------

def write(cases, folder):
    """Writes each packet as folder/NNNN-family.bin and the expectations beside them."""
    os.makedirs(folder, exist_ok=True)
    index = []
    for i, c in enumerate(cases):
        fname = "%04d-%s.bin" % (i + 1, c.family)
        with open(os.path.join(folder, fname), "wb") as f:
            f.write(c.packet)
        index.append({"file": fname, "family": c.family, "what": c.what,
                      "udp": c.udp.to_json(), "tcp": c.tcp.to_json()})
    with open(os.path.join(folder, "expectations.json"), "w") as f:
        json.dump({"seed": SEED, "cases": index}, f, indent=1)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write the packets and expectations.json to this folder")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    cases = corpus(args.seed)
    if args.out:
        write(cases, args.out)
    counts = {}
    for c in cases:
        counts[c.family] = counts.get(c.family, 0) + 1
    for fam, n in counts.items():
        print("%-12s %5d" % (fam, n))
    print("%-12s %5d%s" % ("all", len(cases), " written to " + args.out if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
