"""The harness itself: the checks every integration test leans on can fail.

A stand-in server (a few lines of Python that answer any datagram) plays pindnsd
where a real one cannot misbehave on demand."""

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
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
