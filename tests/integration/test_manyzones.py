"""Integration: pindnsd serving 2,000 zones: start-up, reloads of one zone among many (by
SIGHUP and pindnsctl), no query lost across reloads, zone files added, removed and changed
on disk in each way an operator or a tool changes them."""

import os
import random
import re
import shutil
import signal
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
N = 2000
# The zones each test changes are its own, so that none sees another's changes; the
# sample asked after each change is of the others, spread over the range.
CHANGED = {101, 201, 202, 203, 205, 300, 301, 400, 777, 1001, 1234, 1500, 1501, 1997}
SAMPLE = [0] + sorted(random.Random(16).sample(sorted(set(range(1, N - 1)) - CHANGED),
                                               50)) + [N - 1]
RELOADED = re.compile(r"zone (\S+) loaded from ")
RELOAD_DONE = re.compile(r"reload done: .* ms\n")


def origin(i):
    return "z%04d.test" % i


def www(i, v=0):
    """The address of www in zone i, version v of its file."""
    return "10.%d.%d.%d" % (v, i // 256, i % 256)


def zone_text(i, serial=1, v=0, tail=""):
    """Zone i: SOA, two NS with their glue, www A and AAAA, mail A, MX and TXT (10)."""
    return ("$ORIGIN %s.\n$TTL 300\n"
            "@ SOA ns1 hostmaster %d 7200 3600 1209600 60\n"
            "@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n"
            "www A %s\nwww AAAA 2001:db8::%x\nmail A 192.0.2.25\n"
            "@ MX 10 mail\n@ TXT \"zone %d\"\n%s" % (origin(i), serial, www(i, v), i, i, tail))


def write(path, text):
    """Writes path in place: opened with truncation, as `>` in a shell does."""
    with open(path, "w") as f:
        f.write(text)


def replace(path, text):
    """Writes a temporary file beside path and renames it over path, as editors and
    Knot's zonefile-sync do (mkstemp makes it 0600: made readable first, as they do)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=os.path.basename(path) + ".")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


_skip_name = harness.skip_name


def query(port, name, qtype=1, timeout=1.0):
    """A UDP query: (rcode, authoritative, the answer's A addresses), or None on timeout.
    Raises ValueError on a reply of another id or question."""
    qid = random.randrange(65536)
    q = harness.make_query(name, qtype=qtype, qid=qid)
    reply = harness.raw_query(port, q, timeout=timeout)
    if reply is None:
        return None
    qid_r, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    if qid_r != qid or qd != 1 or reply[12:len(q)] != q[12:]:
        raise ValueError("a reply to another query: %r" % reply)
    pos, addrs = len(q), []
    for _ in range(an):
        pos = _skip_name(reply, pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(reply[pos:pos + 4]))
        pos += rdlen
    return flags & 0x000F, bool(flags & 0x0400), addrs


RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def ctl(sock, *args):
    return harness.run([CTL, "-s", sock] + list(args), timeout=60)


class ManyZones(unittest.TestCase):
    """One pindnsd per class, on N zones made in a folder of its own (plus what
    extra_zones() adds), with a control socket."""

    @classmethod
    def extra_zones(cls, zones, base):
        """Changes the zones folder before the start; what a class needs."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="pindns-many-")
        cls.zones = os.path.join(cls.base, "zones")
        os.mkdir(cls.zones)
        os.chmod(cls.zones, 0o755)
        for i in range(N):
            write(cls.path(i), zone_text(i))
        cls.extra_zones(cls.zones, cls.base)
        cls.sock = os.path.join(cls.base, "control.sock")
        conf = os.path.join(cls.base, "pindns.conf")
        write(conf, "control-socket: %s\n" % cls.sock)
        cls.srv = harness.start_pindnsd(["--config", conf], zones=cls.zones)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def path(cls, i):
        return os.path.join(cls.zones, origin(i) + ".zone")

    def log_wait(self, mark, pattern, timeout=30):
        """The log written since mark (a length of it) once it matches pattern."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.srv.output()[mark:]
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline or self.srv.proc.poll() is not None:
                self.fail("no %r in the log in %d s; since the mark:\n%s" % (
                    pattern, timeout, text[-4000:]))
            time.sleep(0.02)

    def hup(self):
        """SIGHUP; the log it made, up to its "reload done" line."""
        mark = len(self.srv.output())
        os.kill(self.srv.proc.pid, signal.SIGHUP)
        return self.log_wait(mark, RELOAD_DONE)

    def ctl_reload(self, zone=None, ok=True):
        """pindnsctl reload [ZONE]; the log it made, up to its "reload done" line."""
        mark = len(self.srv.output())
        r = ctl(self.sock, "reload", *([zone] if zone else []))
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("reload done: ", r.stdout)
        return self.log_wait(mark, RELOAD_DONE)

    def reload(self, how, zone=None):
        return self.hup() if how == "hup" else self.ctl_reload(zone)

    def assertLoaded(self, log, *origins):
        """The log of a reload says exactly these zones were loaded, once each."""
        self.assertEqual(sorted(RELOADED.findall(log)), sorted(origins), log)

    def assertAnswers(self, i, addr=None, name=None):
        name = name or "www.%s" % origin(i)
        r = query(self.srv.port, name)
        self.assertIsNotNone(r, "no answer to %s" % name)
        rcode, aa, addrs = r
        self.assertEqual((RCODES.get(rcode, rcode), aa, addrs),
                         ("NOERROR", True, [addr or www(i)]), name)

    def assertSampleAnswers(self, skip=()):
        for i in SAMPLE:
            if i not in skip:
                self.assertAnswers(i)

    def zone_list(self):
        """pindnsctl zone-list: {origin: serial} and the count line."""
        r = ctl(self.sock, "zone-list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        serials = {}
        for line in lines[:-1]:
            m = re.match(r"^(\S+)\. serial (\d+) records (\d+) loaded \S+Z$", line)
            self.assertTrue(m, line)
            serials[m.group(1)] = int(m.group(2))
        return serials, lines[-1]


class StartAndReload(ManyZones):
    def test_1_every_zone_answers_after_start(self):
        for i in SAMPLE:
            self.assertAnswers(i)
        self.assertRegex(self.srv.output(),
                         r"loaded 2000 zone\(s\), 20000 records, 0 failed, in [\d.]+ s\n")
        self.assertEqual(len(RELOADED.findall(self.srv.output())), N)
        serials, count = self.zone_list()
        self.assertEqual(count, "2000 zone(s)")
        self.assertEqual(len(serials), N)
        self.assertEqual(set(serials.values()), {1})

    def check_one_reload(self, i, how):
        write(self.path(i), zone_text(i, serial=2, v=1))
        log = self.reload(how, origin(i))
        self.assertLoaded(log, origin(i))
        self.assertIn("zone %s loaded from %s: 10 records, serial 2 (was 1)" % (
            origin(i), self.path(i)), log)
        self.assertIn("reload done: 2000 zone(s) serving, 0 failed; 1 loaded (0 new), "
                      "0 removed, 1999 unchanged", log)
        self.assertAnswers(i, www(i, 1))
        self.assertSampleAnswers(skip=(i,))
        serials, count = self.zone_list()
        self.assertEqual(count, "2000 zone(s)")
        self.assertEqual(len(serials), N)
        self.assertEqual(serials[origin(i)], 2)
        self.assertEqual([o for o, s in serials.items() if s != 1], [origin(i)])
        # Nothing changed since: the next reload reads nothing, not even that zone.
        log = self.hup()
        self.assertLoaded(log)
        self.assertIn("0 loaded (0 new), 0 removed, 2000 unchanged", log)
        # Back as it was, for the other tests' zone-list.
        write(self.path(i), zone_text(i, serial=1))
        self.assertLoaded(self.reload(how, origin(i)), origin(i))
        self.assertAnswers(i)

    def test_2a_sighup_reloads_one_zone(self):
        self.check_one_reload(777, "hup")

    def test_2b_pindnsctl_reloads_one_zone(self):
        self.check_one_reload(1234, "ctl")

    def test_3_no_query_lost_across_reloads(self):
        changed = [101, 1001, 1501, 1997]
        steady = [0, 500, 1000, 1998]
        names = ["www.%s" % origin(i) for i in changed + steady]
        want = {("www.%s" % origin(i)): i for i in changed + steady}
        stop = threading.Event()
        stats = {"sent": 0, "lost": 0, "bad": []}

        def ask():
            k = 0
            while not stop.is_set():
                name = names[k % len(names)]
                k += 1
                i = want[name]
                try:
                    r = query(self.srv.port, name, timeout=1.0)
                except ValueError as e:
                    r = str(e)
                stats["sent"] += 1
                if r is None:
                    stats["lost"] += 1
                    continue
                rcode, aa, addrs = r if isinstance(r, tuple) else (None, False, [])
                # A changed zone answers one of its versions; the others as they were.
                ok = rcode == 0 and aa and len(addrs) == 1 and (
                    addrs[0] == www(i) if i in steady else
                    any(addrs[0] == www(i, v) for v in range(32)))
                if not ok:
                    stats["bad"].append((name, r))
            stats["last"] = time.monotonic()

        t = threading.Thread(target=ask)
        t.start()
        try:
            time.sleep(0.2)
            for k in range(20):
                i = changed[k % len(changed)]
                write(self.path(i), zone_text(i, serial=10 + k, v=1 + k))
                how = "hup" if k % 2 == 0 else "ctl"
                log = self.reload(how, origin(i))
                self.assertLoaded(log, origin(i))
                self.assertIn("1 loaded (0 new), 0 removed, 1999 unchanged", log)
                self.assertAnswers(i, www(i, 1 + k))
                if k in (6, 13):
                    # Every file touched: every zone read again, with queries coming.
                    now = time.time() + 1 + k
                    for j in range(N):
                        os.utime(self.path(j), (now, now))
                    log = self.reload("hup" if k == 6 else "ctl")
                    self.assertIn("reload done: 2000 zone(s) serving, 0 failed; 2000 loaded "
                                  "(0 new), 0 removed, 0 unchanged", log)
                    self.assertEqual(len(RELOADED.findall(log)), N)
            done = time.monotonic()
            time.sleep(0.2)
        finally:
            stop.set()
            t.join(30)
        self.assertGreater(stats["last"], done)
        self.assertEqual((stats["lost"], stats["bad"]), (0, []), stats)
        self.assertGreater(stats["sent"], 200, stats)
        print("queries: %d sent across 22 reloads, none lost" % stats["sent"])
        for k, i in enumerate(changed):
            write(self.path(i), zone_text(i, serial=100))
        self.ctl_reload()
        self.assertSampleAnswers()

    def test_6_no_change_no_read(self):
        for _ in range(2):
            log = self.hup()
            self.assertLoaded(log)
            self.assertIn("reload done: 2000 zone(s) serving, 0 failed; 0 loaded (0 new), "
                          "0 removed, 2000 unchanged", log)
        self.assertSampleAnswers()


class FilesOnDisk(ManyZones):
    """Zone files added, removed and changed in every way they are on disk."""

    SYMLINKED = 400

    @classmethod
    def extra_zones(cls, zones, base):
        cls.other = os.path.join(base, "elsewhere")
        os.mkdir(cls.other)
        os.chmod(cls.other, 0o755)
        cls.target = os.path.join(cls.other, "z%04d.zone" % cls.SYMLINKED)
        write(cls.target, zone_text(cls.SYMLINKED))
        os.unlink(cls.path(cls.SYMLINKED))
        os.symlink(cls.target, cls.path(cls.SYMLINKED))
        # An $INCLUDE beside the zone (relative) and one in a folder of its own.
        cls.inc = os.path.join(zones, "z0300.inc")
        write(cls.inc, "extra A 10.99.0.1\n")
        write(cls.path(300), zone_text(300, tail="$INCLUDE z0300.inc\n"))
        cls.incdir = os.path.join(base, "includes")
        os.mkdir(cls.incdir)
        os.chmod(cls.incdir, 0o755)
        cls.inc2 = os.path.join(cls.incdir, "z0301.inc")
        write(cls.inc2, "extra A 10.99.1.1\n")
        write(cls.path(301), zone_text(301, tail="$INCLUDE %s\n" % cls.inc2))

    def test_4_added_and_removed_files(self):
        newp = os.path.join(self.zones, "znew.test.zone")
        write(newp, zone_text(0).replace("z0000.test.", "znew.test."))
        log = self.hup()
        self.assertLoaded(log, "znew.test")
        self.assertRegex(log, r"reload done: 2001 zone\(s\) serving, 0 failed; 1 loaded "
                              r"\(1 new\), 0 removed, 2000 unchanged")
        self.assertAnswers(0, www(0), name="www.znew.test")

        gone = 1500
        self.assertAnswers(gone)
        os.unlink(self.path(gone))
        log = self.hup()
        self.assertLoaded(log)
        self.assertIn("zone %s removed: no longer configured, or its file is gone" %
                      origin(gone), log)
        self.assertRegex(log, r"reload done: 2000 zone\(s\) serving, 0 failed; 0 loaded "
                              r"\(0 new\), 1 removed, 2000 unchanged")
        r = query(self.srv.port, "www.%s" % origin(gone))
        self.assertIsNotNone(r)
        self.assertEqual(RCODES.get(r[0], r[0]), "REFUSED")
        self.assertSampleAnswers(skip=(gone,))

        newp2 = os.path.join(self.zones, "znew2.test.zone")
        write(newp2, zone_text(1).replace("z0001.test.", "znew2.test."))
        log = self.ctl_reload("znew2.test")
        self.assertLoaded(log, "znew2.test")
        self.assertRegex(log, r"reload done: 2001 zone\(s\) serving, 0 failed; 1 loaded "
                              r"\(1 new\), 0 removed, 2000 unchanged")
        self.assertAnswers(1, www(1), name="www.znew2.test")
        serials, count = self.zone_list()
        self.assertEqual(count, "2001 zone(s)")
        self.assertIn("znew2.test", serials)
        self.assertNotIn(origin(gone), serials)
        log = self.hup()  # and no more
        self.assertLoaded(log)
        self.assertIn("0 loaded (0 new), 0 removed", log)

    def check_changed(self, i, log, serial):
        self.assertLoaded(log, origin(i))
        self.assertRegex(log, r"zone %s loaded from \S+: 10 records, serial %d \(was \d+\)" % (
            origin(i), serial))
        self.assertRegex(log, r"reload done: \d+ zone\(s\) serving, 0 failed; 1 loaded "
                              r"\(0 new\), 0 removed")

    def test_5a_written_in_place(self):
        i = 201
        write(self.path(i), zone_text(i, serial=2, v=1))
        self.check_changed(i, self.hup(), 2)
        self.assertAnswers(i, www(i, 1))

    def test_5b_renamed_over(self):
        i = 202
        for v in (1, 2):
            replace(self.path(i), zone_text(i, serial=1 + v, v=v))
            self.check_changed(i, self.hup(), 1 + v)
            self.assertAnswers(i, www(i, v))

    def test_5c_touched(self):
        i = 203
        st = os.stat(self.path(i))
        os.utime(self.path(i), ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
        log = self.hup()
        self.check_changed(i, log, 1)
        self.assertIn("serial 1 (was 1)", log)
        self.assertAnswers(i)

    def test_5d_included_file_changed(self):
        self.assertAnswers(300, "10.99.0.1", name="extra.%s" % origin(300))
        self.assertAnswers(301, "10.99.1.1", name="extra.%s" % origin(301))
        for v in (2, 3):
            write(self.inc, "extra A 10.99.0.%d\n" % v)
            self.assertLoaded(self.hup(), origin(300))
            self.assertAnswers(300, "10.99.0.%d" % v, name="extra.%s" % origin(300))
            replace(self.inc2, "extra A 10.99.1.%d\n" % v)
            self.assertLoaded(self.hup(), origin(301))
            self.assertAnswers(301, "10.99.1.%d" % v, name="extra.%s" % origin(301))
        self.assertAnswers(300)
        self.assertAnswers(301)

    def test_5e_symlink_target_rewritten(self):
        i = self.SYMLINKED
        self.assertAnswers(i)
        # In place, then renamed over within its folder: no event in zones-dir either way.
        for v, change in ((1, write), (2, replace)):
            change(self.target, zone_text(i, serial=1 + v, v=v))
            self.check_changed(i, self.hup(), 1 + v)
            self.assertAnswers(i, www(i, v))
            # Looked at on each reload, but read again only when it changed.
            self.assertLoaded(self.hup())
        write(self.target, zone_text(i, serial=10, v=3))
        self.check_changed(i, self.ctl_reload(), 10)
        self.assertAnswers(i, www(i, 3))

    def test_5f_edit_makes_it_invalid(self):
        i = 205
        write(self.path(i), zone_text(i, serial=2, v=1, tail="bad A 192.0.2\n"))
        log = self.hup()
        self.assertLoaded(log)
        self.assertIn("zone %s: reload failed, still serving serial 1: " % origin(i), log)
        self.assertRegex(log, r"reload done: \d+ zone\(s\) serving, 1 failed; 0 loaded")
        self.assertAnswers(i)
        self.assertSampleAnswers()
        write(self.path(i), zone_text(i, serial=3, v=2))
        self.check_changed(i, self.hup(), 3)
        self.assertAnswers(i, www(i, 2))

    def test_5g_broken_include_fixed(self):
        """A zone that failed for its $INCLUDE is tried again on each reload, so fixing
        the included file alone (in a folder no zone was known to read) serves it."""
        fix = os.path.join(self.base, "fixes")
        os.mkdir(fix)
        os.chmod(fix, 0o755)
        # Never served: a new zone whose include is broken.
        inc = os.path.join(fix, "zbad.inc")
        write(inc, "extra A 10.98.0\n")
        bad = os.path.join(self.zones, "zbad.test.zone")
        write(bad, zone_text(0, tail="$INCLUDE %s\n" % inc).replace("z0000.test.", "zbad.test."))
        log = self.hup()
        self.assertIn("zone zbad.test not served: ", log)
        self.assertRegex(log, r"1 failed; 0 loaded")
        r = query(self.srv.port, "www.zbad.test")
        self.assertEqual(RCODES.get(r[0], r[0]) if r else None, "REFUSED")
        write(inc, "extra A 10.98.0.1\n")
        self.assertLoaded(self.hup(), "zbad.test")
        self.assertAnswers(0, "10.98.0.1", name="extra.zbad.test")
        # Kept at its old version: an edit that adds a broken include elsewhere.
        i = 206
        inc2 = os.path.join(fix, "z0206.inc")
        write(inc2, "extra A 10.98.1\n")
        write(self.path(i), zone_text(i, serial=2, v=1, tail="$INCLUDE %s\n" % inc2))
        log = self.hup()
        self.assertIn("zone %s: reload failed, still serving serial 1: " % origin(i), log)
        self.assertAnswers(i)
        write(inc2, "extra A 10.98.1.1\n")
        log = self.hup()
        self.assertLoaded(log, origin(i))
        self.assertIn("0 failed; 1 loaded", log)
        self.assertAnswers(i, www(i, 1))
        self.assertAnswers(i, "10.98.1.1", name="extra.%s" % origin(i))

    def test_5h_failed_zone_through_a_full_reload(self):
        """A zone kept at its old version stays failed through a reload that goes
        through every zone, and its fix is still picked up."""
        i = 207
        inc = os.path.join(self.base, "fixes-207.inc")
        write(self.path(i), zone_text(i, serial=2, v=1, tail="$INCLUDE %s\n" % inc))
        log = self.hup()
        self.assertIn("zone %s: reload failed, still serving serial 1: " % origin(i), log)
        os.unlink(self.path(1501))  # a removal: this reload reads every zone's sources
        log = self.hup()
        self.assertIn("zone %s removed" % origin(1501), log)
        self.assertIn("zone %s: reload failed, still serving serial 1: " % origin(i), log)
        self.assertRegex(log, r"1 failed; 0 loaded \(0 new\), 1 removed")
        self.assertAnswers(i)
        write(inc, "extra A 10.97.0.1\n")
        log = self.hup()
        self.assertLoaded(log, origin(i))
        self.assertIn("0 failed; 1 loaded", log)
        self.assertAnswers(i, "10.97.0.1", name="extra.%s" % origin(i))

    def test_5i_failed_file_removed(self):
        """A zones-dir file that never loaded and is then removed stops counting as failed."""
        bad = os.path.join(self.zones, "zbad2.test.zone")
        write(bad, "@ SOA broken\n")
        self.assertRegex(self.hup(), r"1 failed; 0 loaded")
        self.assertRegex(self.hup(), r"1 failed; 0 loaded")  # tried again, still broken
        os.unlink(bad)
        log = self.hup()
        self.assertNotIn("zbad2", log)
        self.assertRegex(log, r"0 failed; 0 loaded \(0 new\), 0 removed")


if __name__ == "__main__":
    harness.main()
