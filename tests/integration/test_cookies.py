"""Integration: DNS cookies (RFC 7873) with RFC 9018 server cookies, against `dig +cookie`,
`kdig +cookie` and raw packets.

The server cookies pindnsd sends are recomputed here with a SipHash-2-4 of our own (checked
against the SipHash reference vector and an RFC 9018 example), for the configured
cookie-secret, the client's address and the timestamp in the reply, so every cookie is
checked to the byte. Cases: a client cookie alone, a valid one echoed (and invalid from
another address), bad ones (a flipped byte, a wrong length, too old, too new) with and
without cookie-require (BADCOOKIE over UDP only, which dig retries past), malformed
lengths (FORMERR with cookies on, ignored with them off), the QDCOUNT=0 probe of RFC 7873
5.4, cached answers carrying each client's own cookie, cookies beside NSID, DO, TC and
BADVERS, the random secret kept across a takeover (and not across a fresh start), and a
valid cookie exempting its client from rate limiting."""

import json
import os
import re
import shutil
import socket
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
SECRET = bytes(range(16))  # the cookie-secret of the servers that have one
SECRET_OLD = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")  # the second one accepted
CLIENT = bytes.fromhex("0102030405060708")
OTHER_CLIENT = bytes.fromhex("a1a2a3a4a5a6a7a8")
COOKIE = 10
NSID = 3
BADCOOKIE = 23
BADVERS = 16
FORMERR = 1
NOERROR = 0
TYPE_OPT = 41
WWW_A = socket.inet_aton("192.0.2.80")


# --- SipHash-2-4 and RFC 9018 server cookies -------------------------------------------

def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & 0xFFFFFFFFFFFFFFFF


def _sipround(v0, v1, v2, v3):
    v0 = (v0 + v1) & 0xFFFFFFFFFFFFFFFF
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & 0xFFFFFFFFFFFFFFFF
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & 0xFFFFFFFFFFFFFFFF
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & 0xFFFFFFFFFFFFFFFF
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key, msg):
    """SipHash-2-4 of msg with the 16-byte key, as a 64-bit integer."""
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    # The last word holds the bytes left over and, in its top byte, the length.
    words = msg + bytes(7 - len(msg) % 8) + bytes([len(msg) & 0xFF])
    for (m,) in struct.iter_unpack("<Q", words):
        v[3] ^= m
        for _ in range(2):
            v = list(_sipround(*v))
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        v = list(_sipround(*v))
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def addr_bytes(addr):
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


def server_cookie(secret, client, addr, ts):
    """The RFC 9018 server cookie for client cookie client from address addr (IPv4 or
    IPv6) at timestamp ts: version 1, reserved 0, timestamp, SipHash-2-4 of the client
    cookie, those 8 bytes and the address (its bytes little-endian, as the reference
    implementation writes them)."""
    head = bytes([1, 0, 0, 0]) + struct.pack("!I", ts & 0xFFFFFFFF)
    return head + struct.pack("<Q", siphash24(secret, client + head + addr_bytes(addr)))


# --- queries and replies ---------------------------------------------------------------

def query(name="www.example.com", qtype=1, cookie=None, qid=0x4242, edns=None, options=(),
          qdcount=1):
    """A query in wire form with a COOKIE option of cookie (bytes) when given, after the
    other options; qdcount=0 leaves the question out (an RFC 7873 5.4 probe)."""
    opts = list(options) + ([(COOKIE, cookie)] if cookie is not None else [])
    msg = harness.make_query(name, qtype=qtype, qid=qid, edns=edns, options=opts)
    if qdcount == 0:
        qend = 12 + len(harness.encode_name(name)) + 4
        msg = msg[:4] + b"\0\0" + msg[6:12] + msg[qend:]
    return msg


def udp(port, msg, source="127.0.0.1", timeout=2.0):
    """msg as one datagram from source (a loopback address) to the server (on 127.0.0.1,
    or ::1 from an IPv6 source); the reply."""
    v6 = ":" in source
    with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(msg, ("::1" if v6 else "127.0.0.1", port))
        return s.recv(65535)


def tcp(port, msg):
    return harness.tcp_query(port, msg)


_skip_name = harness.skip_name


class Msg:
    """A reply, parsed: id, flags, the full rcode (with OPT's extended bits), counts, the
    question section's bytes, the answer RRs as (type, rdata), and the OPT: version, DO,
    options as (code, data) pairs, and the COOKIE option's data (None without)."""

    def __init__(self, wire):
        self.wire = wire
        self.id, self.flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
        self.counts = (qd, an, ns, ar)
        self.tc = bool(self.flags & 0x0200)
        off = 12
        for _ in range(qd):
            off = _skip_name(wire, off) + 4
        self.question = wire[12:off]
        self.answers = []
        self.opt = None
        self.options = []
        ext = 0
        for i in range(an + ns + ar):
            end = _skip_name(wire, off)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", wire[end:end + 10])
            rdata = wire[end + 10:end + 10 + rdlen]
            if i < an:
                self.answers.append((rtype, rdata))
            if rtype == TYPE_OPT:
                ext = ttl >> 24
                self.opt = {"size": rclass, "version": (ttl >> 16) & 0xFF,
                            "do": bool(ttl & 0x8000)}
                p = 0
                while p < len(rdata):
                    code, n = struct.unpack("!HH", rdata[p:p + 4])
                    self.options.append((code, rdata[p + 4:p + 4 + n]))
                    p += 4 + n
            off = end + 10 + rdlen
        if off != len(wire):
            raise AssertionError("reply of %d bytes ends at %d" % (len(wire), off))
        self.rcode = (self.flags & 0xF) | ext << 4

    def option(self, code):
        found = [data for c, data in self.options if c == code]
        if len(found) > 1:
            raise AssertionError("option %d %d times" % (code, len(found)))
        return found[0] if found else None

    @property
    def cookie(self):
        return self.option(COOKIE)

    def __repr__(self):
        return "Msg(rcode %d, flags %04x, counts %s, options %s)" % (
            self.rcode, self.flags, self.counts, self.options)


def write_conf(folder, name, lines):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    return path


def stats(sock):
    r = harness.run([CTL, "-s", sock, "stats", "--json"], timeout=30)
    if r.returncode != 0:
        raise AssertionError("pindnsctl stats: %s" % r.stderr)
    return json.loads(r.stdout)


def dig_cookie(port, *opts, name="www.example.com", rtype="A", tool="dig"):
    """dig (or kdig) with +cookie; its output text. Skips the test when the tool is not
    installed (packaging/deps.sh test installs both: under CI=true that fails)."""
    if not shutil.which(tool):
        raise unittest.SkipTest("%s (%s) not installed" % (
            tool, "dnsutils" if tool == "dig" else "knot-dnsutils"))
    if tool == "dig":
        argv = ["dig", "@127.0.0.1", "-p", str(port), "+norec", "+tries=1", "+time=2",
                "+cookie"] + list(opts) + [name, rtype]
    else:
        argv = ["kdig", "@127.0.0.1", "-p", str(port), "+norec", "+retry=0", "+time=2",
                "+cookie"] + list(opts) + [name, rtype]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr  # kdig's warnings go to stderr


class CookieChecks:
    """Checks of a server cookie against the configured secret (mixed into a TestCase)."""

    def check_fresh(self, reply, client, addr="127.0.0.1", secret=SECRET):
        """The reply's COOKIE is client's cookie and a fresh server cookie for addr: made
        within a few seconds of now, hashed with secret. Returns the server cookie."""
        c = reply.cookie
        self.assertIsNotNone(c, reply)
        self.assertEqual(len(c), 24, c.hex())
        self.assertEqual(c[:8], client, c.hex())
        sc = c[8:]
        self.assertEqual(sc[:4], b"\x01\0\0\0", "version 1, reserved 0: %s" % sc.hex())
        ts = struct.unpack("!I", sc[4:8])[0]
        self.assertLess(abs(ts - time.time()), 5, "timestamp %d, now %d" % (ts, time.time()))
        self.assertEqual(sc, server_cookie(secret, client, addr, ts),
                         "not the RFC 9018 cookie of %s for %s" % (client.hex(), addr))
        return sc

    def check_www(self, reply, rcode=NOERROR):
        """The answer to www.example.com A: the address, as without a cookie."""
        self.assertEqual(reply.rcode, rcode, reply)
        self.assertEqual(reply.answers, [(1, WWW_A)], reply)


class SipHash(unittest.TestCase):
    def test_reference_vectors(self):
        # The SipHash reference implementation's vectors (key 00..0f, message 00..n-1).
        self.assertEqual(siphash24(bytes(range(16)), b""), 0x726FDB47DD0E0E31)
        self.assertEqual(siphash24(bytes(range(16)), bytes(range(15))), 0xA129CA6149BE45E5)
        self.assertEqual(siphash24(bytes(range(16)), bytes(range(8))), 0x93F5F5799A932462)
        # RFC 9018 appendix A.1: 198.51.100.100, timestamp 1559731985.
        self.assertEqual(server_cookie(SECRET_OLD, bytes.fromhex("2464c4abcf10c957"),
                                       "198.51.100.100", 1559731985).hex(),
                         "010000005cf79f111f8130c3eee29480")


class Cookies(CookieChecks, unittest.TestCase):
    """One server with cookies on, a fixed secret (and an older one still accepted), an
    NSID, and one worker, so every client's queries meet in one cache; one that requires
    cookies; one with cookies off."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-cookie-")
        cls.sock = os.path.join(cls.dir, "control.sock")
        conf = write_conf(cls.dir, "on.conf", [
            "cookies: yes", "cookie-secret: %s %s" % (SECRET.hex(), SECRET_OLD.hex()),
            "nsid: pindns-cookie", "control-socket: " + cls.sock])
        # Class cleanups run even when a later start fails: every server is stopped.
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.v6 = harness.have_ipv6_loopback()
        cls.srv = harness.start_pindnsd(["--config", conf, "--threads", "1"] +
                                        (["--listen", "[::1]:{port}"] if cls.v6 else []),
                                        tcp=True)
        cls.addClassCleanup(cls.srv.stop)
        cls.port = cls.srv.port
        cls.req_sock = os.path.join(cls.dir, "require.sock")
        cls.metrics_port = harness.free_port()
        conf = write_conf(cls.dir, "require.conf", [
            "cookies: yes", "cookie-secret: " + SECRET.hex(), "cookie-require: yes",
            "control-socket: " + cls.req_sock, "metrics-listen: 127.0.0.1:%d" % cls.metrics_port])
        cls.req = harness.start_pindnsd(["--config", conf], tcp=True)
        cls.addClassCleanup(cls.req.stop)
        conf = write_conf(cls.dir, "off.conf", ["cookies: no"])
        cls.off = harness.start_pindnsd(["--config", conf])
        cls.addClassCleanup(cls.off.stop)

    def ask(self, cookie, port=None, source="127.0.0.1", **kw):
        return Msg(udp(port or self.port, query(cookie=cookie, **kw), source=source))

    # 1. A client cookie alone.
    def test_client_cookie_gets_a_fresh_server_cookie(self):
        plain = Msg(udp(self.port, query()))
        r = self.ask(CLIENT)
        self.check_www(r)
        self.assertEqual(r.answers, plain.answers)
        self.assertEqual(r.question, plain.question)
        self.check_fresh(r, CLIENT)
        self.assertEqual(r.options, [(COOKIE, r.cookie)])  # nothing else asked for
        # Each tool prints the cookie its own way: dig says it is good, kdig only shows it.
        for tool, shown in (("dig", r"; COOKIE: ([0-9a-f]{48}) \(good\)"),
                            ("kdig", r";; COOKIE: ([0-9A-F]{48})")):
            out = dig_cookie(self.port, tool=tool)
            self.assertIn("status: NOERROR", out)
            m = re.search(shown, out)
            self.assertIsNotNone(m, out)
            sc = bytes.fromhex(m.group(1))
            self.assertEqual(sc[8:], server_cookie(SECRET, sc[:8], "127.0.0.1",
                                                   struct.unpack("!I", sc[12:16])[0]))
        self.assertNotIn("WARNING", out)

    # 2. The server cookie sent back; from another address it is another client's.
    def test_valid_server_cookie_is_echoed(self):
        sc = self.check_fresh(self.ask(CLIENT), CLIENT)
        before = stats(self.sock)["guard"]
        time.sleep(1.1)  # a renewed cookie would have a later timestamp
        for _ in range(2):
            r = self.ask(CLIENT + sc)
            self.check_www(r)
            self.assertEqual(r.cookie, CLIENT + sc, "a valid cookie < 30 min old comes back")
        after = stats(self.sock)["guard"]
        self.assertEqual(after["cookie_valid"] - before["cookie_valid"], 2)
        self.assertEqual(after["cookie_invalid"], before["cookie_invalid"])
        # 127.0.0.2 is another client: the cookie is not valid for it.
        r = self.ask(CLIENT + sc, source="127.0.0.2")
        self.check_www(r)
        sc2 = self.check_fresh(r, CLIENT, addr="127.0.0.2")
        self.assertNotEqual(sc2, sc)
        self.assertEqual(stats(self.sock)["guard"]["cookie_invalid"] - after["cookie_invalid"], 1)
        # The first cookie, back from 127.0.0.1 again: still valid there.
        self.assertEqual(self.ask(CLIENT + sc).cookie, CLIENT + sc)
        # dig, given the cookie back, says it is good, and gets it echoed.
        out = dig_cookie(self.port, "+cookie=" + (CLIENT + sc).hex())
        self.assertIn("; COOKIE: %s (good)" % (CLIENT + sc).hex(), out)
        # Over TCP it is valid too.
        r = Msg(tcp(self.port, query(cookie=CLIENT + sc)))
        self.check_www(r)
        self.assertEqual(r.cookie, CLIENT + sc)

    def test_ipv6_client(self):
        if not self.v6:
            self.skipTest("host: no IPv6 loopback")
        r = self.ask(CLIENT, source="::1")
        self.check_www(r)
        sc = self.check_fresh(r, CLIENT, addr="::1")  # hashed with the 16-byte address
        r = self.ask(CLIENT + sc, source="::1")
        self.assertEqual(r.cookie, CLIENT + sc)
        # Not valid for 127.0.0.1.
        self.check_fresh(self.ask(CLIENT + sc), CLIENT)

    def test_cookie_age_and_second_secret(self):
        now = int(time.time())
        # 31 minutes old: still valid, but replaced by a fresh one.
        old = server_cookie(SECRET, CLIENT, "127.0.0.1", now - 31 * 60)
        before = stats(self.sock)["guard"]
        r = self.ask(CLIENT + old)
        self.check_www(r)
        self.check_fresh(r, CLIENT)
        self.assertEqual(stats(self.sock)["guard"]["cookie_valid"] - before["cookie_valid"], 1)
        # Made with the second secret: valid, and replaced by one of the first.
        prev = server_cookie(SECRET_OLD, CLIENT, "127.0.0.1", now)
        r = self.ask(CLIENT + prev)
        self.check_www(r)
        self.check_fresh(r, CLIENT)
        # Reserved bits set, hashed with the right secret: accepted (the hash covers them),
        # but not sent back as it came: one of ours has them zero (RFC 9018 4.2).
        head = bytes([1, 0, 1, 0]) + struct.pack("!I", now)
        reserved = head + struct.pack("<Q", siphash24(SECRET, CLIENT + head +
                                                      addr_bytes("127.0.0.1")))
        r = self.ask(CLIENT + reserved)
        self.check_www(r)
        self.check_fresh(r, CLIENT)
        after = stats(self.sock)["guard"]
        self.assertEqual(after["cookie_valid"] - before["cookie_valid"], 3)
        self.assertEqual(after["cookie_invalid"], before["cookie_invalid"])

    # 3. Bad server cookies: a fresh one without cookie-require, BADCOOKIE with it.
    def bad_cookies(self):
        now = int(time.time())
        good = server_cookie(SECRET, CLIENT, "127.0.0.1", now)
        flipped = [good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1:] for i in (0, 8, 15)]
        return {
            "flipped version": flipped[0], "flipped hash": flipped[1],
            "flipped last": flipped[2],
            "8+8": good[:8],  # a server cookie of 8 bytes: no RFC 9018 one
            "8+24": good + bytes(8),
            "61 min old": server_cookie(SECRET, CLIENT, "127.0.0.1", now - 3660),
            "6 min ahead": server_cookie(SECRET, CLIENT, "127.0.0.1", now + 360),
            "other client's": server_cookie(SECRET, OTHER_CLIENT, "127.0.0.1", now),
            "unknown secret": server_cookie(bytes(16), CLIENT, "127.0.0.1", now),
        }

    def test_bad_server_cookie_gets_a_fresh_one(self):
        for what, sc in self.bad_cookies().items():
            with self.subTest(what):
                before = stats(self.sock)["guard"]["cookie_invalid"]
                r = self.ask(CLIENT + sc)
                self.check_www(r)
                self.check_fresh(r, CLIENT)
                self.assertEqual(stats(self.sock)["guard"]["cookie_invalid"] - before, 1)

    def test_bad_server_cookie_with_require_is_badcookie(self):
        q_name = "WwW.Example.COM"  # the question is echoed as it came
        before = stats(self.req_sock)
        n = 0
        for what, sc in list(self.bad_cookies().items()) + [("none", b"")]:
            with self.subTest(what):
                q = query(name=q_name, cookie=CLIENT + sc)
                r = Msg(udp(self.req.port, q))
                n += 1
                self.assertEqual(r.rcode, BADCOOKIE, r)
                self.assertEqual(r.flags & 0xF, BADCOOKIE & 0xF)  # 7 in the header, 1 in OPT
                self.assertEqual(r.counts[:3], (1, 0, 0))
                self.assertEqual(r.question, q[12:12 + len(r.question)])
                self.assertEqual(r.id, 0x4242)
                fresh = self.check_fresh(r, CLIENT)
                # Retried with the fresh cookie: the answer.
                r = Msg(udp(self.req.port, query(cookie=CLIENT + fresh)))
                self.check_www(r)
                self.assertEqual(r.cookie, CLIENT + fresh)
                # Over TCP, the source address is proven: never BADCOOKIE.
                r = Msg(tcp(self.req.port, q))
                self.assertEqual(r.rcode, NOERROR, r)
                self.assertEqual(r.answers, [(1, WWW_A)])
                self.check_fresh(r, CLIENT)
        after = stats(self.req_sock)
        self.assertEqual(after["guard"]["badcookie"] - before["guard"]["badcookie"], n,
                         "the badcookie counter counts BADCOOKIE responses")
        # The metrics say what the stats say.
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                      timeout=10).read().decode()
        for name, key in (("pindns_badcookie_total", "badcookie"),
                          ("pindns_cookie_valid_total", "cookie_valid"),
                          ("pindns_cookie_invalid_total", "cookie_invalid"),
                          ("pindns_cookie_client_total", "cookie_client")):
            self.assertIn("# TYPE %s counter\n" % name, body)
            got = sum(int(v) for v in re.findall(r"^%s(?:\{[^}]*\})? (\d+)$" % name, body,
                                                 re.M))
            self.assertEqual(got, stats(self.req_sock)["guard"][key], name)
        # No cookie at all is answered: cookie-require is for clients that send one.
        r = Msg(udp(self.req.port, query()))
        self.check_www(r)
        self.assertIsNone(r.opt)
        r = Msg(udp(self.req.port, query(edns=(1232, 0, False))))
        self.check_www(r)
        self.assertIsNone(r.cookie)

    def test_dig_retries_past_badcookie(self):
        out = dig_cookie(self.req.port, "+nobadcookie")
        self.assertIn("status: BADCOOKIE", out)
        self.assertRegex(out, r"; COOKIE: [0-9a-f]{48} \(good\)")
        out = dig_cookie(self.req.port)
        self.assertIn(";; BADCOOKIE, retrying.", out)
        self.assertIn("status: NOERROR", out)
        self.assertIn("192.0.2.80", out)
        self.assertRegex(out, r"; COOKIE: [0-9a-f]{48} \(good\)")
        out = dig_cookie(self.req.port, tool="kdig")
        self.assertIn("status: BADCOOKIE", out)
        self.assertIn("retrying with the received one", out)
        self.assertIn("status: NOERROR", out)
        self.assertIn("192.0.2.80", out)
        out = dig_cookie(self.req.port, "+tcp")
        self.assertIn("status: NOERROR", out)
        self.assertNotIn("BADCOOKIE", out)

    # 4. Malformed COOKIE options.
    def test_malformed_cookie_lengths(self):
        for n in list(range(0, 8)) + list(range(9, 16)) + [41]:
            data = bytes(range(1, n + 1))
            with self.subTest(length=n):
                for port in (self.port, self.req.port):
                    r = Msg(udp(port, query(cookie=data)))
                    self.assertEqual(r.rcode, FORMERR, r)
                    self.assertEqual(r.answers, [])
                    self.assertIsNone(r.cookie, r)
                r = Msg(tcp(self.port, query(cookie=data)))
                self.assertEqual(r.rcode, FORMERR, r)
                # Cookies off: the option is ignored (as NSD 4.6 does), no FORMERR.
                r = Msg(udp(self.off.port, query(cookie=data)))
                self.check_www(r)
                self.assertIsNotNone(r.opt)
                self.assertIsNone(r.cookie, r)
        # Lengths that are well formed: 8, 16 and up to 40 (no RFC 9018 cookie, invalid).
        for n in (8, 16, 24, 40):
            data = CLIENT + bytes(range(1, n - 7))
            with self.subTest(length=n):
                r = Msg(udp(self.port, query(cookie=data)))
                self.check_www(r)
                self.check_fresh(r, CLIENT)
                r = Msg(udp(self.off.port, query(cookie=data)))
                self.check_www(r)
                self.assertIsNone(r.cookie)
        # dig against cookies off: the answer, and no cookie back.
        out = dig_cookie(self.off.port)
        self.assertIn("status: NOERROR", out)
        self.assertNotIn("COOKIE:", out)
        # Only the first COOKIE option counts.
        r = Msg(udp(self.port, query(options=[(COOKIE, CLIENT)], cookie=OTHER_CLIENT)))
        self.check_www(r)
        self.check_fresh(r, CLIENT)

    # 5. The QDCOUNT=0 probe of RFC 7873 5.4.
    def test_qdcount_zero_probe(self):
        for port in (self.port, self.req.port):
            with self.subTest(port=port):
                r = Msg(udp(port, query(cookie=CLIENT, qdcount=0)))
                self.assertEqual(r.rcode, NOERROR, "5.4: just a client cookie is NOERROR: %s" % r)
                self.assertEqual(r.counts[:3], (0, 0, 0))
                sc = self.check_fresh(r, CLIENT)
                r = Msg(udp(port, query(cookie=CLIENT + sc, qdcount=0)))
                self.assertEqual(r.rcode, NOERROR, r)
                self.assertEqual(r.cookie, CLIENT + sc)
                bad = sc[:8] + bytes(8)
                r = Msg(udp(port, query(cookie=CLIENT + bad, qdcount=0)))
                self.assertEqual(r.rcode, BADCOOKIE, "5.4: an invalid one is BADCOOKIE: %s" % r)
                self.assertEqual(r.counts[:3], (0, 0, 0))
                self.check_fresh(r, CLIENT)
        # Without cookies on, the probe is the bare OPT answer it always was.
        r = Msg(udp(self.off.port, query(cookie=CLIENT, qdcount=0)))
        self.assertEqual(r.rcode, NOERROR, r)
        self.assertIsNone(r.cookie)

    # 6. The cache: each reply carries its own client's cookie.
    def test_cached_answers_get_each_clients_cookie(self):
        before = stats(self.sock)["total"]
        clients = [("127.0.0.1", CLIENT), ("127.0.0.2", CLIENT), ("127.0.0.1", OTHER_CLIENT),
                   ("127.0.0.2", OTHER_CLIENT)]
        seen = {}
        for rnd in range(3):
            for addr, client in clients:
                # The first time a client cookie alone, then the server cookie it got.
                sc = seen.get((addr, client), b"")
                r = self.ask(client + sc, source=addr, name="mail.example.com", qid=rnd)
                self.assertEqual(r.rcode, NOERROR, r)
                self.assertEqual(r.answers, [(1, socket.inet_aton("192.0.2.25"))])
                self.assertEqual(r.id, rnd)
                got = self.check_fresh(r, client, addr=addr)
                if sc:
                    self.assertEqual(got, sc, "a valid cookie is echoed, also from the cache")
                seen[(addr, client)] = got
        # Truncated answers from the cache too.
        for rnd in range(3):
            for addr, client in clients:
                r = self.ask(client, source=addr, name="big.example.com", qtype=16,
                             edns=(512, 0, False))
                self.assertTrue(r.tc, r)
                self.check_fresh(r, client, addr=addr)
        after = stats(self.sock)["total"]
        hits = after["cache_hits"] - before["cache_hits"]
        misses = after["cache_misses"] - before["cache_misses"]
        # One worker, one cache: at most one miss for each of the two questions (none
        # when another test stored it first), the rest hits, each patched for its client.
        self.assertEqual(hits + misses, 24, after)
        self.assertLessEqual(misses, 2, after)

    # 7. Cookies beside other options.
    def test_cookie_with_nsid_do_tc_badvers(self):
        r = self.ask(CLIENT, options=[(NSID, b"")], edns=(1232, 0, True))
        self.check_www(r)
        self.assertEqual(r.option(NSID), b"pindns-cookie")
        self.assertTrue(r.opt["do"])
        self.check_fresh(r, CLIENT)
        self.assertEqual(r.options[-1][0], COOKIE)
        out = dig_cookie(self.port, "+nsid", "+dnssec")
        self.assertIn('NSID: 70 69 6e 64 6e 73 2d 63 6f 6f 6b 69 65 ("pindns-cookie")', out)
        self.assertRegex(out, r"; COOKIE: [0-9a-f]{48} \(good\)")
        self.assertRegex(out, r"; EDNS: version: 0, flags: do;")
        # The COOKIE first in the query: the reply still ends with it (what the cache
        # patches), for each client, the second from the cache.
        for client in (OTHER_CLIENT, CLIENT):
            r = Msg(udp(self.port, query(name="ns1.example.com",
                                         options=[(COOKIE, client), (NSID, b"")])))
            self.assertEqual(r.answers, [(1, socket.inet_aton("192.0.2.53"))])
            self.assertEqual([c for c, _ in r.options], [NSID, COOKIE])
            self.check_fresh(r, client)
        # A large answer: truncated over UDP, with the cookie; whole over TCP.
        r = self.ask(CLIENT, name="big.example.com", qtype=16, edns=(512, 0, False),
                     options=[(NSID, b"")])
        self.assertTrue(r.tc, r)
        self.assertLessEqual(len(r.wire), 512)
        self.check_fresh(r, CLIENT)
        r = Msg(tcp(self.port, query(name="big.example.com", qtype=16, cookie=CLIENT)))
        self.assertFalse(r.tc)
        self.assertEqual(len(r.answers), 6)
        self.check_fresh(r, CLIENT)
        out = dig_cookie(self.port, "+bufsize=512", "+ignore", name="big.example.com",
                         rtype="TXT")
        self.assertRegex(out, r"flags: qr aa tc;")
        self.assertRegex(out, r"; COOKIE: [0-9a-f]{48} \(good\)")
        # EDNS version 1: BADVERS, a bare OPT (options are not read), with or without
        # cookie-require; never BADCOOKIE.
        for port in (self.port, self.req.port):
            r = Msg(udp(port, query(cookie=CLIENT, edns=(1232, 1, False))))
            self.assertEqual(r.rcode, BADVERS, r)
            self.assertEqual(r.opt["version"], 0)
            self.assertEqual(r.options, [])
            self.assertEqual(r.answers, [])

    def test_stats_line(self):
        r = harness.run([CTL, "-s", self.sock, "stats"], timeout=30)
        self.assertRegex(r.stdout, r"\nguard: rrl-dropped 0 rrl-slipped 0 cookie-client \d+ "
                                   r"cookie-valid \d+ cookie-invalid \d+ badcookie \d+\n")


class Upgrade(CookieChecks, unittest.TestCase):
    """8. A random secret (no cookie-secret) is kept across a takeover, and is new after a
    fresh start."""

    def test_cookie_survives_takeover_not_restart(self):
        folder = tempfile.mkdtemp(prefix="pindns-cookie-up-")
        self.addCleanup(shutil.rmtree, folder, True)
        sock = os.path.join(folder, "control.sock")
        hsock = os.path.join(folder, "handoff.sock")
        conf = write_conf(folder, "pindns.conf", [
            "cookies: yes", "cookie-require: yes", "control-socket: " + sock])
        first = harness.start_pindnsd(["--config", conf, "--handoff-socket", hsock])
        self.addCleanup(first.stop)
        port = first.port
        self.assertIn("cookies: a new random secret", first.output())
        # The cookie: got from a BADCOOKIE, then valid.
        r = Msg(udp(port, query(cookie=CLIENT)))
        self.assertEqual(r.rcode, BADCOOKIE, r)
        sc = r.cookie[8:]
        self.assertEqual(len(sc), 16)
        r = Msg(udp(port, query(cookie=CLIENT + sc)))
        self.check_www(r)
        self.assertEqual(r.cookie, CLIENT + sc)

        succ = harness.Server(
            [harness.PINDNSD, "--foreground", "--listen", "127.0.0.1:%d" % port, "--threads",
             "2", "--zones", harness.served_zones(), "--config", conf, "--takeover", hsock,
             "--handoff-socket", hsock], port, os.path.join(folder, "successor.log"), ours=True)
        self.addCleanup(succ.stop)
        first.proc.wait(timeout=60)
        first.stop()
        self.assertIn("handed the sockets over", first.output())
        harness.wait_for_udp(port, proc=succ.proc)
        self.assertIn("cookies: the predecessor's secret", succ.output())
        before = stats(sock)["guard"]
        for i in range(3):
            r = Msg(udp(port, query(cookie=CLIENT + sc, qid=i)))
            self.assertNotEqual(r.rcode, BADCOOKIE, "the cookie died in the takeover")
            self.check_www(r)
            self.assertEqual(r.cookie, CLIENT + sc)
        after = stats(sock)["guard"]
        self.assertEqual(after["cookie_valid"] - before["cookie_valid"], 3)
        self.assertEqual(after["cookie_invalid"] - before["cookie_invalid"], 0)
        succ.stop()

        # Started afresh: a new random secret, and the old cookie is refused.
        fresh = harness.start_pindnsd(["--config", conf])
        self.addCleanup(fresh.stop)
        self.assertIn("cookies: a new random secret", fresh.output())
        r = Msg(udp(fresh.port, query(cookie=CLIENT + sc)))
        self.assertEqual(r.rcode, BADCOOKIE, r)
        self.assertNotEqual(r.cookie[8:], sc)
        fresh.stop()


class RateLimit(CookieChecks, unittest.TestCase):
    """9. A valid server cookie exempts its client from rate limiting."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pindns-cookie-rrl-")
        cls.sock = os.path.join(cls.dir, "control.sock")
        conf = write_conf(cls.dir, "rrl.conf", [
            "cookies: yes", "cookie-secret: " + SECRET.hex(), "rate-limit: 5",
            "rate-limit-ipv4-prefix: 32", "rate-limit-slip: 2", "control-socket: " + cls.sock])
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.srv = harness.start_pindnsd(["--config", conf], tcp=True)
        cls.addClassCleanup(cls.srv.stop)

    def flood(self, cookie, n=200):
        """n queries for www.example.com sent at once from one socket (127.0.0.1), their
        replies collected until none came for a second: (replies, seconds taken)."""
        replies = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            start = time.monotonic()
            for i in range(n):
                s.sendto(query(cookie=cookie, qid=i), ("127.0.0.1", self.srv.port))
            s.settimeout(1.0)
            last = start
            while len(replies) < n:
                try:
                    r = Msg(s.recv(65535))
                except socket.timeout:
                    break
                last = time.monotonic()
                self.assertNotIn(r.id, replies)
                replies[r.id] = r
        return replies, last - start

    def test_valid_cookie_is_never_limited(self):
        sc = server_cookie(SECRET, CLIENT, "127.0.0.1", int(time.time()))
        before = stats(self.sock)["guard"]
        replies, _ = self.flood(CLIENT + sc)
        self.assertEqual(len(replies), 200)
        for r in replies.values():
            self.check_www(r)
            self.assertFalse(r.tc)
            self.assertEqual(r.cookie, CLIENT + sc)
        g = stats(self.sock)["guard"]
        self.assertEqual(g["rrl_dropped"] + g["rrl_slipped"],
                         before["rrl_dropped"] + before["rrl_slipped"])
        self.assertEqual(g["cookie_valid"] - before["cookie_valid"], 200)

        # Without a cookie: limited to the burst (5) and 5/s, every 2nd of the rest TC.
        replies, took = self.flood(None)
        full = [r for r in replies.values() if not r.tc]
        tc = [r for r in replies.values() if r.tc]
        for r in full:
            self.check_www(r)
        self.assertGreaterEqual(len(full), 1)
        self.assertLessEqual(len(full), 5 + 5 * took + 1, (len(full), took))
        self.assertGreater(len(tc), 50)
        for r in tc:
            self.assertEqual(r.counts, (1, 0, 0, 0), r)
        self.assertLess(len(replies), 200)
        g2 = stats(self.sock)["guard"]
        self.assertEqual(g2["rrl_slipped"] - g["rrl_slipped"], len(tc))
        self.assertEqual(g2["rrl_dropped"] - g["rrl_dropped"], 200 - len(replies))

        # A client cookie alone is no exemption: the slips are BADCOOKIE with a fresh cookie.
        replies, took = self.flood(CLIENT)
        full = [r for r in replies.values() if r.rcode == NOERROR]
        bad = [r for r in replies.values() if r.rcode == BADCOOKIE]
        self.assertGreaterEqual(len(full), 1)  # the bucket refilled while we waited
        self.assertLessEqual(len(full), 5 + 5 * took + 1, (len(full), took))
        self.assertGreater(len(bad), 50)
        self.assertEqual(len(full) + len(bad), len(replies))
        for r in full:
            self.check_www(r)
            self.check_fresh(r, CLIENT)
        for r in bad:
            self.assertFalse(r.tc)
            self.assertEqual(r.counts[:3], (1, 0, 0))
            fresh = self.check_fresh(r, CLIENT)
        g3 = stats(self.sock)["guard"]
        self.assertEqual(g3["badcookie"] - g2["badcookie"], len(bad))
        # ... and the cookie a BADCOOKIE slip gave gets everything through.
        replies, _ = self.flood(CLIENT + fresh)
        self.assertEqual(len(replies), 200)
        for r in replies.values():
            self.check_www(r)
        # TCP is never limited.
        with harness.tcp_connect(self.srv.port) as s:
            for i in range(20):
                harness.send_msgs(s, query(qid=i))
                r = Msg(harness.recv_msg(s))
                self.check_www(r)


if __name__ == "__main__":
    harness.main()
