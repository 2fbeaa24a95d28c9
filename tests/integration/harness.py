"""Shared helpers for the integration tests: start servers on loopback, query them.

Every server started here is in its own process group and is killed with it, so a
failing test leaves nothing running. Only loopback addresses are ever queried.
"""

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZONES = os.path.join(ROOT, "zones")
PINDNSD = os.environ.get("PINDNSD", os.path.join(ROOT, "build", "pindnsd"))
CI = os.environ.get("CI") == "true"

# ctest's SKIP_RETURN_CODE: a test file that skipped something shows as skipped.
SKIPPED = 77

# Every temporary folder of this test process lives under one base folder, removed at
# exit. It is 0755: started as root, pindnsd drops to its service user and reads zone
# files (on reload) as that user, as it would in /var/lib/pindns.
BASE = tempfile.mkdtemp(prefix="pindns-test-")
os.chmod(BASE, 0o755)
tempfile.tempdir = BASE
atexit.register(shutil.rmtree, BASE, True)


def _readable_mkdtemp(*args, _mkdtemp=tempfile.mkdtemp, **kwargs):
    d = _mkdtemp(*args, **kwargs)
    os.chmod(d, 0o755)
    return d


tempfile.mkdtemp = _readable_mkdtemp

# Sanitizer reports of every process started from here (detached daemons and
# successors included) land in SANITIZER_DIR as files, whoever they run as; the
# checks below fail a test when any is there.
SANITIZER_DIR = os.path.join(BASE, "sanitizer")
os.mkdir(SANITIZER_DIR)
os.chmod(SANITIZER_DIR, 0o1777)
for _var, _prefix in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan"),
                      ("TSAN_OPTIONS", "tsan")):
    _opts = [o for o in os.environ.get(_var, "").split(":") if o and
             not o.startswith("log_path=")]
    os.environ[_var] = ":".join(_opts + ["log_path=" + os.path.join(SANITIZER_DIR, _prefix)])

SANITIZER_LINE = re.compile(r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|"
                            r"UndefinedBehaviorSanitizer|runtime error:")


def print_sanitizer_reports():
    """Whether a sanitizer report was written (what sanitizer_reports() finds), printing
    them on stderr: for a benchmark, whose pindnsd must not have one either."""
    reports = sanitizer_reports()
    if reports:
        print("FAIL: sanitizer reports:\n" + reports, file=sys.stderr)
    return bool(reports)


def sanitizer_reports(which=None):
    """The sanitizer reports written so far, as text: all of them, those of a pid (an
    int), or one report file (its name)."""
    out = []
    for f in sorted(os.listdir(SANITIZER_DIR)):
        if which is None or (f == which if isinstance(which, str) else
                             f.endswith(".%d" % which)):
            with open(os.path.join(SANITIZER_DIR, f), errors="replace") as fh:
                out.append("--- %s\n%s" % (f, fh.read()))
    return "\n".join(out)


def assert_no_sanitizer_report(text, what):
    """Fails when text (a log, or stderr) holds a sanitizer report line."""
    lines = [l for l in text.splitlines() if SANITIZER_LINE.search(l)]
    if lines:
        raise AssertionError("sanitizer report in %s:\n%s" % (what, text))


def run(argv, timeout=20, **kw):
    """subprocess.run with output captured and no stdin, failing on any sanitizer
    report made meanwhile (by the program or anything it started)."""
    before = set(os.listdir(SANITIZER_DIR))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    new = sorted(set(os.listdir(SANITIZER_DIR)) - before)
    if new:
        raise AssertionError("sanitizer report while running %s:\n%s" % (
            " ".join(argv), "\n".join(sanitizer_reports(f) for f in new)))
    return r


def run_pindnsd(args, timeout=20, **kw):
    """Runs pindnsd to completion (checks, failing starts, a detaching start)."""
    return run([PINDNSD] + list(args), timeout=timeout, **kw)


_served_zones = None


def served_zones():
    """A copy of zones/ that pindnsd can read again (reload) after dropping root: the
    source tree may sit in a folder only its owner can enter. One copy per process."""
    global _served_zones
    if _served_zones is None:
        _served_zones = os.path.join(tempfile.mkdtemp(prefix="pindns-zones-"), "zones")
        shutil.copytree(ZONES, _served_zones)
        os.chmod(_served_zones, 0o755)
    return _served_zones


# Ports for test servers come from below the kernel's ephemeral range, so a client
# socket (dig's, the load generator's) never holds one a server is about to bind.
def _port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except OSError:
        low = 32768
    return (10000, low - 1) if low > 12000 else (low // 2, low - 1)


_rng = random.SystemRandom()


def have_ipv6_loopback():
    """Whether ::1 can be bound here (some hosts and containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port():
    """A port that nothing is bound to right now on 127.0.0.1 (and ::1 when the host has
    it), for UDP and TCP alike: pindnsd listens on both on the same port. Another test
    may take it before we do: start_pindnsd() retries on another."""
    low, high = _port_range()
    hosts = [(socket.AF_INET, "127.0.0.1")]
    if have_ipv6_loopback():
        hosts.append((socket.AF_INET6, "::1"))
    while True:
        port = _rng.randint(low, high)
        try:
            for family, host in hosts:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(family, kind) as s:
                        s.bind((host, port))
            return port
        except OSError:
            continue


def raw_query(port, payload, host="127.0.0.1", timeout=1.0):
    """Sends payload as one datagram; returns the reply bytes, or None on timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


# DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message is preceded by its length, two
# bytes in network order. These helpers bound every wait, and tell a close by the peer
# (PeerClosed: an orderly EOF, or a reset) from a wait that ran out (TimeoutError).
class PeerClosed(ConnectionError):
    """The peer closed the connection: how is "eof" or "reset"; partial holds the bytes
    of a message that had begun to arrive (b"" at a message boundary)."""

    def __init__(self, how, partial=b""):
        super().__init__("connection closed by the peer (%s)%s" % (
            how, ", %d bytes into a message" % len(partial) if partial else ""))
        self.how = how
        self.partial = partial


def frame(msg):
    """msg with its 2-byte length in front, as it goes on a TCP connection."""
    if len(msg) > 65535:
        raise ValueError("a DNS message over TCP is at most 65535 bytes")
    return struct.pack("!H", len(msg)) + msg


def tcp_connect(port, host="127.0.0.1", source=None, timeout=2.0):
    """A TCP socket connected to host:port (from the address source, when given), with
    Nagle off so that each send goes out at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def send_msgs(sock, *msgs):
    """Writes the messages, each framed, in one send (pipelined)."""
    sock.sendall(b"".join(frame(m) for m in msgs))


def _recv_exact(sock, n, deadline, got=b""):
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("%d of %d bytes received in time" % (len(buf), n))
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise PeerClosed("reset", got + bytes(buf))
        if not chunk:
            raise PeerClosed("eof", got + bytes(buf))
        buf += chunk
    return bytes(buf)


def recv_msg(sock, timeout=2.0):
    """The next message on a TCP connection, unframed. Raises TimeoutError when it has not
    wholly arrived within timeout seconds, and PeerClosed when the peer closed first."""
    deadline = time.monotonic() + timeout
    was = sock.gettimeout()
    try:
        head = _recv_exact(sock, 2, deadline)
        return _recv_exact(sock, struct.unpack("!H", head)[0], deadline, head)
    finally:
        sock.settimeout(was)


def wait_closed(sock, timeout):
    """Waits up to timeout seconds for the peer to close the connection, reading (and
    keeping) whatever it still sends. Returns (how, data): how is "eof", "reset", or None
    when the connection was still open when the time ran out."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    was = sock.gettimeout()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, bytes(data)
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return "reset", bytes(data)
            if not chunk:
                return "eof", bytes(data)
            data += chunk
    finally:
        sock.settimeout(was)


def split_msgs(data):
    """Length-framed messages in data (bytes read off a connection): (messages, the
    bytes of an unfinished one at the end)."""
    msgs = []
    while len(data) >= 2:
        n = struct.unpack("!H", data[:2])[0]
        if len(data) < 2 + n:
            break
        msgs.append(data[2:2 + n])
        data = data[2 + n:]
    return msgs, data


def tcp_query(port, payload, host="127.0.0.1", timeout=2.0):
    """Sends payload as one message on a new TCP connection; returns the reply message."""
    with tcp_connect(port, host=host, timeout=timeout) as s:
        send_msgs(s, payload)
        return recv_msg(s, timeout=timeout)


def skip_name(msg, off):
    """The offset just past the (possibly compressed) name at off in msg."""
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def make_query(name, qtype=1, qclass=1, qid=0x1234, flags=0x0100, edns=None, options=()):
    """A query in wire form; edns is None or (udp_size, version, do_bit), and options the
    EDNS options as (code, data bytes) pairs (an OPT record is added for them, with
    a 1232-byte buffer size when edns is None)."""
    if options and not edns:
        edns = (1232, 0, False)
    arcount = 1 if edns else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", qtype, qclass)
    if edns:
        size, version, do = edns
        rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
        msg += b"\0" + struct.pack("!HHBBHH", 41, size, 0, version, 0x8000 if do else 0,
                                   len(rdata)) + rdata
    return msg


def wait_for_udp(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until something answers a CH TXT id.server query on the port."""
    deadline = time.monotonic() + timeout
    q = make_query("id.server", qtype=16, qclass=3)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s before answering" % proc.returncode)
        if raw_query(port, q, host=host, timeout=0.2) is not None:
            return
    raise RuntimeError("nothing answered on %s port %d" % (host, port))


def wait_for_tcp(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Waits until something answers a CH TXT id.server query over TCP on the port."""
    deadline = time.monotonic() + timeout
    q = make_query("id.server", qtype=16, qclass=3)
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s before answering" % proc.returncode)
        try:
            with tcp_connect(port, host=host, timeout=0.5) as s:
                send_msgs(s, q)
                if recv_msg(s, timeout=0.5)[:2] == q[:2]:
                    return
        except (OSError, PeerClosed):
            time.sleep(0.05)
    raise RuntimeError("nothing answered over TCP on %s port %d" % (host, port))


def _group_pids(pgid):
    """The processes of a process group."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
            pids.append(pid)
    return pids


def _socket_inodes_of_group(pgid):
    """Inodes of the sockets held by any process of the process group."""
    inodes = set()
    for pid in _group_pids(pgid):
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
        except OSError:
            continue
    return inodes


TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


def proc_net_sockets(tables, port):
    """The rows of /proc/net/TABLE (udp, udp6, tcp, tcp6: those this host has) for the
    sockets bound to port, each as (table, its fields)."""
    for table in tables:
        try:
            with open("/proc/net/" + table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                yield table, fields


def _bound_inodes(port):
    """Inodes of every UDP socket and every TCP listener on this host bound to the
    port and held by a process: the sockets that could take a share of its traffic."""
    inodes = set()
    for table, fields in proc_net_sockets(("udp", "udp6", "tcp", "tcp6"), port):
        # A TCP connection is no share of a SO_REUSEPORT group, and one the server
        # is closing may leave its fd table between this read and the next.
        if table.startswith("tcp") and fields[3] != TCP_LISTEN:
            continue
        # Inode 0: no process holds it, so it cannot take a share of anyone's traffic.
        if int(fields[9]):
            inodes.add(int(fields[9]))
    return inodes


def foreign_sockets(srv):
    """Sockets on srv's port that srv's process group does not hold: another server
    in the same SO_REUSEPORT group would get part of the queries meant for srv."""
    return _bound_inodes(srv.port) - _socket_inodes_of_group(srv.proc.pid)


class Server:
    """A process in its own group; stop() ends the group, also on test failure.

    With ours=True it is a pindnsd: stop() then fails unless it exited 0 (on SIGTERM,
    or by itself, as after a handoff) and neither its log nor a sanitizer report file
    of its pid holds a sanitizer report."""

    def __init__(self, argv, port, logpath, cwd=None, env=None, ours=False, pass_fds=()):
        self.port = port
        self.logpath = logpath
        self.ours = ours
        self.argv = list(argv)
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=cwd, env=env, pass_fds=pass_fds)
        self.stopped = False

    def _exited(self, timeout=0.0):
        """Waits up to timeout for the leader to exit, without reaping it: while it is
        a zombie its pid, which is the group's id, cannot be given to anyone else."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True  # reaped already
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        signalled = not self._exited()
        if signalled:
            self._signal_group(signal.SIGTERM)
            if not self._exited(20):
                self._signal_group(signal.SIGKILL)
                self._exited(20)
        # The leader is gone; children (NSD forks) may still hold the group. Once the
        # leader was reaped the group id is safe to use only while the group has members.
        if self.proc.returncode is None or _group_pids(self.proc.pid):
            self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        if self.ours:
            self.check(signalled)

    def check(self, signalled=True):
        """Fails unless the pindnsd exited 0 and left no sanitizer report."""
        out = self.output()
        how = "on SIGTERM" if signalled else "by itself"
        if self.proc.returncode != 0:
            raise AssertionError("%s exited with %s %s (0 expected); its log:\n%s" % (
                os.path.basename(self.argv[0]), self.proc.returncode, how, out))
        assert_no_sanitizer_report(out, self.logpath)
        reports = sanitizer_reports(self.proc.pid)
        if reports:
            raise AssertionError("sanitizer report of pid %d:\n%s" % (self.proc.pid, reports))

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.logpath) as f:
            return f.read()


def _started(srv, retry, tcp=False):
    """Waits for srv to answer on its own port (over TCP as well with tcp). False when
    it should be tried again on another port (it could not bind, or shares its port
    with another server)."""
    try:
        wait_for_udp(srv.port, proc=srv.proc)
        if tcp:
            wait_for_tcp(srv.port, proc=srv.proc)
    except RuntimeError:
        ours, srv.ours = srv.ours, False  # a failed start is reported here, not by stop()
        srv.stop()
        out = srv.output()
        if ours:
            assert_no_sanitizer_report(out + sanitizer_reports(srv.proc.pid), srv.logpath)
        if retry and "Address already in use" in out:
            return False
        raise RuntimeError("%s did not start:\n%s" % (os.path.basename(srv.argv[0]), out))
    if foreign_sockets(srv):
        srv.stop()
        if retry:
            return False
        raise RuntimeError("another process shares port %d with %s" % (
            srv.port, os.path.basename(srv.argv[0])))
    return True


def start_pindnsd(args=(), port=None, zones=None, workdir=None, tries=5, tcp=False):
    """Starts pindnsd on 127.0.0.1 and waits until it answers (with tcp, over TCP too);
    zones "" means no --zones (the built-in default), None a copy of zones/. "{port}"
    in args is replaced by the port. Without an explicit port, a port another test took
    first (the bind fails, or another server shares the reuseport group, UDP or TCP)
    means another try on another port."""
    zones = served_zones() if zones is None else zones
    workdir = workdir or tempfile.mkdtemp(prefix="pindns-test-")
    for attempt in range(1 if port else tries):
        p = port or free_port()
        argv = [PINDNSD, "--foreground", "--listen", "127.0.0.1:%d" % p, "--threads", "2"]
        if zones:
            argv += ["--zones", zones]
        argv += [a.replace("{port}", str(p)) for a in args]
        srv = Server(argv, p, os.path.join(workdir, "pindnsd-%d.log" % attempt), ours=True)
        if _started(srv, retry=not port and attempt + 1 < tries, tcp=tcp):
            return srv
    raise RuntimeError("pindnsd: no free port after %d tries" % tries)


LOAD = os.path.join(os.path.dirname(PINDNSD), "pindns-load")


class Load:
    """pindns-load sending to a loopback port until finish(), at most max_seconds."""

    def __init__(self, port, queries, sockets=4, window=16, timeout_ms=2000, max_seconds=120):
        self.proc = subprocess.Popen(
            [LOAD, "-s", "127.0.0.1:%d" % port, "-f", queries, "-d", str(max_seconds), "-W",
             "0", "-S", str(sockets), "-w", str(window), "-t", str(timeout_ms), "--json"],
            stdout=subprocess.PIPE, text=True)
        atexit.register(lambda: self.proc.poll() is None and self.proc.kill())

    def finish(self, test, changed_until):
        """Stops the load (SIGINT: it stops sending and waits for what is in flight) and
        checks its report: still sending after changed_until (a time.monotonic() value,
        the end of the last change under test), every query sent answered, none lost
        and no SERVFAIL. Returns the report."""
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        test.assertEqual(self.proc.returncode, 0, "pindns-load failed: %s" % out)
        r = json.loads(out)
        test.assertGreater(r["last_sent_mono"], changed_until,
                           "the load had stopped before the last change was done: %s" % r)
        test.assertEqual(r["lost"], 0, r)
        test.assertEqual(r["sent"], r["answered"], r)
        test.assertEqual(r["rcodes"].get("SERVFAIL", 0), 0, r)
        print("load: sent %d, answered %d, lost %d, sending until %.3f s after the last "
              "change" % (r["sent"], r["answered"], r["lost"],
                          r["last_sent_mono"] - changed_until))
        return r


def main(verbosity=2):
    """unittest.main, but a skip shows: the exit status is SKIPPED (77) when a test was
    skipped, and under CI=true a skip fails, unless its reason starts with "host:"
    (a fact of the machine no install script can change). Any sanitizer report left by
    a process of this test also fails it."""
    prog = unittest.main(exit=False, verbosity=verbosity)
    result = prog.result
    reports = sanitizer_reports()
    if reports:
        print("FAIL: sanitizer reports:\n" + reports)
        sys.exit(1)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped:
        must_run = [(t, why) for t, why in result.skipped if not why.startswith("host:")]
        for t, why in result.skipped:
            print("SKIPPED %s: %s" % (t.id(), why))
        if CI and must_run:
            print("FAIL: CI=true, and these must run in CI: %s" %
                  ", ".join(t.id() for t, _ in must_run))
            sys.exit(1)
        sys.exit(SKIPPED)
    sys.exit(0)


NSD_CONF = """server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{zones}"
  pidfile: "{dir}/nsd.pid"
  database: ""
  zonelistfile: "{dir}/zone.list"
  xfrdfile: "{dir}/xfrd.state"
  xfrdir: "{dir}"
  logfile: "{dir}/nsd.log"
  server-count: 1
  rrl-ratelimit: 0
  minimal-responses: yes
  hide-identity: no
  identity: "pindns-test"
  verbosity: 1
remote-control:
  control-enable: no
"""


def start_nsd(zones=ZONES, tries=5):
    """NSD on a loopback port serving every *.zone in zones, as pindnsd would."""
    nsd = shutil.which("nsd") or "/usr/sbin/nsd"
    for attempt in range(tries):
        port = free_port()
        workdir = tempfile.mkdtemp(prefix="pindns-nsd-")
        conf = NSD_CONF.format(port=port, zones=zones, dir=workdir)
        for f in sorted(os.listdir(zones)):
            if f.endswith(".zone"):
                conf += "zone:\n  name: %s\n  zonefile: %s\n" % (f[:-5], f)
        path = os.path.join(workdir, "nsd.conf")
        with open(path, "w") as f:
            f.write(conf)
        srv = Server([nsd, "-d", "-c", path], port, os.path.join(workdir, "nsd.out"))
        if _started(srv, retry=attempt + 1 < tries):
            return srv
    raise RuntimeError("nsd: no free port after %d tries" % tries)


class Reply:
    """What dig printed, parsed: rcode, flags, EDNS (version, flags, size and every
    option line), and the three sections, each as records normalised by normalise_rr
    (names lower-cased) and as sent (blanks folded, letter case kept)."""

    def __init__(self, text):
        self.text = text
        self.rcode = None
        self.flags = set()
        self.edns = None
        self.ede = None
        self.sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
        self.as_sent = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
        self.counts = {}
        section = None
        for line in text.splitlines():
            m = re.search(r"status: (\w+)", line)
            if m and "->>HEADER<<-" in line:
                self.rcode = m.group(1)
            m = re.match(r";; flags:([^;]*);(.*)", line)
            if m:
                self.flags = set(m.group(1).split())
                for k, v in re.findall(r"(\w+): (\d+)", m.group(2)):
                    self.counts[k] = int(v)
            m = re.match(r"; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)", line)
            if m:
                self.edns = {"version": int(m.group(1)), "flags": m.group(2).split(),
                             "udp": int(m.group(3)), "options": []}
                section = "OPT"
                continue
            if section == "OPT":
                if line.startswith("; "):
                    self.edns["options"].append(line[2:].strip())
                    m = re.match(r"; EDE: (\d+)", line)
                    if m:
                        self.ede = int(m.group(1))
                    continue
                section = None
            m = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
            if m:
                section = m.group(1)
                continue
            if not line.strip() or line.startswith(";"):
                if not line.strip():
                    section = None
                continue
            if section:
                self.sections[section].append(normalise_rr(line))
                self.as_sent[section].append(" ".join(line.split()))

    @property
    def answer(self):
        return self.sections["ANSWER"]

    @property
    def authority(self):
        return self.sections["AUTHORITY"]

    @property
    def additional(self):
        return self.sections["ADDITIONAL"]

    def __repr__(self):
        return self.text


def normalise_rr(line):
    """One RR as comparable text: blanks folded, owner and names lower-cased."""
    fields = line.split(None, 4)
    if len(fields) < 5:
        return " ".join(fields).lower()
    owner, ttl, cls, rtype, rdata = fields
    rdata = " ".join(rdata.split())
    if rtype not in ("TXT",):
        rdata = rdata.lower()
    return " ".join([owner.lower(), ttl, cls, rtype, rdata])


DIG_TRANSPORTS = {
    "udp": ["+notcp", "+ignore"],  # UDP only: a truncated answer is shown as it came
    "tcp": ["+tcp"],               # TCP only
    "retry": ["+notcp"],           # UDP, then TCP when truncated, as a resolver does
}


def _dig_argv(port, host, transport):
    return ["dig", "@" + host, "-p", str(port), "+norec", "+nocookie", "+tries=1", "+time=2",
            "+noidnin", "+noidnout"] + DIG_TRANSPORTS[transport]


def dig(port, name, rtype="A", *opts, host="127.0.0.1", cls=None, transport="udp"):
    """Runs dig against a loopback server and parses the reply. transport is "udp" (no
    retries, no TCP: the default), "tcp", or "retry" (UDP, TCP again on TC)."""
    argv = _dig_argv(port, host, transport)
    argv += list(opts) + [name, rtype]
    if cls:
        argv += ["-c", cls]  # after the name: dig reads a later bare word as another query
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    return Reply(out)


def dig_many(port, queries, *opts, host="127.0.0.1", transport="tcp", keepopen=False):
    """One dig run asking every query in turn, each (name, type, class or None, options of
    that query alone); with keepopen (+keepopen) all on one TCP connection. Returns one
    Reply per answer that came, in order."""
    argv = _dig_argv(port, host, transport) + list(opts)
    if keepopen:
        argv.append("+keepopen")
    for name, rtype, cls, qopts in queries:
        argv += [name] + ([cls] if cls else []) + [rtype] + list(qopts)
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=20 + 3 * len(queries)).stdout
    return [Reply(part) for part in out.split(";; Got answer:")[1:]]


# --- DNSSEC: signing test zones, Knot as a reference server ---------------------------

def missing_tools(*tools):
    """The tools of the list that are not on PATH (nor in /usr/sbin), for a skip reason."""
    return [t for t in tools if not (shutil.which(t) or os.path.exists("/usr/sbin/" + t))]


def keygen(name, folder, ksk=False, algorithm="ECDSAP256SHA256"):
    """A new key for zone name made by ldns-keygen in folder; returns its base path
    (K<name>+<alg>+<id>, without .key or .private). A KSK also gets its .ds file."""
    argv = ["ldns-keygen", "-a", algorithm] + (["-k"] if ksk else []) + [name]
    r = run(argv, cwd=folder)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), r.stderr))
    return os.path.join(folder, r.stdout.strip())


def key_rdata(base):
    """(owner, flags, protocol, algorithm, base64 key) of the DNSKEY in base + ".key"."""
    with open(base + ".key") as f:
        fields = f.read().split(";")[0].split()  # ldns writes a ";{id = ...}" comment
    i = fields.index("DNSKEY")
    return fields[0], fields[i + 1], fields[i + 2], fields[i + 3], "".join(fields[i + 4:])


def ds_record(base):
    """The DS record of a KSK made by keygen, as a zone file line."""
    with open(base + ".ds") as f:
        return " ".join(f.read().split(";")[0].split())


def write_trust_anchors(path, *bases):
    """A delv/named trust-anchors file holding the KSKs (keygen bases) as static keys."""
    with open(path, "w") as f:
        f.write("trust-anchors {\n")
        for base in bases:
            f.write('  "%s" static-key %s %s %s "%s";\n' % key_rdata(base))
        f.write("};\n")
    return path


def _sig_time(t):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def sign_zone(text, origin, folder, nsec3=False, optout=False, algorithm="ECDSAP256SHA256"):
    """Signs the zone text (with $ORIGIN and $TTL) for origin with a fresh KSK and ZSK,
    using ldns-signzone: NSEC, or NSEC3 with 0 extra iterations and no salt (RFC 9276),
    with opt-out when asked. The signatures were valid an hour ago and stay so for 30
    days. Writes folder/<origin>.zone; returns (that path, the KSK's keygen base)."""
    os.makedirs(folder, exist_ok=True)
    origin = origin.rstrip(".")
    src = os.path.join(folder, origin + ".unsigned")
    with open(src, "w") as f:
        f.write(text)
    ksk = keygen(origin, folder, ksk=True, algorithm=algorithm)
    zsk = keygen(origin, folder, algorithm=algorithm)
    out = os.path.join(folder, origin + ".zone")
    now = time.time()
    argv = ["ldns-signzone", "-i", _sig_time(now - 3600), "-e", _sig_time(now + 30 * 86400),
            "-o", origin + ".", "-f", out]
    if nsec3 or optout:
        argv += ["-n", "-t", "0"] + (["-p"] if optout else [])
    r = run(argv + [src, zsk, ksk])
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (" ".join(argv), r.stdout, r.stderr))
    os.chmod(out, 0o644)
    return out, ksk


def wait_for_zones(srv, origins, timeout=10.0):
    """Waits until srv answers the SOA query of every origin with authority (NOERROR,
    AA); fails with the server's log when one does not in time."""
    deadline = time.monotonic() + timeout
    for origin in origins:
        q = make_query(origin, qtype=6)
        while True:
            reply = raw_query(srv.port, q, timeout=0.2)
            flags = struct.unpack("!H", reply[2:4])[0] if reply and len(reply) >= 12 else 0
            if flags & 0x040F == 0x0400:  # AA, rcode NOERROR
                break
            if time.monotonic() > deadline or srv.proc.poll() is not None:
                srv.stop()
                raise RuntimeError("%s does not serve %s:\n%s" % (
                    os.path.basename(srv.argv[0]), origin, srv.output()))
            time.sleep(0.05)


KNOT_CONF = """server:
    listen: 127.0.0.1@{port}
    rundir: "{dir}"
    pidfile: "{dir}/knot.pid"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{dir}/db"
control:
    listen: "{dir}/knot.sock"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "{zones}"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: on
zone:
"""


def start_knot(zones, tries=5):
    """knotd (Knot DNS) on a loopback port serving every *.zone in zones as it is (no
    signing of its own), in the foreground. The caller checks its exit (0 on SIGTERM)."""
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    for attempt in range(tries):
        port = free_port()
        workdir = tempfile.mkdtemp(prefix="pindns-knot-")
        os.mkdir(os.path.join(workdir, "db"))  # or Knot warns that it does not exist
        conf = KNOT_CONF.format(port=port, zones=zones, dir=workdir)
        for f in sorted(os.listdir(zones)):
            if f.endswith(".zone"):
                conf += "  - domain: %s\n    file: %s\n" % (f[:-5], f)
        path = os.path.join(workdir, "knot.conf")
        with open(path, "w") as f:
            f.write(conf)
        srv = Server([knotd, "-c", path], port, os.path.join(workdir, "knotd.log"))
        try:
            if _started(srv, retry=attempt + 1 < tries):
                # Knot answers before its zones are loaded (they load in the background).
                wait_for_zones(srv, [f[:-5] for f in os.listdir(zones) if f.endswith(".zone")])
                return srv
        except RuntimeError:
            # Knot says "address already in use" in its own words and letter case.
            if attempt + 1 < tries and "already in use" in srv.output().lower():
                continue
            raise
    raise RuntimeError("knotd: no free port after %d tries" % tries)


KNOT_SIGNER_CONF = """server:
    rundir: "{dir}"
database:
    storage: "{dir}/db"
control:
    listen: "{dir}/knot.sock"
log:
  - target: stderr
    any: info
policy:
  - id: presigned
    algorithm: {algorithm}
    manual: on
    nsec3: {nsec3}
    nsec3-opt-out: {optout}
    nsec3-iterations: 0
    nsec3-salt-length: 0
    rrsig-lifetime: 30d
zone:
  - domain: {origin}
    storage: "{dir}"
    file: {origin}.zone
    dnssec-signing: on
    dnssec-policy: presigned
    zonefile-sync: 0
    zonefile-load: whole
"""


def knot_sign_zone(text, origin, folder, nsec3=True, optout=True,
                   algorithm="ECDSAP256SHA256", timeout=20):
    """sign_zone, but signed by knotd (keys from ldns-keygen, imported with keymgr): the
    signer to use for NSEC3 opt-out, since ldns-signzone -p sets the flag yet keeps the
    NSEC3 records of unsigned delegations, and Knot leaves them out of the chain (the
    opt-out spans of RFC 5155 6). knotd runs without a socket to answer on, writes the
    signed file and is stopped. Returns (folder/<origin>.zone, the KSK's keygen base)."""
    os.makedirs(os.path.join(folder, "db"))
    origin = origin.rstrip(".")
    out = os.path.join(folder, origin + ".zone")
    with open(out, "w") as f:
        f.write(text)
    ksk = keygen(origin, folder, ksk=True, algorithm=algorithm)
    zsk = keygen(origin, folder, algorithm=algorithm)
    conf = os.path.join(folder, "knot-signer.conf")
    with open(conf, "w") as f:
        f.write(KNOT_SIGNER_CONF.format(dir=folder, origin=origin, algorithm=algorithm.lower(),
                                        nsec3="on" if nsec3 else "off",
                                        optout="on" if optout else "off"))
    for key in (ksk, zsk):
        r = run(["keymgr", "-c", conf, origin, "import-bind", key + ".private"])
        if r.returncode != 0:
            raise RuntimeError("keymgr import-bind %s failed: %s%s" % (key, r.stdout, r.stderr))
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    log = os.path.join(folder, "knotd-signer.log")
    srv = Server([knotd, "-c", conf], 0, log)
    deadline = time.monotonic() + timeout
    try:
        while "zone file updated" not in srv.output():
            if srv.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("knotd did not sign %s:\n%s" % (origin, srv.output()))
            time.sleep(0.05)
    finally:
        srv.stop()
    if srv.proc.returncode != 0:
        raise RuntimeError("knotd (signer) exited with %s:\n%s" % (srv.proc.returncode,
                                                                  srv.output()))
    os.chmod(out, 0o644)
    return out, ksk
