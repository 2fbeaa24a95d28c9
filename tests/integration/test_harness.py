"""The harness itself: the checks every integration test leans on can fail.

A stand-in server (a few lines of Python that answer any datagram) plays pindnsd
where a real one cannot misbehave on demand."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Answers every datagram on 127.0.0.1:PORT; on SIGTERM prints SAY and exits with CODE.
STAND_IN = textwrap.dedent("""
    import signal, socket, sys
    port, code, say = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    def stop(*_):
        print(say, file=sys.stderr, flush=True)
        sys.exit(code)
    signal.signal(signal.SIGTERM, stop)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        data, peer = s.recvfrom(4096)
        s.sendto(data[:2] + b"\\x80" + data[3:], peer)
""")


def stand_in(code=0, say="bye"):
    port = harness.free_port()
    log = os.path.join(tempfile.mkdtemp(), "stand-in.log")
    srv = harness.Server([sys.executable, "-c", STAND_IN, str(port), str(code), say], port,
                         log, ours=True)
    harness.wait_for_udp(port, proc=srv.proc)
    return srv


# The same over UDP and TCP (length-framed, pipelined, answered in order) on one port:
# QR set on whatever comes, the rest as it came.
STAND_IN_TCP = textwrap.dedent("""
    import signal, socket, struct, sys, threading
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    def answer(q):
        return q[:2] + bytes([q[2] | 0x80]) + q[3:]
    def udp(s):
        while True:
            data, peer = s.recvfrom(4096)
            s.sendto(answer(data), peer)
    def conn(c):
        buf = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return c.close()
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                c.sendall(struct.pack("!H", n) + answer(buf[2:2 + n]))
                buf = buf[2 + n:]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    threading.Thread(target=udp, args=(u,), daemon=True).start()
    l = socket.socket()
    l.bind(("127.0.0.1", port))
    l.listen(16)
    while True:
        c, _ = l.accept()
        threading.Thread(target=conn, args=(c,), daemon=True).start()
""")


def stand_in_tcp():
    port = harness.free_port()
    log = os.path.join(tempfile.mkdtemp(), "stand-in-tcp.log")
    srv = harness.Server([sys.executable, "-c", STAND_IN_TCP, str(port)], port, log, ours=True)
    harness.wait_for_udp(port, proc=srv.proc)
    harness.wait_for_tcp(port, proc=srv.proc)
    return srv


def run_test_file(body, ci):
    """Runs a test file using harness.main() in a child; returns (status, stdout)."""
    path = os.path.join(tempfile.mkdtemp(), "test_child.py")
    with open(path, "w") as f:
        f.write("import sys, tempfile, unittest\nsys.path.insert(0, %r)\nimport harness\n"
                % HERE + textwrap.dedent(body) + "\nharness.main()\n")
    env = dict(os.environ)
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=60,
                       env=env)
    return r.returncode, r.stdout + r.stderr


class StopChecks(unittest.TestCase):
    def test_clean_exit_passes(self):
        stand_in().stop()

    def test_nonzero_exit_on_sigterm_fails(self):
        srv = stand_in(code=3)
        with self.assertRaisesRegex(AssertionError, r"exited with 3 on SIGTERM"):
            srv.stop()

    def test_sanitizer_line_in_the_log_fails(self):
        for line in ("==1==ERROR: AddressSanitizer: heap-use-after-free",
                     "==1==ERROR: LeakSanitizer: detected memory leaks",
                     "src/zone.c:10:5: runtime error: signed integer overflow"):
            srv = stand_in(say=line)
            with self.assertRaisesRegex(AssertionError, "sanitizer report"):
                srv.stop()

    def test_sanitizer_report_file_of_its_pid_fails(self):
        srv = stand_in()
        path = os.path.join(harness.SANITIZER_DIR, "asan.%d" % srv.proc.pid)
        with open(path, "w") as f:
            f.write("==%d==ERROR: AddressSanitizer: SEGV\n" % srv.proc.pid)
        try:
            with self.assertRaisesRegex(AssertionError, "sanitizer report of pid"):
                srv.stop()
        finally:
            os.unlink(path)  # or this test file's own main() would fail, rightly

    def test_a_report_made_during_run_fails_it(self):
        """A report goes to a file (log_path), not to the output run() captures."""
        script = ("import os, sys; open(os.path.join(%r, 'asan.%%d' %% os.getpid()), 'w')"
                  ".write('ERROR: AddressSanitizer: SEGV')" % harness.SANITIZER_DIR)
        with self.assertRaisesRegex(AssertionError, "sanitizer report while running"):
            harness.run([sys.executable, "-c", script])
        for f in os.listdir(harness.SANITIZER_DIR):
            os.unlink(os.path.join(harness.SANITIZER_DIR, f))

    def test_sanitizer_options_point_at_the_report_folder(self):
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
            self.assertIn("log_path=" + harness.SANITIZER_DIR, os.environ[var])


class Main(unittest.TestCase):
    SKIPPING = """
        class T(unittest.TestCase):
            def test_a(self):
                pass
            def test_b(self):
                self.skipTest(%r)
    """

    def test_a_skip_shows_as_skipped(self):
        status, out = run_test_file(self.SKIPPING % "kdig not installed", ci=False)
        self.assertEqual(status, harness.SKIPPED, out)
        self.assertIn("SKIPPED __main__.T.test_b: kdig not installed", out)

    def test_a_skip_fails_in_ci(self):
        status, out = run_test_file(self.SKIPPING % "kdig not installed", ci=True)
        self.assertEqual(status, 1, out)
        self.assertIn("CI=true, and these must run in CI: __main__.T.test_b", out)

    def test_a_host_fact_may_be_skipped_in_ci(self):
        status, out = run_test_file(self.SKIPPING % "host: port 53 is open to all", ci=True)
        self.assertEqual(status, harness.SKIPPED, out)

    def test_all_passed_is_zero_and_a_failure_is_one(self):
        status, out = run_test_file("""
            class T(unittest.TestCase):
                def test_a(self):
                    pass
        """, ci=True)
        self.assertEqual(status, 0, out)
        status, out = run_test_file("""
            class T(unittest.TestCase):
                def test_a(self):
                    self.fail("no")
        """, ci=False)
        self.assertEqual(status, 1, out)

    def test_a_stray_sanitizer_report_fails_the_file(self):
        status, out = run_test_file("""
            import os
            class T(unittest.TestCase):
                def test_a(self):
                    with open(os.path.join(harness.SANITIZER_DIR, "ubsan.1"), "w") as f:
                        f.write("x.c:1:1: runtime error: shift exponent\\n")
        """, ci=False)
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL: sanitizer reports", out)

    def test_temporary_folders_are_removed(self):
        status, out = run_test_file("""
            class T(unittest.TestCase):
                def test_a(self):
                    d = tempfile.mkdtemp(prefix="left-")
                    open(d + "/f", "w").close()
                    print("BASE=" + harness.BASE, "DIR=" + d)
        """, ci=False)
        self.assertEqual(status, 0, out)
        base = out.split("BASE=")[1].split()[0]
        d = out.split("DIR=")[1].split()[0]
        self.assertTrue(d.startswith(base + os.sep), out)
        self.assertFalse(os.path.exists(base), out)


class Ports(unittest.TestCase):
    """A port another test took between free_port() and the bind: another try."""

    def with_ports(self, ports):
        real = harness.free_port
        queue = list(ports)
        harness.free_port = lambda: queue.pop(0) if queue else real()
        self.addCleanup(setattr, harness, "free_port", real)

    def test_a_port_bound_by_another_means_another_port(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            port = taken.getsockname()[1]
            self.with_ports([port])
            srv = harness.start_pindnsd()
            self.addCleanup(srv.stop)
            self.assertNotEqual(srv.port, port)
            self.assertEqual(harness.dig(srv.port, "www.example.com").rcode, "NOERROR")

    def test_a_port_shared_by_reuseport_means_another_port(self):
        """Another server in the same SO_REUSEPORT group would get some of our queries."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", harness.free_port()))
            port = other.getsockname()[1]
            self.with_ports([port])
            srv = harness.start_pindnsd()
            self.addCleanup(srv.stop)
            self.assertNotEqual(srv.port, port)
            self.assertEqual(harness.foreign_sockets(srv), set())

    def test_a_shared_port_on_the_last_try_fails(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", harness.free_port()))
            self.with_ports([other.getsockname()[1]])
            with self.assertRaisesRegex(RuntimeError, "another process shares port"):
                harness.start_pindnsd(tries=1)

    def test_ports_are_below_the_ephemeral_range(self):
        low, high = harness._port_range()
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            self.assertLess(high, int(f.read().split()[0]))
        self.assertTrue(low <= harness.free_port() <= high)

    def picks(self, *ports):
        """free_port() draws these ports first, then random ones as usual."""
        real = harness._rng.randint
        queue = list(ports)
        harness._rng.randint = lambda a, b: queue.pop(0) if queue else real(a, b)
        self.addCleanup(setattr, harness._rng, "randint", real)

    def test_a_port_with_only_a_tcp_listener_is_not_free(self):
        """pindnsd listens on TCP too, on the same port; on ::1 as well as 127.0.0.1."""
        hosts = [(socket.AF_INET, "127.0.0.1")]
        if harness.have_ipv6_loopback():
            hosts.append((socket.AF_INET6, "::1"))
        for family, host in hosts:
            with self.subTest(host), socket.socket(family, socket.SOCK_STREAM) as taken:
                taken.bind((host, harness.free_port()))
                taken.listen(1)
                port = taken.getsockname()[1]
                self.picks(port, port)
                self.assertNotEqual(harness.free_port(), port)

    def test_a_tcp_listener_sharing_the_port_means_another_port(self):
        """With SO_REUSEPORT, a TCP listener of another process would take a share of
        the connections: foreign_sockets() sees TCP sockets too."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(("127.0.0.1", harness.free_port()))
            other.listen(1)
            port = other.getsockname()[1]
            self.with_ports([port])
            srv = harness.start_pindnsd()
            self.addCleanup(srv.stop)
            self.assertNotEqual(srv.port, port)
            self.assertEqual(harness.foreign_sockets(srv), set())

    def test_time_wait_on_the_port_is_not_a_foreign_socket(self):
        """Connections a server closed stay in TIME_WAIT on its port, held by no process
        (inode 0): a server started again on that port shares it with no one."""
        srv = stand_in()
        self.addCleanup(srv.stop)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind(("127.0.0.1", srv.port))
            lst.listen(1)
            client = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
            conn, _ = lst.accept()
            conn.close()  # the server side closes first: its end goes to TIME_WAIT
            client.recv(1)
            client.close()
        deadline = time.monotonic() + 5
        while not self.time_wait_rows(srv.port):
            self.assertLess(time.monotonic(), deadline, "no TIME_WAIT on the port: %s" %
                            self.rows(srv.port))
            time.sleep(0.02)
        self.assertEqual(harness.foreign_sockets(srv), set(), self.rows(srv.port))

    def test_a_connection_on_the_port_is_not_a_foreign_socket(self):
        """An accepted connection takes no share of a SO_REUSEPORT group: one the server
        is closing may leave its fd table between the two reads foreign_sockets()
        makes, so connections are not counted at all, only listeners and UDP."""
        srv = stand_in()
        self.addCleanup(srv.stop)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind(("127.0.0.1", srv.port))
            lst.listen(1)
            client = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
            self.addCleanup(client.close)
            conn, _ = lst.accept()
            self.addCleanup(conn.close)
        # The listener is gone; conn, held by this process, is on srv's port.
        self.assertEqual(harness.foreign_sockets(srv), set(), self.rows(srv.port))

    @staticmethod
    def rows(port):
        """The rows of /proc/net/tcp and udp for sockets on the port, split."""
        return [[table] + fields for table, fields in harness.proc_net_sockets(("tcp", "udp"),
                                                                               port)]

    def time_wait_rows(self, port):
        return [r for r in self.rows(port) if r[0] == "tcp" and r[4] == "06"]


class Tcp(unittest.TestCase):
    """The TCP helpers: framing, and telling a close (EOF or reset) from a timeout."""

    def pair(self):
        """Two ends of a loopback TCP connection: (ours, theirs)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
            lst.bind(("127.0.0.1", 0))
            lst.listen(1)
            ours = harness.tcp_connect(lst.getsockname()[1])
            theirs, _ = lst.accept()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        return ours, theirs

    def test_framing_and_pipelining(self):
        ours, theirs = self.pair()
        harness.send_msgs(ours, b"one", b"", b"x" * 65535)
        data = b""
        while len(data) < 5 + 2 + 65537:
            data += theirs.recv(70000)
        self.assertEqual(data[:7], b"\0\3one\0\0")
        msgs, rest = harness.split_msgs(data + b"\0\5ab")
        self.assertEqual(msgs, [b"one", b"", b"x" * 65535])
        self.assertEqual(rest, b"\0\5ab")
        with self.assertRaises(ValueError):
            harness.frame(b"x" * 65536)

    def test_a_message_in_pieces_is_put_together(self):
        ours, theirs = self.pair()
        whole = harness.frame(b"hello, world")

        def dribble():
            for i in range(len(whole)):
                theirs.sendall(whole[i:i + 1])
                time.sleep(0.01)
        t = threading.Thread(target=dribble)
        t.start()
        ours.settimeout(7)
        self.assertEqual(harness.recv_msg(ours, timeout=5), b"hello, world")
        t.join()
        self.assertEqual(ours.gettimeout(), 7)  # as it was

    def test_eof_between_and_inside_messages(self):
        ours, theirs = self.pair()
        theirs.sendall(harness.frame(b"ok") + b"\0\x10half")
        theirs.close()
        self.assertEqual(harness.recv_msg(ours), b"ok")
        with self.assertRaises(harness.PeerClosed) as e:
            harness.recv_msg(ours)
        self.assertEqual((e.exception.how, e.exception.partial), ("eof", b"\0\x10half"))
        ours2, theirs2 = self.pair()
        theirs2.close()
        with self.assertRaises(harness.PeerClosed) as e:
            harness.recv_msg(ours2)
        self.assertEqual((e.exception.how, e.exception.partial), ("eof", b""))

    def test_a_reset_is_told_apart(self):
        ours, theirs = self.pair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        theirs.close()
        with self.assertRaises(harness.PeerClosed) as e:
            harness.recv_msg(ours)
        self.assertEqual(e.exception.how, "reset")
        ours2, theirs2 = self.pair()
        theirs2.sendall(b"\0\1")
        theirs2.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        theirs2.close()
        self.assertEqual(harness.wait_closed(ours2, 2)[0], "reset")

    def test_a_wait_that_runs_out_is_a_timeout(self):
        ours, theirs = self.pair()
        for sent in (b"", b"\0\x20abc"):
            theirs.sendall(sent)
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError):
                harness.recv_msg(ours, timeout=0.2)
            self.assertLess(time.monotonic() - t0, 1)
        ours2, theirs2 = self.pair()
        theirs2.sendall(b"still here")
        self.assertEqual(harness.wait_closed(ours2, 0.2), (None, b"still here"))
        theirs2.close()
        self.assertEqual(harness.wait_closed(ours2, 2), ("eof", b""))

    def test_query_with_edns_options(self):
        q = harness.make_query("a.example", qid=7, options=[(11, b""), (3, b"ab")])
        self.assertEqual(struct.unpack("!HHHHHH", q[:12]), (7, 0x0100, 1, 0, 0, 1))
        opt = q[12 + len(harness.encode_name("a.example")) + 4:]
        self.assertEqual(opt, b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0, 10) +
                         struct.pack("!HH", 11, 0) + struct.pack("!HH", 3, 2) + b"ab")
        self.assertEqual(harness.make_query("a.example", edns=(4096, 0, True)),
                         harness.make_query("a.example", edns=(4096, 0, True), options=()))

    def test_wait_for_tcp_and_dig_over_tcp(self):
        """Against a stand-in answering over UDP and TCP; one with UDP alone fails it."""
        srv = stand_in_tcp()
        self.addCleanup(srv.stop)
        q = harness.make_query("www.example.com", qid=99)
        self.assertEqual(harness.tcp_query(srv.port, q)[:2], q[:2])
        r = harness.dig(srv.port, "www.example.com", "A", transport="tcp")
        self.assertIn("(TCP)", r.text)
        self.assertEqual(r.rcode, "NOERROR")
        self.assertIn("(UDP)", harness.dig(srv.port, "www.example.com", "A").text)
        for keepopen in (False, True):
            replies = harness.dig_many(srv.port, [("a.example", "A", None, ()),
                                                  ("b.example", "TXT", "CH", ("+noedns",)),
                                                  ("c.example", "MX", None, ())],
                                       keepopen=keepopen)
            self.assertEqual(len(replies), 3)
            self.assertIn("b.example.\t\t\tCH\tTXT", replies[1].text)
            self.assertIsNone(replies[1].edns)
            self.assertTrue(all("(TCP)" in r.text for r in replies))
        udp_only = stand_in()
        self.addCleanup(udp_only.stop)
        with self.assertRaisesRegex(RuntimeError, "nothing answered over TCP"):
            harness.wait_for_tcp(udp_only.port, timeout=0.5)


def queries_file(*lines):
    """A dnsperf-format query file of these lines, in a temporary folder."""
    path = os.path.join(tempfile.mkdtemp(), "q.txt")
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


class LoadChecks(unittest.TestCase):
    def test_a_load_that_stopped_early_fails(self):
        srv = harness.start_pindnsd()
        self.addCleanup(srv.stop)
        load = harness.Load(srv.port, queries_file("www.example.com A"), max_seconds=0.5)
        time.sleep(1.5)
        with self.assertRaisesRegex(AssertionError, "the load had stopped"):
            load.finish(self, time.monotonic())

    def test_a_load_still_sending_passes(self):
        srv = harness.start_pindnsd()
        self.addCleanup(srv.stop)
        load = harness.Load(srv.port, queries_file("www.example.com A", "nope.example.com A"))
        time.sleep(0.5)
        done = time.monotonic()
        time.sleep(0.2)
        r = load.finish(self, done)
        self.assertGreater(r["answered"], 0)


if __name__ == "__main__":
    harness.main()
