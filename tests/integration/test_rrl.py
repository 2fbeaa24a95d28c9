"""Integration: response rate limiting against the real pindnsd, under a spoofing-style flood.

One pindnsd with 2 UDP workers, `rate-limit: 50`, `rate-limit-ipv4-prefix: 32` (so each
127.0.0.x is a client prefix of its own), slip 2, cookies on and one exempt prefix. The
floods come from many source ports of one address at 20 times the rate, which the
reuseport steering program (lib/net/steer.c) must bring to one worker: without it each
worker keeps its own buckets and about twice the rate gets through, which the first test
catches. Every flood is counted by what came back -- full answers, truncated (TC) or
BADCOOKIE slips, nothing -- and checked against `rate x seconds + burst` and against the
server's own guard counters (`pindnsctl stats --json`).

Traffic is sent from Python, paced, in one thread (a TCP client in a second one): 1000
queries a second is far below what Python sends here (~50k/s unpaced). Each test floods
from an address of its own, so buckets left by one test do not touch another; the file
runs in about 30 s. IPv6 (::1) is skipped on a host without IPv6 loopback.
"""

import collections
import json
import os
import random
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CTL = os.path.join(os.path.dirname(harness.PINDNSD), "pindnsctl")

RATE = 50        # rate-limit: responses per second per prefix, class and zone
WINDOW = 1       # rate-limit-window (seconds): the burst is RATE x WINDOW
BURST = RATE * WINDOW
SLIP = 2
FLOOD_QPS = 1000  # 20 x RATE
FLOOD_PORTS = 32
TOLERANCE = 0.10  # full answers within 10% of RATE x seconds + BURST
EXEMPT = "127.0.3.0/24"
DRAIN = 0.8  # seconds after the last query to wait for late answers

OPT_COOKIE = 10      # RFC 7873
RCODE_BADCOOKIE = 23


# --- DNS messages -----------------------------------------------------------------------

_skip_name = harness.skip_name


class Reply:
    """A reply, parsed just enough: ID, TC, the full rcode (with the OPT's extended bits),
    the section counts, the question's bytes and the COOKIE option (None without one)."""

    def __init__(self, data):
        self.data = data
        self.id, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
        self.qr = bool(flags & 0x8000)
        self.tc = bool(flags & 0x0200)
        self.counts = (qd, an, ns, ar)
        off = 12
        for _ in range(qd):
            off = _skip_name(data, off) + 4
        self.question = data[12:off]
        ext = 0
        self.cookie = None
        for i in range(an + ns + ar):
            off = _skip_name(data, off)
            rtype, _, ttl, rdlen = struct.unpack("!HHIH", data[off:off + 10])
            off += 10
            if rtype == 41 and i >= an + ns:
                ext = ttl >> 24
                o = off
                while o + 4 <= off + rdlen:
                    code, olen = struct.unpack("!HH", data[o:o + 4])
                    if code == OPT_COOKIE:
                        self.cookie = data[o + 4:o + 4 + olen]
                    o += 4 + olen
            off += rdlen
        self.rcode = ext << 4 | flags & 0xF


def query(name, qtype=1, cookie=None):
    """A query without RD; with cookie (client cookie, or client + server), in an OPT."""
    if cookie is None:
        return harness.make_query(name, qtype=qtype, flags=0)
    return harness.make_query(name, qtype=qtype, flags=0, options=[(OPT_COOKIE, cookie)])


# --- paced traffic ----------------------------------------------------------------------

class Stream:
    """Queries from one source address over `ports` sockets (each its own source port, in
    turn) at `rate` a second; make(n) is the n-th query (its ID is replaced). What came
    back is counted: full answers (neither TC nor BADCOOKIE) by rcode, TC and BADCOOKIE
    slips; with keep, every reply is kept too."""

    def __init__(self, source, rate, make, ports=1, keep=False):
        self.source, self.rate, self.make, self.ports, self.keep = source, rate, make, ports, keep
        self.sent = self.answered = self.tc = self.badcookie = self.unexpected = 0
        self.rcodes = collections.Counter()  # of the full answers
        self.replies = []
        self.first = self.last = None
        self.send_errors = 0

    @property
    def full(self):
        return self.answered - self.tc - self.badcookie

    @property
    def lost(self):
        return self.sent - self.answered

    @property
    def seconds(self):
        return (self.last - self.first) if self.sent > 1 else 0.0

    def count(self, data):
        r = Reply(data)
        self.answered += 1
        if r.tc:
            self.tc += 1
        elif r.rcode == RCODE_BADCOOKIE:
            self.badcookie += 1
        else:
            self.rcodes[r.rcode] += 1
        if self.keep:
            self.replies.append(r)

    def __repr__(self):
        return ("<%s: sent %d in %.2f s, answered %d (full %d %s, TC %d, BADCOOKIE %d), "
                "lost %d, unexpected %d, send errors %d>" % (
                    self.source, self.sent, self.seconds, self.answered, self.full,
                    dict(self.rcodes), self.tc, self.badcookie, self.lost, self.unexpected,
                    self.send_errors))


def run_streams(port, streams, seconds, host="127.0.0.1"):
    """Runs the streams side by side for `seconds` against host:port, then waits DRAIN
    seconds for late answers. Each reply is matched to its query by socket and ID."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    by_fd = {}
    try:
        for st in streams:
            st.socks = []
            for _ in range(st.ports):
                s = socket.socket(family, socket.SOCK_DGRAM)
                by_fd[s.fileno()] = (s, st)
                s.bind((st.source, 0))
                s.connect((host, port))
                s.setblocking(False)
                st.socks.append(s)
        next_id = {fd: random.randrange(65536) for fd in by_fd}
        pending = {}
        t0 = time.monotonic()
        end = t0 + seconds
        while True:
            now = time.monotonic()
            if now < end:
                wake = end
                for st in streams:
                    due = min(int((now - t0) * st.rate) + 1, int(seconds * st.rate))
                    while st.sent < due:
                        s = st.socks[st.sent % len(st.socks)]
                        fd = s.fileno()
                        qid = next_id[fd]
                        next_id[fd] = (qid + 1) & 0xFFFF
                        msg = struct.pack("!H", qid) + st.make(st.sent)[2:]
                        try:
                            s.send(msg)
                        except BlockingIOError:
                            st.send_errors += 1
                            break
                        pending[(fd, qid)] = st
                        st.sent += 1
                        st.last = now
                        if st.first is None:
                            st.first = now
                    wake = min(wake, t0 + (st.sent + 1) / st.rate)
                timeout = max(0.0, min(wake - time.monotonic(), 0.01))
            elif now >= end + DRAIN:
                break
            else:
                timeout = min(0.01, end + DRAIN - now)
            ready, _, _ = select.select(list(by_fd), [], [], timeout)
            for fd in ready:
                s, st = by_fd[fd]
                while True:
                    try:
                        data = s.recv(65535)
                    except BlockingIOError:
                        break
                    owner = pending.pop((fd, struct.unpack("!H", data[:2])[0]), None) \
                        if len(data) >= 12 else None
                    if owner is None:
                        st.unexpected += 1
                    else:
                        owner.count(data)
    finally:
        for s, _ in by_fd.values():
            s.close()
    return streams


def flood(source, name="www.example.com", qtype=1, cookie=None, ports=FLOOD_PORTS,
          rate=FLOOD_QPS, keep=False, names=None):
    """A flood stream: the same query over and over (or names(n), when given)."""
    fixed = query(name, qtype, cookie)
    make = (lambda n: query(names(n), qtype, cookie)) if names else (lambda n: fixed)
    return Stream(source, rate, make, ports=ports, keep=keep)


def client(source, name="www.example.com", rate=10, cookie=None, keep=False):
    """A well-behaved client: one port, a few queries a second."""
    q = query(name, cookie=cookie)
    return Stream(source, rate, lambda n: q, keep=keep)


class RateLimit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-rrl-")
        cls.sock = os.path.join(cls.dir, "control.sock")
        conf = os.path.join(cls.dir, "pindns.conf")
        with open(conf, "w") as f:
            f.write("threads: 2\n"
                    "rate-limit: %d\n"
                    "rate-limit-window: %ds\n"
                    "rate-limit-slip: %d\n"
                    "rate-limit-ipv4-prefix: 32\n"
                    "rate-limit-exempt: %s\n"
                    "cookies: yes\n"
                    "control-socket: %s\n" % (RATE, WINDOW, SLIP, EXEMPT, cls.sock))
        cls.v6 = harness.have_ipv6_loopback()
        args = ["--config", conf] + (["--listen", "[::1]:{port}"] if cls.v6 else [])
        cls.srv = harness.start_pindnsd(args, tcp=True)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def guard(self):
        """The guard counters of `pindnsctl stats --json`, summed over the workers."""
        r = harness.run([CTL, "-s", self.sock, "stats", "--json"], timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["guard"]

    def delta(self, before):
        after = self.guard()
        return {k: after[k] - before[k] for k in after}

    def assert_flood_limited(self, fl):
        """The flood went out at 10x the rate or more, and got RATE x seconds + BURST full
        answers (within TOLERANCE); of the rest, about one in SLIP came back slipped."""
        self.assertEqual(fl.unexpected, 0, fl)
        self.assertGreaterEqual(fl.sent / max(fl.seconds, 1e-9), 10 * RATE,
                                "the flood was not sent fast enough: %r" % fl)
        expected = BURST + RATE * fl.seconds
        self.assertLessEqual(abs(fl.full - expected), TOLERANCE * expected,
                             "%d full answers, %.0f expected (burst %d + %d/s x %.2f s): %r" %
                             (fl.full, expected, BURST, RATE, fl.seconds, fl))
        limited = fl.sent - fl.full
        slipped = fl.tc + fl.badcookie
        self.assertLessEqual(abs(slipped - limited / SLIP), max(3, 0.05 * limited),
                             "%d slipped of %d limited, 1 in %d expected: %r" % (
                                 slipped, limited, SLIP, fl))
        print("flood from %s: %d sent in %.2f s (%.0f/s), %d full (%.0f expected), "
              "%d slipped, %d dropped" % (fl.source, fl.sent, fl.seconds,
                                          fl.sent / fl.seconds, fl.full, expected, slipped,
                                          fl.lost))

    def assert_all_answered(self, st, rcode=0, at_least=1.0):
        """st got a full answer (rcode, no TC, no BADCOOKIE) to at_least of its queries."""
        self.assertGreater(st.sent, 0, st)
        self.assertGreaterEqual(st.rcodes[rcode], at_least * st.sent, st)
        self.assertEqual(st.tc + st.badcookie, 0, st)

    # (a)
    def test_flood_is_cut_to_the_rate_and_a_client_beside_it_is_answered(self):
        """A flood from 32 ports of 127.0.0.1 at 20x the rate for 3 s gets rate x seconds +
        burst full answers whichever worker each port's datagrams would have gone to, half
        of the rest as TC (header and question, nothing else), and the server counts
        exactly what the flood saw; a client on 127.0.0.2 meanwhile gets >= 99%."""
        before = self.guard()
        fl = flood("127.0.0.1", keep=True)
        good = client("127.0.0.2", rate=10)
        run_streams(self.port, [fl, good], 3.0)
        print(fl, good)
        self.assert_flood_limited(fl)
        self.assertGreater(fl.tc, 0, fl)
        self.assert_all_answered(good, at_least=0.99)
        q = query("www.example.com")
        for r in fl.replies:
            if r.tc:
                self.assertEqual((r.counts, r.question), ((1, 0, 0, 0), q[12:]),
                                 "a slip is the header and question alone")
            else:
                self.assertEqual(r.counts[:2], (1, 1), "a full answer has its A record")
        d = self.delta(before)
        self.assertEqual(d["rrl_slipped"], fl.tc, (d, fl))
        self.assertEqual(d["rrl_dropped"], fl.lost, (d, fl))
        self.assertEqual(d["badcookie"], 0, d)

    # (b)
    def test_tcp_is_never_limited(self):
        """During a flood from 127.0.0.1, 240 TCP queries from 127.0.0.1 -- several times
        the burst, in about a second -- are all answered in full."""
        result = {}

        q = query("www.example.com")

        def tcp_client():
            got, errors = collections.Counter(), []
            time.sleep(0.5)  # the flood has emptied the bucket by then
            try:
                for c in range(8):
                    with harness.tcp_connect(self.port, source="127.0.0.1") as s:
                        for b in range(3):
                            msgs = [struct.pack("!H", c * 100 + b * 10 + i) + q[2:]
                                    for i in range(10)]
                            harness.send_msgs(s, *msgs)
                            for _ in msgs:
                                r = Reply(harness.recv_msg(s, timeout=3.0))
                                got["tc" if r.tc else r.rcode] += 1
                        time.sleep(0.1)
            except (OSError, TimeoutError, harness.PeerClosed) as e:
                errors.append(repr(e))
            result.update(got=got, errors=errors)

        t = threading.Thread(target=tcp_client)
        fl = flood("127.0.0.1")
        t.start()
        try:
            run_streams(self.port, [fl], 3.0)
        finally:
            t.join(30)
        print(fl, result)
        self.assertLessEqual(fl.full, (1 + TOLERANCE) * (BURST + RATE * fl.seconds), fl)
        self.assertGreater(fl.lost, 0, fl)
        self.assertEqual(result["errors"], [])
        self.assertEqual(result["got"], {0: 240})

    # (c)
    def test_a_valid_server_cookie_is_never_limited_and_slips_are_badcookie(self):
        """In a flooded prefix (127.0.0.5), a client that got a server cookie before and
        sends it back is answered every time. The flood itself sends a client cookie only:
        its slips are BADCOOKIE (rcode 23, no TC) with its client cookie and a fresh
        server cookie, which then works like the first one."""
        src = "127.0.0.5"
        mine = os.urandom(8)
        # A server cookie is made for the address that asked: ask from src, before.
        st = client(src, rate=10, cookie=mine, keep=True)
        run_streams(self.port, [st], 0.1)  # one query
        self.assertEqual(st.rcodes[0], 1, st)
        cookie = st.replies[0].cookie
        self.assertEqual((len(cookie), cookie[:8]), (24, mine), cookie)

        before = self.guard()
        theirs = os.urandom(8)
        fl = flood(src, cookie=theirs, keep=True)
        good = client(src, rate=20, cookie=cookie)
        run_streams(self.port, [fl, good], 2.0)
        print(fl, good)
        self.assert_flood_limited(fl)
        self.assert_all_answered(good)
        self.assertEqual(fl.tc, 0, "a cookie client's slips are BADCOOKIE, not TC: %r" % fl)
        self.assertGreater(fl.badcookie, 0, fl)
        fresh = None
        for r in fl.replies:
            self.assertFalse(r.tc)
            self.assertIsNotNone(r.cookie, "every answer to a cookie query has a cookie")
            self.assertEqual((len(r.cookie), r.cookie[:8]), (24, theirs), r.cookie)
            if r.rcode == RCODE_BADCOOKIE:
                fresh = r.cookie
                # RFC 9018: version 1, 3 reserved bytes, the time it was made, a hash.
                made = struct.unpack("!I", fresh[12:16])[0]
                self.assertEqual(fresh[8:12], b"\1\0\0\0", fresh)
                self.assertLess(abs(made - time.time()), 10, "not a fresh cookie: %r" % fresh)
        d = self.delta(before)
        self.assertEqual(d["rrl_slipped"], fl.badcookie, (d, fl))
        self.assertEqual(d["badcookie"], fl.badcookie, (d, fl))
        self.assertEqual(d["rrl_dropped"], fl.lost, (d, fl))
        self.assertGreaterEqual(d["cookie_valid"], good.sent, (d, good))

        # The BADCOOKIE's cookie is a valid one: with it, the flood's prefix is answered
        # while a flood without cookies goes on.
        fl2 = flood(src)
        retry = client(src, rate=20, cookie=fresh)
        run_streams(self.port, [fl2, retry], 1.5)
        print(fl2, retry)
        self.assertLess(fl2.full, 0.5 * fl2.sent, "the second flood was not limited: %r" % fl2)
        self.assert_all_answered(retry)

    # (d)
    def test_an_exempt_prefix_is_never_limited(self):
        """A flood from 127.0.3.7, in rate-limit-exempt 127.0.3.0/24, is answered in full."""
        before = self.guard()
        fl = flood("127.0.3.7")
        run_streams(self.port, [fl], 2.0)
        print(fl)
        self.assertGreaterEqual(fl.sent, 10 * RATE * 2.0 * 0.9, fl)
        self.assert_all_answered(fl)
        d = self.delta(before)
        self.assertEqual((d["rrl_dropped"], d["rrl_slipped"]), (0, 0), d)

    # (e)
    def test_classes_and_zones_are_limited_apart(self):
        """An NXDOMAIN flood from 127.0.0.6 does not limit that client's answers for
        names that exist in the same zone; an answer flood for example.com from 127.0.0.7
        does not limit its answers from example.org. Each flood is limited itself."""
        fl = flood("127.0.0.6", names=lambda n: "nx%d.example.com" % n)
        same_zone = client("127.0.0.6", "www.example.com", rate=20)
        run_streams(self.port, [fl, same_zone], 2.0)
        print(fl, same_zone)
        self.assertEqual(set(fl.rcodes), {3}, fl)
        self.assert_flood_limited(fl)
        self.assert_all_answered(same_zone)

        fl = flood("127.0.0.7", "www.example.com")
        other_zone = client("127.0.0.7", "www.example.org", rate=20)
        run_streams(self.port, [fl, other_zone], 2.0)
        print(fl, other_zone)
        self.assert_flood_limited(fl)
        self.assert_all_answered(other_zone)

    # (f)
    def test_ipv6_flood_is_cut_to_the_rate(self):
        """The same over ::1: the steering program reads the IPv6 source address."""
        if not self.v6:
            self.skipTest("host: no IPv6 loopback (::1 cannot be bound)")
        before = self.guard()
        fl = flood("::1")
        run_streams(self.port, [fl], 2.0, host="::1")
        print(fl)
        self.assert_flood_limited(fl)
        d = self.delta(before)
        self.assertEqual(d["rrl_slipped"], fl.tc, (d, fl))
        self.assertEqual(d["rrl_dropped"], fl.lost, (d, fl))


class SteeringPrefixes(unittest.TestCase):
    """Every IPv6 prefix length the configuration takes builds a steering program that
    the kernel takes and that answers: one over 96 bits folds all four words of the
    address (36 instructions), which overran the program's array on the stack."""

    def test_longest_prefixes(self):
        v6 = harness.have_ipv6_loopback()
        for v4_bits, v6_bits in ((32, 97), (32, 128)):
            with self.subTest(ipv6_prefix=v6_bits):
                d = tempfile.mkdtemp(prefix="pindns-steer-")
                conf = os.path.join(d, "pindns.conf")
                with open(conf, "w") as f:
                    f.write("threads: 2\nrate-limit: 1000\nrate-limit-ipv4-prefix: %d\n"
                            "rate-limit-ipv6-prefix: %d\n" % (v4_bits, v6_bits))
                args = ["--config", conf] + (["--listen", "[::1]:{port}"] if v6 else [])
                srv = harness.start_pindnsd(args)
                try:
                    for host in ["127.0.0.1"] + (["::1"] if v6 else []):
                        r = harness.dig(srv.port, "www.example.com", "A", host=host)
                        self.assertEqual(r.rcode, "NOERROR", (host, r))
                finally:
                    srv.stop()
                    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    harness.main()
