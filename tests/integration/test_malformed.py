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
        cases = {
            "qdcount 0": q[:4] + b"\0\0" + q[6:12],
            "qdcount 2": q[:4] + b"\0\2" + q[6:] + q[12:],
            "cut question": q[:-2],
            "label type 0x40": q[:12] + b"\x41a\0\0\1\0\1",
            "pointer loop": q[:12] + b"\xc0\x0c\0\1\0\1",
            "arcount without record": q[:10] + b"\0\1" + q[12:],
        }
        for name, payload in cases.items():
            with self.subTest(name):
                self.assertEqual(rcode(self.ask(payload)), 1)
        two_opt = harness.make_query("www.example.com", edns=(1232, 0, False))
        two_opt = two_opt[:10] + b"\0\2" + two_opt[12:] + two_opt[-11:]
        self.assertEqual(rcode(self.ask(two_opt)), 1)
        self.assert_alive()

    def test_notimp_and_refused(self):
        q = harness.make_query("www.example.com")
        notify = q[:2] + struct.pack("!H", 0x2000) + q[4:]
        self.assertEqual(rcode(self.ask(notify)), 4)
        self.assertEqual(rcode(self.ask(harness.make_query("example.com", qtype=252))), 4)
        self.assertEqual(rcode(self.ask(harness.make_query("www.example.com", qclass=4))), 5)

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
