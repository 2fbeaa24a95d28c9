"""Integration: the hostile corpus (hostile.py) against one real pindnsd, over UDP and TCP.

Every malformed packet must get the reply its expectation says, or none. A valid query
asked after every ten or so of them must be answered right: one asked again and again
(the answer cache has it) with the same bytes each time, one for a name never asked
before (answered in full) as the zone says. Over TCP a packet dropped over UDP closes
the connection (the client connects again and carries on), and the others are answered
as over UDP but for TC, as tests/integration/test_tcp.py has it.
The server runs under the sanitizers of the build and must exit 0 with no report.
test_corpus sends every family but the COOKIE one, test_cookie that one (RFC 7873
5.2.2: a COOKIE option of a length no cookie has is FORMERR).
"""

import os
import shutil
import socket
import struct
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hostile  # noqa: E402

# Malformed packets between two valid queries: 10 on average, but not always 10, so that
# a valid query does not always take the same place in the server's batch of datagrams
# (the state a malformed packet could leave there is in the slot it was parsed in).
GAPS = (10, 7, 13, 9, 11, 8, 12)
WAIT = 2.0           # seconds a reply may take (the server runs under ASan)
UDP_DRAIN = 0.3      # at the end, for late replies to dropped packets
TCP_CHUNK = max(GAPS) + 1
SHOWN = 20           # mismatches listed in a failure


def qid(packet):
    return struct.unpack("!H", packet[:2])[0] if len(packet) >= 2 else None


class Run:
    """One transport's pass over some cases: the packets in order with a valid query after
    every few of them (GAPS), the reply each got (None: none), and the problems seen on
    the way (a valid query answered wrongly, a reply no one asked for)."""

    def __init__(self, cases, first_valid):
        self.cases = cases
        self.seq = []  # (case, its index), or (None, n) for the valid query n
        k, gap = first_valid, 0
        for i, c in enumerate(cases):
            self.seq.append((c, i))
            gap += 1
            if gap == GAPS[k % len(GAPS)]:
                self.seq.append((None, k))
                k, gap = k + 1, 0
        self.seq.append((None, k))
        self.replies = {}   # case index -> reply bytes
        self.position = {item: pos for pos, item in enumerate(self.seq)}
        self.problems = []  # strings, for problems that are not one case's
        self.reconnects = 0

    def after(self, item):
        """The corpus number (from 1) of the case sent just before item."""
        for c, i in reversed(self.seq[:self.position[item]]):
            if c is not None:
                return i + 1
        return 0

    def packet(self, item):
        c, n = item
        return hostile.valid_query(n)[0] if c is None else c.packet

    def expect(self, item, tcp):
        c, n = item
        if c is None:
            return hostile.valid_query(n)[1]
        return c.tcp if tcp else c.udp


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cases = hostile.corpus()
        # Cookies on, so the corpus goes through their checks too (and a COOKIE option
        # of a bad length is FORMERR: with them off it is ignored, as NSD 4.6 does).
        cls.folder = tempfile.mkdtemp(prefix="pindns-hostile-")
        conf = os.path.join(cls.folder, "pindns.conf")
        with open(conf, "w") as f:
            f.write("cookies: yes\n")
        cls.srv = harness.start_pindnsd(["--config", conf], tcp=True)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()  # fails unless pindnsd exits 0 with no sanitizer report
        shutil.rmtree(cls.folder, ignore_errors=True)

    def setUp(self):
        self.assertIsNone(self.srv.proc.poll(), "the server is gone:\n" + self.srv.output())

    # -- the valid queries' answers --

    FIRST = 0x3000  # the valid queries asked before the corpus: n from here

    def references(self, ask):
        """The answer of each kind of valid query, asked before the corpus, checked against
        its expectation: every later answer to a fixed one must be these bytes."""
        refs = {}
        for kind in range(hostile.VALID_KINDS):
            pkt, exp, fixed = hostile.valid_query(self.FIRST + kind)
            reply = ask(pkt)
            problems = hostile.check(pkt, exp, reply)
            self.assertEqual(problems, [], "valid query %s: %s" % (pkt[12:].hex(), problems))
            if fixed:
                refs[kind] = reply[2:]
        return refs

    def check_valid(self, run, refs, item, reply, where):
        _, n = item
        pkt, exp, fixed = hostile.valid_query(n)
        problems = hostile.check(pkt, exp, reply)
        if not problems and fixed and reply[2:] != refs[n % hostile.VALID_KINDS]:
            problems = ["not the bytes of its first answer: %s" % reply[:64].hex()]
        if problems:
            run.problems.append("valid query %d (%s, %s) after #%d: %s" % (
                n, where, pkt[12:].hex(), run.after(item), "; ".join(problems)))

    # -- UDP --

    def udp_ask(self, packet):
        return harness.raw_query(self.port, packet, timeout=WAIT)

    def run_udp(self, cases, first_valid):
        """Sends the cases by windows of a few (GAPS) and a valid query (sent last), waits for
        the replies the window should get; a reply to a packet that should have none
        shows up by its ID, then or in the drain at the end."""
        run = Run(cases, first_valid)
        refs = self.references(self.udp_ask)
        owner = {}  # ID -> sequence item
        for item in run.seq:
            pkt = run.packet(item)
            if len(pkt) >= 2:
                self.assertNotIn(qid(pkt), owner, "two packets with one ID")
                owner[qid(pkt)] = item
        got = {}  # ID -> [replies]
        stray = []
        silent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

            def receive(wanted, until):
                while wanted and time.monotonic() < until:
                    s.settimeout(max(0.001, until - time.monotonic()))
                    try:
                        data = s.recv(65535)
                    except socket.timeout:
                        break
                    if qid(data) in owner:
                        got.setdefault(qid(data), []).append(data)
                        wanted.discard(qid(data))
                    else:
                        stray.append(data)
                return wanted

            window = []
            for item in run.seq:
                window.append(item)
                if item[0] is not None:
                    continue
                wanted = set()
                for w in window:
                    pkt = run.packet(w)
                    s.sendto(pkt, ("127.0.0.1", self.port))
                    if run.expect(w, False).kind != "drop":
                        wanted.add(qid(pkt))
                left = receive(wanted, time.monotonic() + WAIT)
                window = []
                if left:
                    silent += 1
                    self.assertIsNone(self.srv.proc.poll(),
                                      "pindnsd died:\n" + self.srv.output())
                    if silent >= 5:
                        run.problems.append("stopped after 5 windows with replies missing")
                        break
            receive({-1}, time.monotonic() + UDP_DRAIN)
        for i, item in enumerate(run.seq):
            pkt = run.packet(item)
            replies = got.get(qid(pkt), []) if len(pkt) >= 2 else []
            if len(replies) > 1:
                run.problems.append("%d replies to %r" % (len(replies), item[0] or "valid"))
            reply = replies[0] if replies else None
            if item[0] is None:
                self.check_valid(run, refs, item, reply, "UDP")
            else:
                run.replies[item[1]] = reply
        for data in stray:
            run.problems.append("UDP reply with an ID no packet had: %s" % data[:32].hex())
        return run

    # -- TCP --

    def tcp_ask(self, packet):
        return harness.tcp_query(self.port, packet, timeout=WAIT)

    def run_tcp(self, cases, first_valid):
        """Sends the sequence framed on one connection, by chunks that end at a packet to
        be dropped; reads the replies in order. The server closes the connection on a
        packet it has no answer for: then the client connects again and goes on with the
        next packet."""
        run = Run(cases, first_valid)
        refs = self.references(self.tcp_ask)
        i, conn, timeouts = 0, None, 0
        try:
            while i < len(run.seq):
                if timeouts >= 5:
                    run.problems.append("stopped after 5 waits for a reply in vain")
                    break
                if conn is None:
                    conn = harness.tcp_connect(self.port, timeout=WAIT)
                chunk = []
                for item in run.seq[i:i + TCP_CHUNK]:
                    chunk.append(item)
                    if run.expect(item, True).kind == "drop":
                        break
                try:
                    harness.send_msgs(conn, *[run.packet(item) for item in chunk])
                except (BrokenPipeError, ConnectionResetError):
                    # Closed after the last chunk's final answer: what was owed came.
                    conn.close()
                    conn = None
                    run.problems.append("connection closed by the server before packet %d "
                                        "(after an answer)" % i)
                    run.reconnects += 1
                    continue
                for item in chunk:
                    i += 1
                    exp = run.expect(item, True)
                    reply, closed = None, None
                    try:
                        reply = harness.recv_msg(conn, timeout=WAIT)
                    except harness.PeerClosed as e:
                        closed = e.how
                        if e.partial:
                            run.problems.append("TCP: %d bytes of a message, then closed" %
                                                len(e.partial))
                    except TimeoutError:
                        closed = "timeout"
                        timeouts += 1
                        if exp.kind == "drop":
                            run.problems.append(
                                "TCP: %r neither answered nor closed in %.0f s" % (
                                    item[0], WAIT))
                    if item[0] is None:
                        self.check_valid(run, refs, item, reply, "TCP")
                    else:
                        run.replies[item[1]] = reply
                    if closed:
                        conn.close()
                        conn = None
                        run.reconnects += 1
                        self.assertIsNone(self.srv.proc.poll(),
                                          "pindnsd died:\n" + self.srv.output())
                        break
        finally:
            if conn is not None:
                conn.close()
        return run

    # -- both --

    def mismatches(self, run, tcp):
        out = []
        for i, c in enumerate(run.cases):
            problems = hostile.check(c.packet, c.tcp if tcp else c.udp, run.replies.get(i))
            if problems:
                out.append((c, problems))
        return out

    def run_both(self, family_pred, first_valid):
        """Sends the cases of the families family_pred takes over UDP, then TCP, with the
        valid queries from first_valid on between them (a name no other test asked)."""
        cases = [c for c in self.cases if family_pred(c.family)]
        self.assertGreater(len(cases), 0)
        report, failed_families = [], {}
        runs = {}
        for transport in ("udp", "tcp"):
            t0 = time.monotonic()
            run = (self.run_udp if transport == "udp" else self.run_tcp)(cases, first_valid)
            took = time.monotonic() - t0
            runs[transport] = run
            bad = self.mismatches(run, transport == "tcp")
            # The run's own problems first: a stall or a valid query answered wrongly
            # explains the mismatches after it.
            report += ["%s: %s" % (transport, p) for p in run.problems]
            answered = sum(1 for r in run.replies.values() if r is not None)
            print("%s: %d packets (%d answered) and %d valid queries in %.2f s, "
                  "%d reconnects, %d mismatches" % (
                      transport.upper(), len(cases), answered, len(run.seq) - len(cases),
                      took, run.reconnects, len(bad) + len(run.problems)))
            for c, problems in bad:
                failed_families[c.family] = failed_families.get(c.family, 0) + 1
                report.append("%s #%d %s: %s [%s]\n      sent %s" % (
                    transport, self.cases.index(c) + 1, c.family, c.what, "; ".join(problems),
                    c.packet[:48].hex()))
        # Over TCP as over UDP, TC aside (test_tcp.py): for the cases whose expectation
        # is the same on both, the very same bytes.
        for i, c in enumerate(cases):
            u, t = runs["udp"].replies.get(i), runs["tcp"].replies.get(i)
            if not c.same_over_tcp or c.udp.kind != "reply" or u is None or t is None:
                continue
            if t != u[:2] + bytes([u[2] & ~(hostile.TC >> 8)]) + u[3:]:
                report.append("tcp #%d %s: %s: not the UDP reply but for TC:\n      udp %s\n"
                              "      tcp %s" % (self.cases.index(c) + 1, c.family, c.what,
                                                u[:48].hex(), t[:48].hex()))
                failed_families[c.family] = failed_families.get(c.family, 0) + 1
        if report:
            self.fail("%d mismatches (by family: %s); the first %d:\n  %s" % (
                len(report), failed_families, min(SHOWN, len(report)),
                "\n  ".join(report[:SHOWN])))

    def test_corpus(self):
        """Every family but the cookie one."""
        self.run_both(lambda f: f != "cookie", 0)

    def test_cookie(self):
        """COOKIE options of every bad length (FORMERR) and every good one (not)."""
        self.run_both(lambda f: f == "cookie", 0x2000)


if __name__ == "__main__":
    harness.main()
