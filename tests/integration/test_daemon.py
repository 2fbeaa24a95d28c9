"""Integration: pindnsd as an operator meets it: options, errors, reload, stop, background."""

import ctypes
import os
import re
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

PINDNSD = harness.PINDNSD
LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def run(*args, timeout=20, **kw):
    return harness.run_pindnsd(args, timeout=timeout, **kw)


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def copy_zones():
    d = tempfile.mkdtemp(prefix="pindns-zones-")
    for f in os.listdir(harness.ZONES):
        shutil.copy(os.path.join(harness.ZONES, f), d)
    return d


class Options(unittest.TestCase):
    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^pindnsd \d+\.\d+\.\d+\n$")
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("--listen", "--threads", "--zones", "--config", "--foreground",
                     "--user", "--control-socket", "--handoff-socket", "--takeover",
                     "zones-dir:", "udp-payload-size:", "cache-size:", "metrics-listen:",
                     "query-log:", "user:", "SIGHUP"):
            self.assertIn(word, r.stdout)

    def test_bad_options(self):
        r = run("--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--frobnicate'", r.stderr)
        r = run("--threads", "zero", "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("threads must be a number", r.stderr)
        r = run("--listen", "localhost", "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad listen address 'localhost'", r.stderr)

    def test_config_error_names_file_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("# test\nthreads: 1\nlisten 127.0.0.1:5300\nzones-dri: /tmp\n")
        try:
            r = run("--config", f.name, "--check-config")
            self.assertEqual(r.returncode, 1)
            self.assertIn("%s:4: unknown option 'zones-dri'" % f.name, r.stderr)
        finally:
            os.unlink(f.name)

    def test_check_config(self):
        r = run("--zones", harness.ZONES, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 zone(s) loaded, 0 failed", r.stdout)
        d = copy_zones()
        with open(os.path.join(d, "bad.test.zone"), "w") as f:
            f.write("$ORIGIN bad.test.\n@ 300 SOA ns host 1 2 3 4 5\n@ 300 NS ns\nx 300 A 1.2.3\n")
        r = run("--zones", d, "--check-config")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.test.zone:4: ", r.stderr)
        self.assertIn("2 zone(s) loaded, 1 failed", r.stdout)
        empty = tempfile.mkdtemp(prefix="pindns-empty-")
        self.addCleanup(shutil.rmtree, empty, True)
        r = run("--zones", empty, "--check-config")  # nothing to sort (UBSan watches)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 zone(s) loaded, 0 failed", r.stdout)
        self.assertNotIn("runtime error", r.stderr)


class Serving(unittest.TestCase):
    def test_default_zones_dir_is_served(self):
        """With no --zones or config, the built-in default (the source zones/) is used."""
        srv = harness.start_pindnsd(zones="")
        try:
            self.assertNotIn("--zones", srv.argv)
            r = harness.dig(srv.port, "www.example.com", "A")
            self.assertEqual(r.answer, ["www.example.com. 3600 IN A 192.0.2.80"])
        finally:
            srv.stop()

    def test_bad_zone_is_not_served_others_are(self):
        d = copy_zones()
        with open(os.path.join(d, "broken.test.zone"), "w") as f:
            f.write("$ORIGIN broken.test.\n$TTL 300\n@ SOA ns host 1 2 3 4 5\n@ NS ns\n"
                    "www A 192.0.2.1\nwww CNAME elsewhere\n")
        with open(os.path.join(d, "nosoa.test.zone"), "w") as f:
            f.write("$ORIGIN nosoa.test.\n$TTL 300\n@ NS ns\n")
        srv = harness.start_pindnsd(zones=d)
        try:
            self.assertEqual(harness.dig(srv.port, "www.example.com", "A").rcode, "NOERROR")
            self.assertEqual(harness.dig(srv.port, "www.broken.test", "A").rcode, "REFUSED")
            self.assertEqual(harness.dig(srv.port, "nosoa.test", "NS").rcode, "REFUSED")
            log = srv.output()
            self.assertIn("zone broken.test not served: %s/broken.test.zone:6: CNAME at "
                          "www.broken.test. beside other data (A)" % d, log)
            self.assertIn("zone nosoa.test not served: %s/nosoa.test.zone: no SOA record at "
                          "the zone apex nosoa.test." % d, log)
        finally:
            srv.stop()

    def test_sigterm_stops_cleanly(self):
        srv = harness.start_pindnsd()
        os.kill(srv.proc.pid, signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=10), 0)
        self.assertIn("SIGTERM: stopping", srv.output())
        srv.stop()

    def test_sighup_reloads_and_keeps_old_data_on_error(self):
        d = copy_zones()
        path = os.path.join(d, "example.com.zone")
        srv = harness.start_pindnsd(zones=d)
        try:
            with open(path) as f:
                text = f.read()
            new = text.replace("192.0.2.80", "192.0.2.81").replace("2026112301", "2026112302")
            with open(path, "w") as f:
                f.write(new)
            os.kill(srv.proc.pid, signal.SIGHUP)
            wait_for(lambda: "reload done" in srv.output(), what="reload")
            r = harness.dig(srv.port, "www.example.com", "A")
            self.assertEqual(r.answer, ["www.example.com. 3600 IN A 192.0.2.81"])

            # Break the zone: the old data keeps being served and the error is logged.
            with open(path, "w") as f:
                f.write(new + "oops A not-an-address\n")
            os.kill(srv.proc.pid, signal.SIGHUP)
            wait_for(lambda: srv.output().count("reload done") == 2, what="second reload")
            r = harness.dig(srv.port, "www.example.com", "A")
            self.assertEqual(r.answer, ["www.example.com. 3600 IN A 192.0.2.81"])
            self.assertIn("zone example.com: reload failed, still serving serial 2026112302: "
                          "%s:%d:" % (path, new.count("\n") + 1), srv.output())
            self.assertEqual(harness.dig(srv.port, "www.example.org", "A").rcode, "NOERROR")
            self.assertIsNone(srv.proc.poll())
        finally:
            srv.stop()

    def test_background_mode_with_pid_file(self):
        port = harness.free_port()
        piddir = tempfile.mkdtemp()
        os.chmod(piddir, 0o777)  # removing the file at stop is up to the service user
        pidfile = os.path.join(piddir, "pindnsd.pid")
        # The detached daemon is orphaned when its parent exits: as a subreaper this
        # process becomes its parent, so it can wait for it and see how it ended.
        self.assertEqual(LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0)
        self.addCleanup(LIBC.prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        r = run("--listen", "127.0.0.1:%d" % port, "--zones", harness.ZONES,
                "--pid-file", pidfile, "--threads", "1")
        with open(pidfile) as f:
            pid = int(f.read())
        self.addCleanup(lambda: os.path.exists("/proc/%d" % pid) and os.kill(pid, signal.SIGKILL))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("serving in the background, pid %d" % pid, r.stdout)
        harness.wait_for_udp(port)
        self.assertEqual(harness.dig(port, "www.example.com", "A").rcode, "NOERROR")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                break
            self.assertLess(time.monotonic(), deadline, "the daemon did not stop")
            time.sleep(0.05)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, "the daemon's exit status")
        self.assertFalse(os.path.exists(pidfile), "pid file left behind")
        self.assertEqual(harness.sanitizer_reports(pid), "")

    def test_address_in_use_says_what_to_do(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: nobody may share it
            port = s.getsockname()[1]
            r = run("--foreground", "--listen", "127.0.0.1:%d" % port, "--zones", harness.ZONES)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % port, r.stderr)
        self.assertIn("--listen", r.stderr)

    def test_port_53_without_privilege_says_how_to_pick_another(self):
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            if int(f.read()) <= 53:
                self.skipTest("host: unprivileged users may bind port 53 on this host")
        argv = [PINDNSD, "--foreground", "--listen", "127.0.0.1:53", "--zones", harness.ZONES]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if not setpriv:
                self.skipTest("running as root without setpriv to drop privileges")
            argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all"] + argv
        r = harness.run(argv)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:53: Permission denied", r.stderr)
        self.assertIn("CAP_NET_BIND_SERVICE", r.stderr)
        self.assertIn("--listen 127.0.0.1:5300", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "privileges are dropped only when started as root")
    def test_root_is_dropped_after_binding(self):
        import pwd
        try:
            pw = pwd.getpwnam("pindns")
        except KeyError:
            self.skipTest("no pindns user (packaging/deps.sh creates it when run as root)")
        srv = harness.start_pindnsd()
        try:
            with open("/proc/%d/status" % srv.proc.pid) as f:
                status = f.read()
            uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
            gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
            self.assertEqual(uids, [str(pw.pw_uid)] * 4)
            self.assertEqual(gids, [str(pw.pw_gid)] * 4)
            self.assertEqual(re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split(),
                             [str(pw.pw_gid)])
            for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                self.assertEqual(re.search(r"^%s:\s+(\w+)$" % cap, status, re.M).group(1),
                                 "0000000000000000", cap)
            self.assertRegex(status, r"NoNewPrivs:\s+1")
            self.assertIn("running as pindns (uid %d), without capabilities" % pw.pw_uid,
                          srv.output())
            # It still answers, and reloads (reading zones as pindns).
            self.assertEqual(harness.dig(srv.port, "www.example.com", "A").rcode, "NOERROR")
            os.kill(srv.proc.pid, signal.SIGHUP)
            wait_for(lambda: "reload done" in srv.output(), what="reload as pindns")
        finally:
            srv.stop()

    @unittest.skipUnless(os.geteuid() == 0, "privileges are dropped only when started as root")
    def test_staying_root_must_be_asked_for(self):
        r = run("--foreground", "--listen", "127.0.0.1:%d" % harness.free_port(), "--zones",
                harness.ZONES, "--user", "no-such-user-here")
        self.assertEqual(r.returncode, 1)
        self.assertIn("user 'no-such-user-here' does not exist", r.stderr)
        srv = harness.start_pindnsd(["--user", "root"])
        try:
            self.assertIn("running as root, as configured (user: root)", srv.output())
        finally:
            srv.stop()

    def test_query_log_samples_and_syslog_quiets_stderr(self):
        d = tempfile.mkdtemp()
        conf = os.path.join(d, "q.conf")
        with open(conf, "w") as f:
            f.write("query-log: 2\n")
        srv = harness.start_pindnsd(["--config", conf, "--threads", "1"])
        try:
            for i in range(10):
                harness.raw_query(srv.port, harness.make_query("www.example.com", qid=i))
            wait_for(lambda: srv.output().count("pindnsd: info: query ") >= 6, what="query log")
            lines = [l for l in srv.output().splitlines() if "pindnsd: info: query " in l]
            # The readiness probe and the 10 queries: 11, of which 1 in 2 is logged.
            self.assertEqual(len(lines), 6, lines)
            self.assertRegex(lines[1], r"query 127\.0\.0\.1#\d+ www\.example\.com\. type 1 "
                                       r"class 1 rcode 0$")
            for _ in range(2):
                harness.raw_query(srv.port, harness.make_query("nope.example.com", qtype=28))
            wait_for(lambda: "nope.example.com. type 28 class 1 rcode 3" in srv.output(),
                     what="the NXDOMAIN in the query log")
        finally:
            srv.stop()
        with open(conf, "w") as f:
            f.write("log: syslog\n")
        srv = harness.start_pindnsd(["--config", conf])
        try:
            self.assertNotIn("serving", srv.output())
        finally:
            srv.stop()

    def test_long_zone_load_shows_progress_on_a_terminal(self):
        script = shutil.which("script")
        if not script:
            self.skipTest("script (util-linux) not installed")
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "slow.test.zone"), "w") as f:
            f.write("$ORIGIN slow.test.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n")
            for i in range(800000):
                f.write("h%d A 10.%d.%d.%d\n" % (i, i >> 16 & 255, i >> 8 & 255, i & 255))
        r = harness.run([script, "-qec", "taskset -c 0 %s --check-config --zones %s" % (
            PINDNSD, d), "/dev/null"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        ms = float(re.search(r"800002 records, serial 1, ([\d.]+) ms", r.stdout).group(1))
        # Progress starts after a second of reading records, and the zone's compile follows
        # them: present when the whole load took well over that (with 300,000 records a
        # load of 1.5 s had read them all within the second), absent when it was quicker.
        if ms > 2500:
            self.assertRegex(r.stdout, r"pindnsd: loading %s/slow\.test\.zone: \d+ records "
                                       r"so far" % re.escape(d))
        elif ms < 900:
            self.assertNotIn("records so far", r.stdout)

    def test_threads_each_pinned(self):
        """Every UDP worker and TCP thread is pinned to one CPU (named by kind), the UDP
        workers each to its own while there are CPUs enough."""
        srv = harness.start_pindnsd(["--threads", "3"])
        try:
            def threads():
                out = {}
                for tid in os.listdir("/proc/%d/task" % srv.proc.pid):
                    if int(tid) == srv.proc.pid:
                        continue  # the main thread waits for signals, unpinned
                    with open("/proc/%d/task/%s/status" % (srv.proc.pid, tid)) as f:
                        st = f.read()
                    name = re.search(r"Name:\s*(\S+)", st).group(1)
                    out[name] = re.search(r"Cpus_allowed_list:\s*(\S+)", st).group(1)
                return out
            # 3 UDP workers, and half as many TCP threads (rounded down, at least 1).
            names = ["pindns-udp/0", "pindns-udp/1", "pindns-udp/2", "pindns-tcp/0"]
            wait_for(lambda: sorted(threads()) == sorted(names), what="3 workers, 1 TCP thread")
            ncpu = len(os.sched_getaffinity(0))
            for name, c in threads().items():
                self.assertRegex(c, r"^\d+$", "%s not pinned to one CPU" % name)
            udp = [c for name, c in threads().items() if "udp" in name]
            self.assertEqual(len(set(udp)), min(3, ncpu))
            self.assertIn("with 3 worker(s) and 1 TCP thread(s)", srv.output())
        finally:
            srv.stop()


def blocked_signals(pid):
    """The signals pid blocks, from /proc (SigBlk), as a set of numbers."""
    with open("/proc/%d/status" % pid) as f:
        mask = int(re.search(r"^SigBlk:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


class SignalsDuringStartup(unittest.TestCase):
    """A signal that comes while the zones load never kills pindnsd: SIGHUP is applied
    once it serves, SIGTERM and SIGINT stop it before it binds, with exit status 0."""

    @classmethod
    def setUpClass(cls):
        # Big enough that its load outlasts a few polls of /proc, even unsanitized.
        cls.zones = tempfile.mkdtemp(prefix="pindns-zones-")
        with open(os.path.join(cls.zones, "big.test.zone"), "w") as f:
            f.write("$ORIGIN big.test.\n$TTL 300\n@ SOA ns hm 1 7200 3600 1209600 60\n"
                    "@ NS ns\nns A 192.0.2.1\n")
            for i in range(400000):
                f.write("h%d A 10.%d.%d.%d\n" % (i, i >> 16, (i >> 8) & 255, i & 255))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.zones, ignore_errors=True)

    def start_loading(self):
        """A pindnsd caught while its zones load, with its signals blocked already."""
        port = harness.free_port()
        workdir = tempfile.mkdtemp(prefix="pindns-test-")
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        srv = harness.Server([PINDNSD, "--foreground", "--listen", "127.0.0.1:%d" % port,
                              "--threads", "1", "--zones", self.zones], port,
                             os.path.join(workdir, "pindnsd.log"), ours=True)
        self.addCleanup(srv.stop)
        deadline = time.monotonic() + 10
        while "loaded from" not in srv.output():
            self.assertLess(time.monotonic(), deadline, "no load seen: " + srv.output())
            try:
                if {signal.SIGHUP, signal.SIGTERM, signal.SIGINT} <= blocked_signals(
                        srv.proc.pid):
                    return srv
            except (OSError, AttributeError):
                pass  # not exec'd yet, or gone
            time.sleep(0.002)
        self.fail("the zones loaded before SIGHUP, SIGTERM and SIGINT were blocked")

    def test_sighup_while_loading_reloads_once_serving(self):
        srv = self.start_loading()
        os.kill(srv.proc.pid, signal.SIGHUP)
        harness.wait_for_udp(srv.port, proc=srv.proc)
        wait_for(lambda: "SIGHUP: reloading zones" in srv.output(), what="the reload")
        out = srv.output()
        self.assertLess(out.index("SIGHUP during start-up"), out.index("serving"), out)
        self.assertLess(out.index("serving"), out.index("SIGHUP: reloading zones"), out)
        r = harness.dig(srv.port, "h399999.big.test")
        self.assertEqual((r.rcode, r.answer), ("NOERROR", ["h399999.big.test. 300 IN A "
                                                          "10.6.26.127"]))

    def test_sigterm_and_sigint_while_loading_stop_before_binding(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                srv = self.start_loading()
                os.kill(srv.proc.pid, sig)
                self.assertEqual(srv.proc.wait(timeout=60), 0, srv.output())
                srv.stop()  # exit status and sanitizer reports
                self.assertIn("%s during start-up: stopping" % sig.name, srv.output())
                self.assertNotIn("serving", srv.output())


if __name__ == "__main__":
    harness.main()
