"""Integration: systemd's protocols, spoken to a test double (no systemd needed):
socket activation (LISTEN_FDS) and readiness notification (NOTIFY_SOCKET)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# systemd passes sockets from fd 3 on and sets LISTEN_PID to the service's PID; sh can
# do both (exec keeps the PID), moving the inherited socket FD to 3.
EXEC_WITH_LISTEN_FD = 'exec 3<&%d %d<&-; LISTEN_PID=$$ exec "$0" "$@"'
# The same for several sockets (argv: their count, their fds, then the program): moved
# high first so that putting one at 3, 4, ... never overwrites another.
EXEC_WITH_LISTEN_FDS = """
import fcntl, os, sys
fds = [int(a) for a in sys.argv[2:2 + int(sys.argv[1])]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)  # inheritable
for fd in set(fds + high) - set(range(3, 3 + len(fds))):
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
argv = sys.argv[2 + len(fds):]
os.execv(argv[0], argv)
"""


class Systemd(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pindns-systemd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = os.path.join(self.dir, "notify")
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)  # as systemd's: pindnsd may have dropped root
        self.notify.settimeout(20)
        self.addCleanup(self.notify.close)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        """SIGTERM to whatever still runs; every pindnsd must have exited 0, its stderr
        free of sanitizer reports."""
        for p in self.procs:
            if p.stderr.closed:
                continue  # checked already
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            err = p.stderr.read()
            p.stderr.close()
            harness.assert_no_sanitizer_report(err, "pindnsd pid %d" % p.pid)
            harness.assert_no_sanitizer_report(harness.sanitizer_reports(p.pid),
                                               "sanitizer log of pid %d" % p.pid)
            self.assertEqual(p.returncode, 0, "pindnsd pid %d:\n%s" % (p.pid, err))
            p.err = err

    def expect(self, *parts):
        msg = self.notify.recv(4096).decode()
        for part in parts:
            self.assertIn(part, msg)
        return msg

    def start(self, argv, pass_fds=(), extra_env=None):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.update(extra_env or {})
        p = subprocess.Popen(argv, pass_fds=pass_fds, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def test_socket_activation_and_notifications(self):
        port = harness.free_port()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # ReusePort=yes
        s.bind(("127.0.0.1", port))
        with s:
            fd = s.fileno()
            p = self.start(["sh", "-c", EXEC_WITH_LISTEN_FD % (fd, fd), harness.PINDNSD,
                            "--foreground", "--threads", "2", "--zones", harness.served_zones()],
                           pass_fds=(fd,), extra_env={"LISTEN_FDS": "1"})
        self.expect("READY=1", "MAINPID=%d" % p.pid)
        self.assertEqual(harness.dig(port, "www.example.com", "A").answer,
                         ["www.example.com. 3600 IN A 192.0.2.80"])
        p.send_signal(signal.SIGHUP)
        self.expect("RELOADING=1", "MONOTONIC_USEC=")
        self.expect("READY=1")
        p.terminate()
        self.expect("STOPPING=1")
        self.assertEqual(p.wait(timeout=20), 0)
        self.stop_all()
        err = p.err
        self.assertIn("using 1 socket(s) from socket activation", err)
        self.assertIn("with 2 worker(s)", err)

    def test_activation_passes_tcp_listeners(self):
        """ListenDatagram= and ListenStream= on one address: pindnsd answers over both
        on the passed sockets, and binds nothing of its own for TCP there (a passed
        listener that is not SO_REUSEPORT would make a second bind fail)."""
        port = harness.free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        u.bind(("127.0.0.1", port))
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", port))
        t.listen(16)
        with u, t:
            p = self.start([sys.executable, "-c", EXEC_WITH_LISTEN_FDS, "2", str(u.fileno()),
                            str(t.fileno()), harness.PINDNSD, "--foreground", "--threads",
                            "1", "--config", self.conf(), "--zones", harness.served_zones()],
                           pass_fds=(u.fileno(), t.fileno()), extra_env={"LISTEN_FDS": "2"})
        self.expect("READY=1", "MAINPID=%d" % p.pid)
        self.assertEqual(harness.dig(port, "www.example.com", "A").answer,
                         ["www.example.com. 3600 IN A 192.0.2.80"])
        out = subprocess.run(["dig", "+tcp", "+short", "-p", str(port), "@127.0.0.1",
                              "www.example.com", "A"], capture_output=True, text=True,
                             timeout=20)
        self.assertEqual(out.stdout.strip(), "192.0.2.80", out.stdout + out.stderr)
        p.terminate()
        self.assertEqual(p.wait(timeout=20), 0)
        self.stop_all()
        self.assertIn("using 2 socket(s) from socket activation", p.err)
        self.assertIn("with 1 worker(s) and 1 TCP thread(s)", p.err)

    def conf(self):
        path = os.path.join(self.dir, "tcp.conf")
        with open(path, "w") as f:
            f.write("tcp-threads: 1\n")
        return path

    def test_handoff_names_the_new_main_pid(self):
        port = harness.free_port()
        sock = os.path.join(self.dir, "handoff.sock")
        old = self.start([harness.PINDNSD, "--foreground", "--listen", "127.0.0.1:%d" % port,
                          "--zones", harness.served_zones(), "--handoff-socket", sock])
        self.expect("READY=1", "MAINPID=%d" % old.pid)
        new = self.start([harness.PINDNSD, "--foreground", "--zones", harness.served_zones(),
                          "--takeover", sock])
        # The old main process hands systemd the successor before it leaves.
        self.expect("MAINPID=%d" % new.pid)
        self.assertEqual(old.wait(timeout=30), 0)
        self.expect("READY=1", "MAINPID=%d" % new.pid)
        self.assertEqual(harness.dig(port, "www.example.com", "A").rcode, "NOERROR")
        new.terminate()
        self.assertEqual(new.wait(timeout=20), 0)
        self.stop_all()


if __name__ == "__main__":
    harness.main()
