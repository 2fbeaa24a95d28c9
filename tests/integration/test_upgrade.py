"""Integration: `pindnsctl upgrade`, without systemd. The running pindnsd starts the binary
at its path (a copy of pindnsd in a temporary folder, replaced by a new file before each
upgrade) with its command line; the successor takes over by handoff while pindns-load
runs: no query lost, a TCP connection kept, the pid (of `status`, of the pid file) new
each time, the old ones gone. Started as root, the first one drops to an unprivileged
user (the pindns user, or nobody), so every successor starts unprivileged, as in a real
install. Failures (the configuration or a zone made invalid, a binary that exits 3 or
never takes over, no handoff socket) leave the old process serving and say why.

Successors are children of the process they replace, not of this test, and stay in the
first one's process group: this test is their subreaper (PR_SET_CHILD_SUBREAPER), so it
reaps each one as its predecessor exits, and checks its exit status; their log is the
first one's stderr, checked with theirs for sanitizer reports."""

import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CTL = os.path.join(os.path.dirname(harness.PINDNSD), "pindnsctl")
PR_SET_CHILD_SUBREAPER = 36
DONE = re.compile(r"^upgrade done: pid (\d+) -> pid (\d+) \(version (\S+)\), in [\d.]+ s\n$")


def ctl(sock, *args, timeout=120):
    return harness.run([CTL, "-s", sock] + list(args), timeout=timeout)


def service_user():
    """The user a root start drops to: the packaged one when it exists, else nobody;
    None when not root (then nothing is dropped: every process runs as the test user)."""
    if os.geteuid() != 0:
        return None
    for name in ("pindns", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def wait_exit(pid, proc=None, timeout=30):
    """The exit status of pid (a Popen's, or one reparented to us), waited for up to
    timeout seconds; fails the test on timeout."""
    if proc is not None:
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            raise AssertionError("pindnsd pid %d still runs %d s after it handed over" % (
                pid, timeout))
        time.sleep(0.02)


def zombies_of(pid):
    """The children of pid that exited and were not reaped."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] == "Z":
            out.append(int(p))
    return out


class Lineage:
    """A pindnsd and the successors it upgrades to, one at a time, all logging to one
    file. Checks each process as it goes: exited 0 by itself after its handoff, or on
    SIGTERM at the end, with no sanitizer report."""

    def __init__(self, test, folder, conf_lines, binary, env=None):
        self.test = test
        self.dir = folder
        self.binary = binary
        self.run = os.path.join(folder, "run")  # made by pindnsd, given to the user
        self.sock = os.path.join(self.run, "control.sock")
        self.handoff = os.path.join(self.run, "handoff.sock")
        self.pid_file = os.path.join(self.run, "pindnsd.pid")
        self.conf = os.path.join(folder, "pindns.conf")
        self.conf_text = "".join(l + "\n" for l in conf_lines + [
            "control-socket: " + self.sock, "pid-file: " + self.pid_file])
        with open(self.conf, "w") as f:
            f.write(self.conf_text)
        self.srv = None
        for attempt in range(5):
            port = harness.free_port()
            # The configuration named relative to the folder it starts in: the successors
            # get it absolute.
            argv = [binary, "--foreground", "--listen", "127.0.0.1:%d" % port, "--threads",
                    "2", "--config", os.path.basename(self.conf)]
            srv = harness.Server(argv, port, os.path.join(folder, "pindnsd-%d.log" % attempt),
                                 cwd=folder, env=env, ours=True)
            if harness._started(srv, retry=attempt < 4):
                self.srv = srv
                break
        test.assertIsNotNone(self.srv, "no free port")
        self.port = self.srv.port
        self.pgid = self.srv.proc.pid
        self.pid = self.srv.proc.pid  # the one serving now
        self.pids = [self.pid]
        self.reaped = set()
        self.proc = self.srv.proc  # a Popen for the first one only
        test.addCleanup(self.kill_all)

    def output(self):
        return self.srv.output()

    def status_pid(self):
        r = ctl(self.sock, "status")
        self.test.assertEqual(r.returncode, 0, r.stderr)
        return int(re.match(r"running: pid (\d+),", r.stdout).group(1))

    def replace_binary(self, content=None):
        """A new file at the binary's path (a new inode, as a package upgrade makes): a
        copy of pindnsd, or a script. Returns its inode."""
        tmp = self.binary + ".new"
        if content is None:
            shutil.copy(harness.PINDNSD, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(content)
            os.chmod(tmp, 0o755)
        os.replace(tmp, self.binary)
        return os.stat(self.binary).st_ino

    def check_exited(self, pid, proc, how):
        code = wait_exit(pid, proc)
        self.reaped.add(pid)
        self.test.assertEqual(code, 0, "pindnsd pid %d exited %s with %s:\n%s" % (
            pid, how, code, self.output()))
        self.test.assertEqual(harness.sanitizer_reports(pid), "")
        with self.test.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def upgrade(self):
        """pindnsctl upgrade, which must succeed; checks the new process and the old one's
        end. Returns the new pid."""
        inode = self.replace_binary()
        old = self.pid
        r = ctl(self.sock, "upgrade")
        self.test.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.output())
        m = DONE.match(r.stdout)
        self.test.assertIsNotNone(m, r.stdout)
        self.test.assertEqual(int(m.group(1)), old)
        new = int(m.group(2))
        self.test.assertNotIn(new, self.pids)
        # The old one leaves by itself, exit 0; the new one answers pindnsctl, is the
        # binary now at the path, and runs as the user the first one became.
        self.check_exited(old, self.proc, "after handing over")
        self.proc = None
        self.pid = new
        self.pids.append(new)
        self.test.assertEqual(self.status_pid(), new)
        self.test.assertEqual(os.readlink("/proc/%d/exe" % new), self.binary)
        self.test.assertEqual(os.stat("/proc/%d/exe" % new).st_ino, inode)
        with open("/proc/%d/cmdline" % new) as f:
            argv = f.read().split("\0")[:-1]
        self.test.assertEqual(argv[:-4], [self.binary, "--foreground", "--listen",
                                          "127.0.0.1:%d" % self.port, "--threads", "2",
                                          "--config", self.conf])
        self.test.assertEqual(argv[-4:-1], ["--takeover", self.handoff, "--upgrade-report"])
        with open("/proc/%d/status" % new) as f:
            uid = int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))
        user = service_user()
        self.test.assertEqual(uid, user.pw_uid if user else os.geteuid())
        with open(self.pid_file) as f:
            self.test.assertEqual(f.read(), "%d\n" % new)
        return new

    def upgrade_fails(self, *why, started=True):
        """pindnsctl upgrade, which must fail with every part of why in its message, and
        leave the old process serving, with the successor it started (if started) reaped."""
        r = ctl(self.sock, "upgrade")
        self.test.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for part in why + (("still serving as pid %d" % self.pid,) if started else ()):
            self.test.assertIn(part, r.stderr)
        self.test.assertEqual(r.stdout, "")
        self.test.assertEqual(self.status_pid(), self.pid)
        self.test.assertEqual(harness.dig(self.port, "www.example.com").rcode, "NOERROR")
        deadline = time.monotonic() + 5
        while zombies_of(self.pid):
            self.test.assertLess(time.monotonic(), deadline, "a successor left unreaped")
            time.sleep(0.05)
        self.reap_orphans()
        return r.stderr

    def reap_orphans(self):
        """A successor leaves its starter at once for the nearest subreaper (this test, as
        systemd under a unit): one that then failed is reaped here, as systemd would."""
        deadline = time.monotonic() + 5
        while True:
            left = [p for p in zombies_of(os.getpid())]
            alive = [p for p in harness._group_pids(self.pgid)
                     if int(p) != self.pid and int(p) not in left]
            for p in left:
                os.waitpid(p, 0)
                self.reaped.add(p)
            if not alive:
                return
            self.test.assertLess(time.monotonic(), deadline,
                                 "failed successors still running: %s" % alive)
            time.sleep(0.05)

    def stop(self):
        """SIGTERM to the one serving now; it must exit 0, leaving no pindnsd behind."""
        os.kill(self.pid, signal.SIGTERM)
        self.check_exited(self.pid, self.proc, "on SIGTERM")
        self.srv.stopped = True
        self.srv.log.close()
        harness.assert_no_sanitizer_report(self.output(), self.srv.logpath)
        for p in zombies_of(os.getpid()):
            os.waitpid(p, 0)
        self.test.assertEqual(harness._group_pids(self.pgid), [])

    def kill_all(self):
        """On failure: whatever is left of the group goes."""
        if harness._group_pids(self.pgid):
            os.killpg(self.pgid, signal.SIGKILL)
        if not self.srv.stopped:
            self.srv.stopped = True
            self.srv.log.close()
        for pid in set(self.pids) - self.reaped:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass  # not ours: its parent was still alive when it was killed


class Upgrade(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pindns-upgrade-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.zones = os.path.join(self.dir, "zones")
        shutil.copytree(harness.ZONES, self.zones)
        os.chmod(self.zones, 0o755)
        for f in os.listdir(self.zones):
            os.chmod(os.path.join(self.zones, f), 0o644)
        self.binary = os.path.join(self.dir, "sbin", "pindnsd")
        os.mkdir(os.path.dirname(self.binary))
        os.chmod(os.path.dirname(self.binary), 0o755)
        shutil.copy(harness.PINDNSD, self.binary)

    def conf(self, *extra):
        user = service_user()
        return ["zones-dir: " + self.zones] + (["user: " + user.pw_name] if user else []) + \
            list(extra)

    def test_three_upgrades_under_load_lose_nothing(self):
        metrics = harness.free_port()
        p = Lineage(self, self.dir, self.conf(
            "handoff-socket: " + os.path.join(self.dir, "run", "handoff.sock"),
            "metrics-listen: 127.0.0.1:%d" % metrics), self.binary)
        self.assertEqual(p.handoff, os.path.join(self.dir, "run", "handoff.sock"))
        queries = os.path.join(self.dir, "queries.txt")
        with open(queries, "w") as f:
            f.write("www.example.com A\nmail.example.com AAAA\nnope.example.com A\n"
                    "example.com MX\nx.sub.example.com A\n")
        load = harness.Load(p.port, queries, timeout_ms=3000)
        tcp = harness.tcp_connect(p.port)
        self.addCleanup(tcp.close)
        time.sleep(0.3)
        for n in range(3):
            p.upgrade()
            # The TCP connection opened before the first upgrade is still answered.
            harness.send_msgs(tcp, harness.make_query("www.example.com", qid=n))
            reply = harness.recv_msg(tcp, timeout=5)
            self.assertEqual(reply[:2], bytes([0, n]))
            self.assertEqual(harness.dig(p.port, "www.example.com").answer,
                             ["www.example.com. 3600 IN A 192.0.2.80"])
            # The metrics listener went over too (the old one closed its own).
            body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics,
                                          timeout=10).read().decode()
            self.assertIn("pindns_queries_total", body)
            done = time.monotonic()
            time.sleep(0.3)
        r = load.finish(self, done)
        self.assertGreater(r["answered"], 500)
        tcp.close()
        p.stop()
        out = p.output()
        self.assertEqual(out.count("took over the sockets from"), 3, out)
        self.assertEqual(out.count("upgrade done: pid"), 3, out)
        self.assertNotIn("metrics-listen", out)  # no bind failure on the way

    def notified(self, notify, pid):
        """What systemd would hear on an upgrade to pid: the old process names it the
        main PID, then the new one, the main PID by then, says it is ready."""
        got = ""
        while "READY=1\nMAINPID=%d\n" % pid not in got:
            got += notify.recv(4096).decode() + "\n"
        self.assertTrue(got.startswith("MAINPID=%d\n" % pid), got)

    def test_failures_leave_the_old_one_serving(self):
        # systemd's notification socket, as a test double: only the upgrades that work
        # change the main PID.
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(os.path.join(self.dir, "notify"))
        os.chmod(os.path.join(self.dir, "notify"), 0o777)  # the service user sends too
        notify.settimeout(20)
        p = Lineage(self, self.dir, self.conf(
            "handoff-socket: " + os.path.join(self.dir, "run", "handoff.sock"),
            "upgrade-timeout: 6s"), self.binary,
            env=dict(os.environ, NOTIFY_SOCKET=os.path.join(self.dir, "notify")))
        self.assertIn("READY=1\nMAINPID=%d\n" % p.pid, notify.recv(4096).decode())
        upgrade = p.upgrade
        p.upgrade = lambda: self.notified(notify, upgrade())

        # The configuration made invalid: its error, quoted.
        with open(p.conf, "a") as f:
            f.write("no-such-key: 1\n")
        p.upgrade_fails("upgrade failed: %s:%d: unknown option 'no-such-key'" % (
            p.conf, p.conf_text.count("\n") + 1))
        with open(p.conf, "w") as f:
            f.write(p.conf_text)
        p.upgrade()

        # A successor that fails once it has its own sockets half made (a control socket
        # in a folder it may not create) must leave the paths to the old one: it is still
        # reachable there, and a takeover from it still works.
        locked = os.path.join(self.dir, "locked")
        os.mkdir(locked, 0o700)
        with open(p.conf, "a") as f:
            f.write("control-socket: %s\n" % os.path.join(locked, "sub", "control.sock"))
        p.upgrade_fails("for the control socket")
        self.assertEqual(sorted(n for n in os.listdir(os.path.dirname(p.handoff))
                                if ".new-" in n), [])  # nothing of the failed one left
        with open(p.conf, "w") as f:
            f.write(p.conf_text)
        p.upgrade()

        # A zone made invalid: reload says so (exit 1, as systemd's ExecReload needs), the
        # upgrade refuses and names it; the old process serves the zone as it was.
        zone = os.path.join(self.zones, "example.org.zone")
        with open(zone) as f:
            good = f.read()
        with open(zone, "a") as f:
            f.write("broken 300 IN A 192.0.2\n")
        r = ctl(p.sock, "reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("1 failed", r.stderr)
        self.assertIn("RELOADING=1", notify.recv(4096).decode())
        self.assertIn("READY=1", notify.recv(4096).decode())
        p.upgrade_fails("zone example.org not served: %s:" % zone,
                        "1 zone(s) failed to load: not taking over")
        self.assertEqual(harness.dig(p.port, "example.org", "SOA").rcode, "NOERROR")
        with open(zone, "w") as f:
            f.write(good)
        p.upgrade()

        # A binary that exits 3 at once; one that never takes over (killed after
        # upgrade-timeout), meanwhile a second upgrade is refused.
        p.replace_binary("#!/bin/sh\nexit 3\n")
        p.upgrade_fails("exited with status 3 before taking over")
        p.upgrade()
        p.replace_binary("#!/bin/sh\nexec sleep 60\n")
        started = p.output().count("upgrade: started")
        slow = subprocess.Popen([CTL, "-s", p.sock, "upgrade"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while p.output().count("upgrade: started") == started:
            self.assertLess(time.monotonic(), deadline, p.output())
            time.sleep(0.05)
        r = ctl(p.sock, "upgrade")
        self.assertEqual(r.returncode, 1)
        self.assertIn("an upgrade is already under way", r.stderr)
        out, err = slow.communicate(timeout=60)
        self.assertEqual(slow.returncode, 1, out + err)
        self.assertIn("did not take over within upgrade-timeout (6 s), and was killed", err)
        self.assertIn("still serving as pid %d" % p.pid, err)
        self.assertEqual(p.status_pid(), p.pid)
        deadline = time.monotonic() + 5
        while zombies_of(p.pid):
            self.assertLess(time.monotonic(), deadline, "the killed successor left unreaped")
            time.sleep(0.05)
        p.upgrade()
        p.stop()
        self.assertIn("STOPPING=1", notify.recv(4096).decode())
        notify.setblocking(False)
        with self.assertRaises(BlockingIOError):  # nothing from the failed ones
            print(notify.recv(4096))

    def test_without_a_handoff_socket_says_so_at_once(self):
        p = Lineage(self, self.dir, self.conf(), self.binary)
        started = time.monotonic()
        p.upgrade_fails("upgrade needs a handoff socket, and this pindnsd has none",
                        started=False)
        self.assertLess(time.monotonic() - started, 10)
        p.stop()


if __name__ == "__main__":
    harness.main()
