"""Integration: DNS over TCP (RFC 1035 4.2.2, RFC 7766, RFC 7828) against the real pindnsd.

The same answers as over UDP but never truncated, pipelined queries, the connection
limits and timeouts (configured short here: the file runs in about 20 s), bad input, EDNS keepalive and NSID, and a connection kept open across ten
upgrades by socket handoff. Each class starts one server; every wait is bounded, and
all traffic stays on loopback. A test that checks the connection counters of
`pindnsctl stats --json` only looks for the close reason it caused, under a key naming
TCP, and skips that last check while the counters are not there.
"""

import json
import os
import random
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CTL = os.path.join(os.path.dirname(harness.PINDNSD), "pindnsctl")

OPT_NSID = 3        # RFC 5001
OPT_KEEPALIVE = 11  # RFC 7828

# A zone of answers too big for UDP: 30 TXT records of 200 bytes (about 6.5 KB, more
# than the largest EDNS buffer pindnsd accepts, 4096) and 280 (about 60 KB, nearly the
# most a 2-byte length frames).
BIG_ZONE_ORIGIN = "tcp.test"
BIG_4K = ("big4k.tcp.test", 30)
BIG_60K = ("big60k.tcp.test", 280)


def big_zone():
    lines = ["$ORIGIN tcp.test.", "$TTL 3600",
             "@ IN SOA ns1.tcp.test. hostmaster.tcp.test. 1 7200 3600 1209600 300",
             "@ IN NS ns1", "ns1 IN A 192.0.2.53"]
    for name, count in (BIG_4K, BIG_60K):
        for i in range(count):
            lines.append('%s. IN TXT "%04d%s"' % (name, i, "x" * 196))
    return "\n".join(lines) + "\n"


def make_zones(folder):
    """zones/ plus tcp.test, in a folder pindnsd (or a reference server) can read."""
    zones = os.path.join(folder, "zones")
    shutil.copytree(harness.ZONES, zones)
    with open(os.path.join(zones, BIG_ZONE_ORIGIN + ".zone"), "w") as f:
        f.write(big_zone())
    os.chmod(zones, 0o755)
    return zones


# --- DNS messages -----------------------------------------------------------------------

class Msg:
    """A DNS message, parsed just enough: header, the question as bytes, the counts, the
    types of the answer records, and the EDNS options as {code: data}."""

    def __init__(self, data):
        self.data = data
        (self.id, self.flags, qd, an, ns, ar) = struct.unpack("!HHHHHH", data[:12])
        self.counts = (qd, an, ns, ar)
        self.qr = bool(self.flags & 0x8000)
        self.tc = bool(self.flags & 0x0200)
        self.aa = bool(self.flags & 0x0400)
        self.rcode = self.flags & 0xF
        self.options = None  # no OPT record
        self.answer_types = []
        pos = 12
        for _ in range(qd):
            pos = skip_name(data, pos) + 4
        self.question = data[12:pos]
        for section, count in enumerate((an, ns, ar)):
            for _ in range(count):
                pos = skip_name(data, pos)
                rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
                rdata = data[pos + 10:pos + 10 + rdlen]
                if len(rdata) != rdlen:
                    raise ValueError("record cut short")
                pos += 10 + rdlen
                if section == 0:
                    self.answer_types.append(rtype)
                if rtype == 41:
                    self.rcode |= (_ttl >> 24) << 4
                    self.options = {}
                    o = 0
                    while o + 4 <= len(rdata):
                        code, olen = struct.unpack("!HH", rdata[o:o + 4])
                        self.options[code] = rdata[o + 4:o + 4 + olen]
                        o += 4 + olen
        if pos != len(data):
            raise ValueError("%d bytes after the last record" % (len(data) - pos))


skip_name = harness.skip_name


def query_id(msg):
    return struct.unpack("!H", msg[:2])[0]


def question_of(query):
    return Msg(query).question


# --- talking to the server ---------------------------------------------------------------

def ask(sock, query, timeout=2.0):
    """Sends one query on an open connection and returns its answer, parsed."""
    harness.send_msgs(sock, query)
    return Msg(harness.recv_msg(sock, timeout=timeout))


def timed_ask(port, query, sock=None, timeout=2.0):
    """(seconds from sending to the whole answer, the answer) on sock, or on a new
    connection (the connect counted) when sock is None."""
    t0 = time.monotonic()
    if sock is None:
        with harness.tcp_connect(port, timeout=timeout) as s:
            r = ask(s, query, timeout)
    else:
        r = ask(sock, query, timeout)
    return time.monotonic() - t0, r


def www(qid=0x1234):
    return harness.make_query("www.example.com", qid=qid)


def is_closed(sock):
    """"eof" or "reset" if the peer closed sock (nothing left unread), None if open."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    if not p.poll(0):
        return None
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except ConnectionResetError:
        return "reset"
    return None if data else "eof"


def kdig_json(port, queries, *opts, tcp=True, keepopen=False):
    """One kdig run (+json, RFC 8427) asking every (name, type, class or None, options);
    the answers as dicts without what differs from one query to the next."""
    argv = ["kdig", "@127.0.0.1", "-p", str(port), "+norec", "+retry=0", "+timeout=2",
            "+json", "+noidn"] + (["+tcp"] if tcp else ["+notcp", "+ignore"]) + list(opts)
    if keepopen:
        argv.append("+keepopen")
    for name, rtype, cls, qopts in queries:
        argv += [name, rtype] + ([cls] if cls else []) + list(qopts)
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=20 + 3 * len(queries)).stdout
    dec, pos, replies = json.JSONDecoder(), 0, []
    while True:
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            return replies
        r, pos = dec.raw_decode(out, pos)
        for k in ("dateString", "dateSeconds", "ID"):
            r.pop(k, None)
        replies.append(r)


class TcpCase(unittest.TestCase):
    """A class of tests sharing one server, started with CONF (pindnsd configuration
    keys; the control socket is added) on 127.0.0.1 and, with V6, on ::1 too."""

    CONF = {}
    V6 = False

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-tcp-")
        cls.zones = make_zones(cls.dir)
        cls.v6 = cls.V6 and harness.have_ipv6_loopback()
        cls.srv = cls.start_server(cls.dir, cls.zones, dict(cls.CONF), cls.v6)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()  # fails unless pindnsd exits 0 with no sanitizer report

    @classmethod
    def start_server(cls, folder, zones, conf, v6):
        cls.ctl_sock = os.path.join(folder, "control.sock")
        conf["control-socket"] = cls.ctl_sock
        path = os.path.join(folder, "pindns.conf")
        with open(path, "w") as f:
            f.write("".join("%s: %s\n" % kv for kv in conf.items()))
        args = ["--config", path] + (["--listen", "[::1]:{port}"] if v6 else [])
        return harness.start_pindnsd(args, zones=zones, workdir=folder, tcp=True)

    def setUp(self):
        # A server that died in an earlier test says so here, not as a timeout.
        self.assertIsNone(self.srv.proc.poll(), "the server is gone:\n" + self.srv.output())

    def connect(self, source=None, timeout=2.0):
        s = harness.tcp_connect(self.port, source=source, timeout=timeout)
        self.addCleanup(s.close)
        return s

    def assert_alive(self):
        """A new client is answered at once, and the server still runs."""
        took, r = timed_ask(self.port, www(0x4141))
        self.assertEqual((r.id, r.rcode), (0x4141, 0))
        self.assertLess(took, 0.5)
        self.assertIsNone(self.srv.proc.poll())

    def assert_closed(self, sock, within, what):
        """The server closes sock within `within` seconds without sending anything more.
        Returns the seconds it took."""
        t0 = time.monotonic()
        how, data = harness.wait_closed(sock, within)
        took = time.monotonic() - t0
        self.assertIsNotNone(how, "%s: still open after %.2f s" % (what, within))
        self.assertEqual(data, b"", "%s: got %d bytes before the close" % (what, len(data)))
        return took

    # -- the connection counters of pindnsctl stats --json, loosely --

    def tcp_counters(self):
        """Every number in `pindnsctl stats --json` under a key naming TCP (or in an entry
        whose transport is tcp), by its path; None when this server has no pindnsctl."""
        if getattr(self, "ctl_sock", None) is None:
            return None
        r = harness.run([CTL, "-s", self.ctl_sock, "stats", "--json"], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        found = {}

        def walk(node, path, tcp):
            if isinstance(node, dict):
                tcp = tcp or node.get("transport") == "tcp"
                for k, v in node.items():
                    walk(v, path + (k,), tcp or "tcp" in k.lower())
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, path + (str(i),), tcp)
            elif isinstance(node, (int, float)) and not isinstance(node, bool) and tcp:
                found[path] = node
        walk(json.loads(r.stdout), (), False)
        return found

    def assert_counted(self, before, reason, at_least=1):
        """Some TCP counter named reason (a close reason: "eof", "idle", "io", "bad",
        "evicted", "limit", "queries", ...) grew by at_least since before."""
        if before is None:
            return
        deadline = time.monotonic() + 2  # the server may count a close a little later
        while True:
            after = self.tcp_counters()
            named = [p for p in after if p[-1] == reason]
            # "queries" is a close reason and a traffic count: the close counts first
            closes = [p for p in named if any("clos" in k for k in p[:-1])]
            named = closes or named
            if not named:
                self.skipTest("pindnsctl stats --json has no TCP counter %r (yet): %s" % (
                    reason, sorted(after)))
            grew = max(after[p] - before.get(p, 0) for p in named)
            if grew >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertGreaterEqual(grew, at_least, "TCP counter %r: %s" % (
            reason, {"/".join(p): after[p] for p in named}))


# --- the answers -------------------------------------------------------------------------

# Every kind of answer test_answers.py checks over UDP, and a few more; (name, type,
# class, options of this query alone), as dig_many and kdig_json take them.
QUERIES = [
    ("www.example.com", "A", None, ()),                  # positive
    ("WwW.ExAmPlE.CoM", "AAAA", None, ()),               # the query's letter case kept
    ("www.example.com", "MX", None, ()),                 # NODATA, SOA with the minimum
    ("ent.example.com", "A", None, ()),                  # empty non-terminal
    ("nothing-here.example.com", "A", None, ()),         # NXDOMAIN
    ("alias.example.com", "A", None, ()),                # CNAME chain
    ("broken.example.com", "A", None, ()),               # CNAME into nothing
    ("loop1.example.com", "A", None, ()),                # CNAME loop
    ("Anything.Apps.example.com", "A", None, ()),        # wildcard
    ("host.sub.example.com", "A", None, ()),             # referral with glue
    ("secure.example.com", "DS", None, ()),              # DS at a delegation
    ("example.com", "MX", None, ()),                     # MX targets in additional
    ("_sip._udp.example.com", "SRV", None, ()),          # SRV targets in additional
    ("www.old.example.com", "A", None, ()),              # DNAME
    ("big.example.com", "TXT", None, ()),                # too big for 512, fits EDNS
    ("generic.example.com", "TYPE65280", None, ()),      # RFC 3597
    ("example.com", "ANY", None, ()),                    # RFC 8482: one RRset
    ("www.example.net", "A", None, ()),                  # REFUSED, EDE 20
    ("version.server", "TXT", "CH", ()),                 # CHAOS
    ("www.example.com", "A", None, ("+edns=1", "+noednsneg")),  # BADVERS
    ("www.example.com", "A", None, ("+noedns",)),        # no EDNS
    ("alias.example.com", "A", None, ("+dnssec",)),      # DO
]


def comparable(r):
    return (r.rcode, sorted(r.flags), r.as_sent, r.edns)


class Answers(TcpCase):
    """The default TCP settings but for the per-client limit (tested on its own below),
    with NSID set and a listener on ::1 as well."""

    CONF = {"nsid": "pindns-tcp-test", "tcp-max-per-client": 1000}
    V6 = True

    def test_dig_tcp_answers_as_udp(self):
        """dig +tcp, one connection per query and +keepopen: all on one."""
        udp = harness.dig_many(self.port, QUERIES, transport="udp")
        self.assertEqual(len(udp), len(QUERIES))
        for keepopen in (False, True):
            tcp = harness.dig_many(self.port, QUERIES, transport="tcp", keepopen=keepopen)
            self.assertEqual(len(tcp), len(QUERIES), [r.text for r in tcp])
            for q, u, t in zip(QUERIES, udp, tcp):
                with self.subTest(query=q, keepopen=keepopen):
                    self.assertIn("(TCP)", t.text)
                    self.assertNotIn("tc", t.flags)
                    self.assertEqual(comparable(t), comparable(u))
        self.assertEqual(udp[0].rcode, "NOERROR")  # the list asks what it means to
        self.assertEqual(udp[4].rcode, "NXDOMAIN")
        self.assertEqual(udp[17].rcode, "REFUSED")
        self.assertEqual(udp[19].rcode, "BADVERS")

    @unittest.skipUnless(shutil.which("kdig"), "kdig (knot-dnsutils) not installed")
    def test_kdig_keepopen_answers_as_udp(self):
        queries = [q for q in QUERIES if not q[3]]  # kdig's options differ from dig's
        queries += [("www.example.com", "A", None, ("+edns=0",)),
                    ("alias.example.com", "A", None, ("+dnssec",))]
        udp = kdig_json(self.port, queries, tcp=False)
        tcp = kdig_json(self.port, queries, tcp=True, keepopen=True)
        self.assertEqual(len(udp), len(queries))
        self.assertEqual(len(tcp), len(queries))
        for q, u, t in zip(queries, udp, tcp):
            with self.subTest(query=q):
                self.assertEqual(t["TC"], 0)
                if u["TC"]:  # no EDNS (kdig's default) and too big for 512 bytes
                    self.assertEqual(q[0], "big.example.com")
                    self.assertEqual((t["RCODE"], t["ANCOUNT"]), (0, 6))
                else:
                    self.assertEqual(t, u)

    def test_truncated_over_udp_then_whole_over_tcp(self):
        r = harness.dig(self.port, "big.example.com", "TXT", "+noedns", transport="udp")
        self.assertIn("tc", r.flags)
        self.assertEqual(r.answer, [])
        r = harness.dig(self.port, "big.example.com", "TXT", "+noedns", transport="retry")
        self.assertIn("Truncated, retrying in TCP mode", r.text)
        self.assertIn("(TCP)", r.text)
        self.assertNotIn("tc", r.flags)
        self.assertEqual(len(r.answer), 6)

    def test_answers_only_tcp_can_carry(self):
        """Whatever the EDNS buffer size says (or none): it is for UDP."""
        for (name, count), edns in [(big, e) for big in (BIG_4K, BIG_60K)
                                    for e in ((4096, 0, False), (512, 0, False), None)]:
            with self.subTest(name=name, edns=edns):
                q = harness.make_query(name, qtype=16, edns=edns)
                u = Msg(harness.raw_query(self.port, q))
                self.assertTrue(u.tc)
                with self.connect() as s:
                    t = ask(s, q)
                self.assertFalse(t.tc)
                self.assertEqual(t.rcode, 0)
                self.assertEqual(t.answer_types, [16] * count)
                self.assertGreater(len(t.data), 4096)
                self.assertEqual(t.options is not None, edns is not None)
        r = harness.dig(self.port, BIG_60K[0], "TXT", transport="tcp")
        self.assertEqual(len(r.answer), BIG_60K[1], "dig +tcp: %d records" % len(r.answer))
        m = re.search(r"MSG SIZE  rcvd: (\d+)", r.text)
        self.assertTrue(m and int(m.group(1)) > 50000, "dig +tcp: %s" % (m and m.group(0)))

    def test_a_tcp_answer_is_not_sent_over_udp(self):
        """Asked over TCP first, then over UDP: still truncated to fit (a response cache
        must tell the transports apart), both ways round."""
        for first_tcp, do in ((True, True), (False, False)):
            q = harness.make_query(BIG_4K[0], qtype=16, qid=77, edns=(1232, 0, do))
            with self.subTest(tcp_first=first_tcp):
                for over_tcp in (first_tcp, not first_tcp):
                    if over_tcp:
                        with self.connect() as s:
                            r = ask(s, q)
                        self.assertFalse(r.tc)
                        self.assertEqual(len(r.answer_types), BIG_4K[1])
                    else:
                        data = harness.raw_query(self.port, q)
                        self.assertLessEqual(len(data), 1232)
                        self.assertTrue(Msg(data).tc)

    def test_any_is_one_rrset_over_tcp_too(self):
        for name in ("example.com", "www.example.com", "www.apps.example.com"):
            with self.subTest(name):
                u = harness.dig(self.port, name, "ANY", transport="udp")
                t = harness.dig(self.port, name, "ANY", transport="tcp")
                self.assertEqual(comparable(t), comparable(u))
                types = {rr.split()[3] for rr in t.answer}
                self.assertEqual(len(types), 1, t.text)

    def test_fifty_pipelined_queries(self):
        """Written at once; all answered (in any order), each matched by its ID."""
        names = [("www.example.com", 1), ("mail.example.com", 28), ("nope.example.com", 1),
                 ("alias.example.com", 1), ("example.com", 15), ("x.sub.example.com", 1),
                 (BIG_60K[0], 16), ("www.example.net", 1), ("big.example.com", 16),
                 ("Anything.Apps.example.com", 16)]
        queries = {}
        for i in range(50):
            name, qtype = names[i % len(names)]
            qid = 0x5000 + i * 7
            queries[qid] = harness.make_query(name, qtype=qtype, qid=qid,
                                              edns=(1232, 0, False))
        s = self.connect()
        harness.send_msgs(s, *queries.values())
        got = {}
        for _ in range(50):
            r = Msg(harness.recv_msg(s, timeout=5))
            self.assertIn(r.id, queries)
            self.assertNotIn(r.id, got, "two answers for one ID")
            got[r.id] = r
        self.assertEqual(set(got), set(queries))
        for qid, r in got.items():
            self.assertTrue(r.qr)
            self.assertFalse(r.tc)
            self.assertEqual(r.question, question_of(queries[qid]))
            self.assertEqual(r.rcode, 5 if b"\x03net" in r.question else
                             3 if b"\x04nope" in r.question else 0)
        self.assertEqual(got[0x5000 + 6 * 7].answer_types, [16] * BIG_60K[1])
        # and the connection still serves
        self.assertEqual(ask(s, www(7)).id, 7)

    def test_a_message_in_pieces(self):
        """The length and the message come in separate writes, even byte by byte."""
        s = self.connect()
        q = harness.frame(www(0x0102))
        for piece in (q[:1], q[1:2], q[2:9], q[9:]):
            s.sendall(piece)
            time.sleep(0.02)
        self.assertEqual(Msg(harness.recv_msg(s)).id, 0x0102)
        two = harness.frame(www(1)) + harness.frame(www(2))
        for i in range(len(two)):
            s.sendall(two[i:i + 1])
        self.assertEqual({Msg(harness.recv_msg(s)).id, Msg(harness.recv_msg(s)).id}, {1, 2})

    def test_ipv6_listener(self):
        if not self.v6:
            self.skipTest("host: no IPv6 on loopback")
        r = harness.dig(self.port, "www.example.com", "AAAA", host="::1", transport="tcp")
        self.assertIn("(TCP)", r.text)
        self.assertEqual(r.answer, ["www.example.com. 3600 IN AAAA 2001:db8::80"])

    def test_keepalive_over_tcp_only(self):
        """RFC 7828: the idle timeout (10 s by default) in units of 100 ms, over TCP and
        only to a query that has the option; never over UDP."""
        q = harness.make_query("www.example.com", qid=11, options=[(OPT_KEEPALIVE, b"")])
        with self.connect() as s:
            t = ask(s, q)
            plain = ask(s, harness.make_query("www.example.com", edns=(1232, 0, False)))
        self.assertEqual(t.rcode, 0)
        self.assertEqual(t.options.get(OPT_KEEPALIVE), struct.pack("!H", 100))
        self.assertNotIn(OPT_KEEPALIVE, plain.options)
        u = Msg(harness.raw_query(self.port, q))
        self.assertEqual(u.rcode, 0)
        self.assertIsNotNone(u.options)
        self.assertNotIn(OPT_KEEPALIVE, u.options)
        r = harness.dig(self.port, "www.example.com", "A", "+keepalive", transport="tcp")
        self.assertRegex(r.text, r"TCP[ -]KEEPALIVE: 10\.0 secs")

    def test_nsid_over_tcp(self):
        q = harness.make_query("www.example.com", qid=3, options=[(OPT_NSID, b"")])
        with self.connect() as s:
            t = ask(s, q)
            plain = ask(s, harness.make_query("www.example.com", edns=(1232, 0, False)))
        self.assertEqual(t.options.get(OPT_NSID), b"pindns-tcp-test")
        self.assertNotIn(OPT_NSID, plain.options)
        u = Msg(harness.raw_query(self.port, q))
        self.assertEqual(u.options.get(OPT_NSID), b"pindns-tcp-test")
        both = harness.make_query("www.example.com", options=[(OPT_NSID, b""),
                                                              (OPT_KEEPALIVE, b"")])
        with self.connect() as s:
            t = ask(s, both)
        self.assertEqual(set(t.options), {OPT_NSID, OPT_KEEPALIVE})

    def test_idle_connections_do_not_delay_a_new_client(self):
        """300 connections open and idle (half of them used once, half never), from 20
        addresses; a new client is answered at once."""
        before = self.tcp_counters()
        idle = []
        for i in range(300):
            idle.append(self.connect(source="127.0.%d.1" % (1 + i % 20)))
        for i, s in enumerate(idle[:150]):
            self.assertEqual(ask(s, www(i)).id, i)
        times = [timed_ask(self.port, www(0x7000 + i))[0] for i in range(5)]
        print("300 idle: a new client answered in %s ms" %
              ", ".join("%.1f" % (t * 1000) for t in times))
        self.assertLess(max(times), 0.2)
        # They were held open all along, the unused ones too.
        for i, s in enumerate(idle):
            self.assertEqual(ask(s, www(1000 + i)).id, 1000 + i)
        if before is not None:
            after = self.tcp_counters()
            opened = [p for p in after if p[-1] == "open"]
            if opened:
                self.assertGreaterEqual(max(after[p] for p in opened), 300, after)


# --- timeouts and bad input -------------------------------------------------------------

IO_MS = 300
IDLE_MS = 1000


class Misbehaving(TcpCase):
    """One TCP thread (so that a stuck client would hold up the others), short timeouts,
    NSID in hex."""

    CONF = {"tcp-threads": 1, "tcp-io-timeout": IO_MS, "tcp-idle-timeout": IDLE_MS,
            "nsid": "0x" + b"pindns".hex()}

    def assert_io_timeout_close(self, sock, since, what):
        """sock is closed after tcp-io-timeout (from since), well before the idle one."""
        how, data = harness.wait_closed(sock, IDLE_MS / 1000 + 1)
        took = time.monotonic() - since
        self.assertIsNotNone(how, what)
        self.assertEqual(data, b"", what)
        print("%s: closed (%s) after %.0f ms" % (what, how, took * 1000))
        self.assertGreaterEqual(took, IO_MS / 1000 * 0.8, what)
        self.assertLess(took, IO_MS / 1000 + 0.4, what)

    def rtts(self, sock, n=20):
        return [timed_ask(self.port, www(0x6000 + i), sock=sock)[0] for i in range(n)]

    def test_half_a_message_holds_up_no_one(self):
        before = self.tcp_counters()
        other = self.connect()
        base = self.rtts(other)
        half = self.connect()
        q = harness.frame(www(0x0bad))
        half.sendall(q[:12])
        since = time.monotonic()
        one_byte = self.connect()
        one_byte.sendall(q[:1])  # half the length itself
        during = self.rtts(other)
        fresh = [timed_ask(self.port, www(0x6100 + i))[0] for i in range(5)]
        print("another client's answers: %.2f ms median before, %.2f ms median and %.2f ms "
              "at most while a message was half sent; new clients %.2f ms at most" % (
                  statistics.median(base) * 1000, statistics.median(during) * 1000,
                  max(during) * 1000, max(fresh) * 1000))
        self.assertLess(time.monotonic() - since, IO_MS / 1000,
                        "too slow to tell: the timeout came first")
        # A few milliseconds at most; a thread waiting on the half message would
        # hold the others until the io timeout (300 ms).
        self.assertLess(statistics.median(during), statistics.median(base) + 0.005)
        self.assertLess(max(during + fresh), 0.15)
        self.assert_io_timeout_close(half, since, "12 bytes of a 35-byte message")
        self.assert_io_timeout_close(one_byte, since, "1 byte of the length")
        self.assert_counted(before, "io", 2)

    def test_a_length_that_lies(self):
        """The length says more than is sent: no answer, closed after the io timeout."""
        before = self.tcp_counters()
        s = self.connect()
        q = www(0x1717)
        s.sendall(struct.pack("!H", len(q) + 40) + q)
        since = time.monotonic()
        self.assert_io_timeout_close(s, since, "a length 40 bytes too long")
        self.assert_alive()
        self.assert_counted(before, "io")

    def test_answers_not_read_are_given_up_after_the_io_timeout(self):
        """A client that asks for 12 MB and reads nothing: the others are answered the
        while, and its connection is closed after the io timeout."""
        before = self.tcp_counters()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(2)
        s.connect(("127.0.0.1", self.port))
        q = [harness.make_query(BIG_60K[0], qtype=16, qid=i) for i in range(200)]
        harness.send_msgs(s, *q)
        other = self.connect()
        time.sleep(0.05)
        during = self.rtts(other, 10)
        self.assertLess(statistics.median(during), 0.005)
        self.assertLess(max(during), 0.15)
        time.sleep(3 * IO_MS / 1000)
        how, data = harness.wait_closed(s, 5)
        msgs, rest = harness.split_msgs(data)
        print("unread answers: %d of 200 whole, then %s" % (len(msgs), how))
        self.assertIsNotNone(how)
        self.assertLess(len(msgs), 200)
        self.assert_alive()
        self.assert_counted(before, "io")

    def test_idle_timeout(self):
        before = self.tcp_counters()
        used = self.connect()
        self.assertEqual(ask(used, www(5)).id, 5)
        since = time.monotonic()
        unused = self.connect()
        for s, what in ((used, "used once"), (unused, "never used")):
            how, data = harness.wait_closed(s, IDLE_MS / 1000 + 1.5)
            took = time.monotonic() - since
            print("idle, %s: closed (%s) after %.0f ms" % (what, how, took * 1000))
            self.assertIsNotNone(how, what)
            self.assertEqual(data, b"")
            self.assertGreaterEqual(took, IDLE_MS / 1000 * 0.8, what)
            self.assertLess(took, IDLE_MS / 1000 + 0.6, what)
        self.assert_alive()
        self.assert_counted(before, "idle", 2)

    def test_a_busy_connection_is_not_idle(self):
        """A query every 300 ms keeps the connection open past the idle timeout."""
        s = self.connect()
        end = time.monotonic() + 2 * IDLE_MS / 1000
        n = 0
        while time.monotonic() < end:
            self.assertEqual(ask(s, www(n)).id, n)
            n += 1
            time.sleep(0.3)
        self.assertIsNone(is_closed(s))

    def test_keepalive_says_the_idle_timeout(self):
        q = harness.make_query("www.example.com", options=[(OPT_KEEPALIVE, b"")])
        with self.connect() as s:
            t = ask(s, q)
        self.assertEqual(t.options.get(OPT_KEEPALIVE), struct.pack("!H", IDLE_MS // 100))

    def test_nsid_in_hex(self):
        q = harness.make_query("www.example.com", options=[(OPT_NSID, b"")])
        with self.connect() as s:
            self.assertEqual(ask(s, q).options.get(OPT_NSID), b"pindns")

    def test_length_zero_closes(self):
        before = self.tcp_counters()
        s = self.connect()
        self.assertEqual(ask(s, www(1)).id, 1)
        s.sendall(b"\0\0")
        took = self.assert_closed(s, IO_MS / 1000, "length 0 after a query")
        self.assertLess(took, IO_MS / 1000 * 0.8)  # at once, not by the io timeout
        s = self.connect()
        s.sendall(b"\0\0" + harness.frame(www(2)))
        self.assert_closed(s, IO_MS / 1000 * 0.8, "length 0 first")
        self.assert_alive()
        self.assert_counted(before, "bad", 2)

    def test_garbage_as_over_udp(self):
        """A message pindnsd answers over UDP (FORMERR, NOTIMP...) gets the same answer
        over TCP, and the connection stays; one it drops over UDP closes the connection
        at once (RFC 7766 leaves this to the server). Says which for each."""
        q = www(0x2222)
        cases = {
            "5 bytes": b"\x12\x34\x01\x00\x00",
            "header only": q[:12],
            "QR set": q[:2] + bytes([q[2] | 0x80]) + q[3:],
            "qdcount 0": q[:4] + b"\0\0" + q[6:12],
            "label type 0x40": q[:12] + b"\x41a\0\0\1\0\1",
            "pointer loop": q[:12] + b"\xc0\x0c\0\1\0\1",
            "opcode NOTIFY": q[:2] + struct.pack("!H", 0x2000) + q[4:],
        }
        rnd = random.Random(1035)
        for i in range(12):
            n = rnd.randrange(12, 60)
            cases["random %d" % i] = bytes(rnd.getrandbits(8) for _ in range(n))
        before = self.tcp_counters()
        closed = []
        for name, payload in cases.items():
            with self.subTest(name):
                over_udp = harness.raw_query(self.port, payload, timeout=0.3)
                s = self.connect()
                harness.send_msgs(s, payload, www(0x3333))
                if over_udp is None:
                    took = self.assert_closed(s, IO_MS / 1000 * 0.8, name)
                    print("garbage, %s: no answer over UDP; over TCP closed after %.1f ms" % (
                        name, took * 1000))
                    closed.append(name)
                else:
                    got = harness.recv_msg(s)
                    self.assertFalse(Msg(got).tc)
                    # the same but TC, which never goes over TCP (a UDP answer may copy
                    # the query's TC bit into a FORMERR or NOTIMP)
                    self.assertEqual(got, over_udp[:2] + bytes([over_udp[2] & ~0x02]) +
                                     over_udp[3:])
                    self.assertEqual(Msg(harness.recv_msg(s)).id, 0x3333)
                    self.assertIsNone(is_closed(s))
                    print("garbage, %s: rcode %d over UDP and TCP, connection kept" % (
                        name, Msg(got).rcode))
                s.close()
        self.assertIn("5 bytes", closed)  # dropped over UDP (test_malformed.py)
        self.assertIn("QR set", closed)
        self.assert_alive()
        self.assert_counted(before, "bad", len(closed))

    def test_cut_off_by_the_client(self):
        """Half a message, then the client closes its side: the server closes at once.
        Clients that go away before their answers (reset) harm no one either."""
        before = self.tcp_counters()
        s = self.connect()
        s.sendall(harness.frame(www(9))[:12])
        s.shutdown(socket.SHUT_WR)
        took = self.assert_closed(s, IO_MS / 1000, "cut off")
        self.assertLess(took, IO_MS / 1000 * 0.8)
        for i in range(20):
            with harness.tcp_connect(self.port) as gone:
                if i % 2:
                    gone.sendall(harness.frame(www(i))[:12])
                else:  # asks for 60 KB, and closes without reading: a reset
                    harness.send_msgs(gone, harness.make_query(BIG_60K[0], qtype=16))
        time.sleep(0.1)
        self.assert_alive()
        self.assert_counted(before, "eof")


# --- limits ------------------------------------------------------------------------------

class MaxClients(TcpCase):
    CONF = {"tcp-threads": 1, "tcp-max-clients": 20}

    def test_past_max_clients_the_longest_idle_goes_first(self):
        before = self.tcp_counters()
        old = []
        for i in range(20):
            s = self.connect()
            self.assertEqual(ask(s, www(i)).id, i)
            old.append(s)
            time.sleep(0.005)  # a clear order
        self.assertEqual(ask(old[0], www(100)).id, 100)  # now the most recently busy
        time.sleep(0.005)
        for j in range(10):
            s = self.connect()
            took, r = timed_ask(self.port, www(200 + j), sock=s)
            self.assertEqual(r.id, 200 + j)
            self.assertLess(took, 0.5)
        deadline = time.monotonic() + 2
        while True:
            closed = [i for i, s in enumerate(old) if is_closed(s)]
            if len(closed) >= 10 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(0.1)
        closed = [i for i, s in enumerate(old) if is_closed(s)]
        print("past tcp-max-clients 20, ten new clients closed %s" % closed)
        self.assertEqual(closed, list(range(1, 11)))
        for i in [0] + list(range(11, 20)):
            self.assertEqual(ask(old[i], www(300 + i)).id, 300 + i)
        self.assert_counted(before, "evicted", 10)

    def test_a_flood_of_connects(self):
        """60 connects at once, none asking anything: each past the 20th closes the one
        idle longest, and the server never holds more than 20; a new client is served."""
        before = self.tcp_counters()
        flood = [self.connect() for _ in range(60)]
        took, r = timed_ask(self.port, www(0x0f0f))
        self.assertEqual(r.id, 0x0f0f)
        self.assertLess(took, 0.5)
        deadline = time.monotonic() + 2
        while sum(1 for s in flood if is_closed(s)) < 41 and time.monotonic() < deadline:
            time.sleep(0.02)
        closed = [i for i, s in enumerate(flood) if is_closed(s)]
        print("a flood of 60 connects past tcp-max-clients 20: %d closed" % len(closed))
        self.assertGreaterEqual(len(closed), 41)  # 20 at most held, the asking one too
        self.assertEqual(closed, list(range(len(closed))), "not the oldest first")
        self.assert_counted(before, "evicted", 41)
        after = self.tcp_counters()
        opened = [p for p in after or () if p[-1] == "open"]
        if opened:
            self.assertLessEqual(max(after[p] for p in opened), 20, after)


class PerClientAndQueries(TcpCase):
    CONF = {"tcp-threads": 1, "tcp-max-per-client": 4, "tcp-max-queries": 5}

    def test_max_per_client(self):
        before = self.tcp_counters()
        mine = [self.connect(source="127.0.0.5") for _ in range(4)]
        for i, s in enumerate(mine):
            self.assertEqual(ask(s, www(i)).id, i)
        fifth = self.connect(source="127.0.0.5")
        try:
            harness.send_msgs(fifth, www(5))
        except OSError:
            pass  # closed already
        self.assert_closed(fifth, 1, "a fifth connection from one address")
        s = self.connect(source="127.0.0.6")
        try:
            self.assertEqual(ask(s, www(6)).id, 6)
        except harness.PeerClosed as e:
            self.fail("127.0.0.6 was refused while 127.0.0.5 was at its limit: counted as "
                      "one client (%s)" % e)
        for i, s in enumerate(mine):
            self.assertEqual(ask(s, www(10 + i)).id, 10 + i)
        mine[0].close()
        deadline = time.monotonic() + 2
        while True:  # the server frees the slot when it sees the close
            s = self.connect(source="127.0.0.5")
            try:
                self.assertEqual(ask(s, www(7)).id, 7)
                break
            except (harness.PeerClosed, OSError):
                self.assertLess(time.monotonic(), deadline, "the slot was not freed")
                time.sleep(0.05)
        self.assert_alive()
        self.assert_counted(before, "limit")

    def test_max_queries_one_by_one(self):
        before = self.tcp_counters()
        s = self.connect()
        for i in range(5):
            self.assertEqual(ask(s, www(i)).id, i)
        self.assert_closed(s, 1, "after 5 answers")
        self.assert_alive()
        self.assert_counted(before, "queries")

    def test_max_queries_pipelined(self):
        s = self.connect()
        harness.send_msgs(s, *[www(i) for i in range(8)])
        how, data = harness.wait_closed(s, 2)
        msgs, rest = harness.split_msgs(data)
        self.assertIsNotNone(how)
        self.assertEqual(rest, b"")
        ids = [Msg(m).id for m in msgs]
        self.assertEqual(len(set(ids)), 5, ids)
        self.assertTrue(set(ids) <= set(range(8)))

    def test_max_queries_while_the_client_keeps_sending(self):
        """The limit reached while a slow reader still pipelines: it gets its 5 answers
        whole and then EOF. Closing with its later queries unread would reset the
        connection, and the reset would destroy the answers it had not read yet."""
        big = harness.make_query(BIG_4K[0], qtype=16)
        s = harness.tcp_connect(self.port, timeout=3)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        harness.send_msgs(s, *[big] * 5)
        time.sleep(0.2)
        harness.send_msgs(s, www(6), www(7))  # past the limit, still unread
        data, how = b"", None
        deadline = time.monotonic() + 10
        while how is None and time.monotonic() < deadline:
            time.sleep(0.01)  # a slow reader
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                how = "reset"
                break
            how = "eof" if not chunk else None
            data += chunk
        msgs, rest = harness.split_msgs(data)
        self.assertEqual((how, len(msgs), len(rest)), ("eof", 5, 0),
                         "%d bytes: %d whole answers, %d cut" % (len(data), len(msgs), len(rest)))


# --- upgrades ----------------------------------------------------------------------------

class Pinger(threading.Thread):
    """Keeps one connection busy: one to three queries at a time, each answer awaited
    (3 s at most) and matched by ID, until stopped; the first failure ends it."""

    NAMES = ["www.example.com", "alias.example.com", "nope.example.com", "example.com"]

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = harness.tcp_connect(port, timeout=3)
        self.sent = self.answered = 0
        self.error = None
        self.last_answer = 0.0
        self.done = threading.Event()

    def run(self):
        qid = 0
        try:
            while not self.done.is_set():
                n = 1 + qid % 3
                batch = {}
                for i in range(n):
                    q = harness.make_query(self.NAMES[(qid + i) % 4], qid=(qid + i) & 0xFFFF)
                    batch[query_id(q)] = q
                harness.send_msgs(self.sock, *batch.values())
                self.sent += n
                for _ in range(n):
                    r = Msg(harness.recv_msg(self.sock, timeout=3))
                    q = batch.pop(r.id)
                    if r.question != question_of(q) or not r.qr:
                        raise AssertionError("answer %d does not match its query" % r.id)
                    self.answered += 1
                self.last_answer = time.monotonic()
                qid += n
                time.sleep(0.002)
        except Exception as e:  # reported by the test
            self.error = "after %d answers: %r" % (self.answered, e)

    def finish(self):
        self.done.set()
        self.join(10)
        self.sock.close()


class Upgrades(TcpCase):
    CONF = {"tcp-idle-timeout": 60000, "tcp-io-timeout": 5000}
    UPGRADES = 10

    @classmethod
    def start_server(cls, folder, zones, conf, v6):
        cls.handoff = os.path.join(folder, "handoff.sock")
        conf["handoff-socket"] = cls.handoff
        return super().start_server(folder, zones, conf, v6)

    def successor(self, n, last=False):
        """A pindnsd taking over; stopped at the end of the test, or with last (the one
        serving when the test ends) at the end of the class, for the tests after it."""
        srv = harness.Server([harness.PINDNSD, "--foreground", "--config",
                              os.path.join(self.dir, "pindns.conf"), "--zones", self.zones,
                              "--takeover", self.handoff],
                             self.port, os.path.join(self.dir, "successor-%d.log" % n),
                             ours=True)
        if not last:
            self.addCleanup(srv.stop)
        return srv

    def test_a_client_that_does_not_read_holds_up_no_upgrade(self):
        """One client pipelines far more than the socket takes and reads nothing while
        pindnsd is upgraded: another client's answers keep coming within milliseconds
        (the old process does not wait for the slow one), and the slow one, reading at
        last, gets every answer, whole and in order, from the old process and the new."""
        hog = self.connect(timeout=5)
        # Some 24 MB: more than both sockets' buffers take (a small receive buffer would
        # do it with less, but then loopback TCP crawls through zero-window probes).
        ids = list(range(100, 500))
        harness.send_msgs(hog, *[harness.make_query(BIG_60K[0], qtype=16, qid=i)
                                 for i in ids])
        time.sleep(0.3)  # the old process now owes it answers
        pinger = Pinger(self.port)
        self.addCleanup(pinger.finish)
        slowest = [0.0]

        def watch():
            last = pinger.answered
            seen = time.monotonic()
            while not pinger.done.is_set():
                time.sleep(0.002)
                if pinger.answered != last:
                    last, now = pinger.answered, time.monotonic()
                    slowest[0] = max(slowest[0], now - seen)
                    seen = now
        pinger.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.2)
        srv = type(self).srv
        old, srv = srv, self.successor(100, last=True)
        old.proc.wait(timeout=60)
        old.stop()
        type(self).srv = srv
        time.sleep(0.3)
        pinger.finish()
        watcher.join(5)
        print("beside a client that reads nothing: the longest wait for an answer during "
              "the upgrade was %.1f ms" % (slowest[0] * 1000))
        self.assertIsNone(pinger.error)
        self.assertLess(slowest[0], 0.5, "the upgrade waited for the client that did not read")
        got = [Msg(harness.recv_msg(hog, timeout=10)).id for _ in ids]
        self.assertEqual(got, ids)

    def test_one_connection_across_ten_upgrades(self):
        before = self.tcp_counters()
        quiet = self.connect(timeout=3)  # opened now, asked only at the end
        split = self.connect(timeout=3)  # a query half sent before an upgrade
        pinger = Pinger(self.port)
        self.addCleanup(pinger.finish)
        pinger.start()
        time.sleep(0.3)
        srv = type(self).srv
        progress = [pinger.answered]
        for n in range(self.UPGRADES):
            if n == self.UPGRADES // 2:
                half = harness.frame(www(0x5151))
                split.sendall(half[:9])
            old, srv = srv, self.successor(n)
            old.proc.wait(timeout=60)
            old.stop()  # it exited by itself: fails unless that was 0, with a clean log
            self.assertIn("handed the sockets over", old.output())
            self.assertIsNone(srv.proc.poll(), srv.output())
            type(self).srv = srv  # what tearDownClass stops
            if n == self.UPGRADES // 2:
                split.sendall(half[9:])
                self.assertEqual(Msg(harness.recv_msg(split, timeout=3)).id, 0x5151)
            time.sleep(0.2)
            self.assertIsNone(pinger.error)
            progress.append(pinger.answered)
        done = time.monotonic()
        time.sleep(0.3)
        pinger.finish()
        print("across %d upgrades: %d queries sent, %d answered, answered after each: %s" % (
            self.UPGRADES, pinger.sent, pinger.answered, progress))
        self.assertIsNone(pinger.error)
        self.assertEqual(pinger.sent, pinger.answered)
        self.assertGreater(pinger.last_answer, done)
        for a, b in zip(progress, progress[1:]):
            self.assertGreater(b, a, "no answer while one upgrade ran: %s" % progress)
        self.assertEqual(ask(quiet, www(0x7171), timeout=3).id, 0x7171)
        self.assertEqual(ask(split, www(0x7272), timeout=3).id, 0x7272)
        # The counters went along: each successor adopted the three connections.
        self.assert_counted(before, "adopted", 3 * self.UPGRADES)
        self.assert_counted(before, "handed", 3 * self.UPGRADES)


if __name__ == "__main__":
    harness.main()
