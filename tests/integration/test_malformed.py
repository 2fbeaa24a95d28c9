"""Integration: bad packets through the real sockets; the server answers or drops, never dies."""

import os
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def rcode(reply):
    return None if reply is None else struct.unpack("!H", reply[2:4])[0] & 0xF


class Malformed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Bound to the wildcard address, so replies must name their source (IP_PKTINFO).
        cls.srv = harness.start_pindnsd(["--listen", "0.0.0.0:{port}"])
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ask(self, payload, timeout=2.0):
        return harness.raw_query(self.port, payload, timeout=timeout)

    def assert_dropped(self, payload):
        # Half a second of silence: an answer, if one came, would come far sooner.
        self.assertIsNone(self.ask(payload, timeout=0.5))

    def assert_alive(self):
        reply = self.ask(harness.make_query("www.example.com"), timeout=2)
        self.assertIsNotNone(reply, "server stopped answering")
        self.assertEqual(rcode(reply), 0)

    def test_dropped(self):
        q = harness.make_query("www.example.com")
        self.assert_dropped(b"")
        self.assert_dropped(q[:11])
        self.assert_dropped(q[:2] + bytes([q[2] | 0x80]) + q[3:])  # QR set
        self.assert_dropped(b"\0" * 5000)  # larger than any query we read
        self.assert_alive()

    def test_formerr(self):
        q = harness.make_query("www.example.com")
        tsig = (b"\1k\0\0\xfa\0\xff\0\0\0\0\0\x1d\x0bhmac-sha256\0" + b"\0" * 6 +
                b"\1\x2c\0\0\x12\x34\0\0\0\0")
        opt = b"\0\0\x29\x04\xd0\0\0\0\0\0\0"
        cases = {
            "qdcount 0": q[:4] + b"\0\0" + q[6:12],
            "qdcount 2": q[:4] + b"\0\2" + q[6:] + q[12:],
            "cut question": q[:-2],
            "label type 0x40": q[:12] + b"\x41a\0\0\1\0\1",
            "pointer loop": q[:12] + b"\xc0\x0c\0\1\0\1",
            "arcount without record": q[:10] + b"\0\1" + q[12:],
            "rcode bits in the query": q[:3] + b"\x05" + q[4:],
            "option past the OPT's RDATA": q[:10] + b"\0\1" + q[12:] +
            b"\0\0\x29\x04\xd0\0\0\0\0\0\6\0\3\0\5ab",
            "bytes left after the options": q[:10] + b"\0\1" + q[12:] +
            b"\0\0\x29\x04\xd0\0\0\0\0\0\3\0\3\0",
            "a TSIG before the OPT": q[:10] + b"\0\2" + q[12:] + tsig + opt,
            "two TSIGs": q[:10] + b"\0\2" + q[12:] + tsig + tsig,
            "a TSIG cut short": q[:10] + b"\0\1" + q[12:] + tsig[:-1],
            "an A record in additional": q[:10] + b"\0\1" + q[12:] +
            b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\1\2\3\4",
        }
        for name, payload in cases.items():
            with self.subTest(name):
                reply = self.ask(payload)
                self.assertEqual(rcode(reply), 1)
                # As NSD: the header alone, no question and no OPT.
                self.assertEqual(len(reply), 12)
        two_opt = harness.make_query("www.example.com", edns=(1232, 0, False))
        two_opt = two_opt[:10] + b"\0\2" + two_opt[12:] + two_opt[-11:]
        self.assertEqual(rcode(self.ask(two_opt)), 1)
        # A well-formed TSIG with a key we do not have: NOTAUTH (BADKEY), not FORMERR.
        self.assertEqual(rcode(self.ask(q[:10] + b"\0\1" + q[12:] + tsig)), 9)
        self.assert_alive()

    def test_notimp_and_refused(self):
        q = harness.make_query("www.example.com")
        for opcode in (1, 2, 3, 5, 6, 15):
            with self.subTest(opcode=opcode):
                other = q[:2] + struct.pack("!H", 0x0100 | opcode << 11) + q[4:]
                self.assertEqual(rcode(self.ask(other)), 4)
                self.assertEqual(rcode(self.ask(other[:4] + b"\0\0" + other[6:12])), 4)
        # NOTIFY, until zones are kept as secondaries: NSD's answers for a zone it serves
        # without allow-notify (REFUSED), and for a name that is no zone (NXDOMAIN).
        notify = q[:2] + struct.pack("!H", 0x2400) + q[4:]
        self.assertEqual(rcode(self.ask(notify)), 3)
        soa = harness.make_query("example.com", qtype=6)
        self.assertEqual(rcode(self.ask(soa[:2] + struct.pack("!H", 0x2400) + soa[4:])), 5)
        self.assertEqual(rcode(self.ask(harness.make_query("example.com", qtype=252))), 4)
        self.assertEqual(rcode(self.ask(harness.make_query("example.com", qtype=251))), 5)
        self.assertEqual(rcode(self.ask(harness.make_query("www.example.com", qclass=4))), 5)

    def test_keepalive(self):
        """RFC 7828: ignored over UDP, answered over TCP, FORMERR over TCP with a TIMEOUT."""
        q = harness.make_query("www.example.com", edns=(1232, 0, False))
        plain = q[:-2] + b"\0\4" + b"\0\x0b\0\0"
        timeout = q[:-2] + b"\0\6" + b"\0\x0b\0\2\0\x64"
        for payload in (plain, timeout):
            reply = self.ask(payload)
            self.assertEqual(rcode(reply), 0)
            self.assertEqual(reply[-2:], b"\0\0")  # our OPT, with no option in it
        reply = harness.tcp_query(self.port, plain)
        self.assertEqual(rcode(reply), 0)
        self.assertEqual(reply[-6:-2], b"\0\x0b\0\2")  # keepalive, with our TIMEOUT
        reply = harness.tcp_query(self.port, timeout)
        self.assertEqual(rcode(reply), 1)
        self.assertEqual(len(reply), 12)

    def test_reply_comes_from_the_address_asked(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(harness.make_query("www.example.com"), ("127.0.0.2", self.port))
            data, peer = s.recvfrom(4096)
            self.assertEqual(peer, ("127.0.0.2", self.port))
            self.assertEqual(rcode(data), 0)

    def test_random_garbage(self):
        import random
        rnd = random.Random(7)
        q = harness.make_query("a.b.apps.example.com", edns=(1232, 0, False))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(3000):
                if i % 2:
                    payload = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(60)))
                else:
                    b = bytearray(q)
                    for _ in range(3):
                        b[rnd.randrange(len(b))] = rnd.getrandbits(8)
                    payload = bytes(b)
                s.sendto(payload, ("127.0.0.1", self.port))
        self.assert_alive()
        self.assertIsNone(self.srv.proc.poll())


if __name__ == "__main__":
    harness.main()
