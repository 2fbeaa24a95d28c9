"""Shared helpers for the integration tests: start servers on loopback, query them.

Every server started here is in its own process group and is killed with it, so a
failing test leaves nothing running. Only loopback addresses are ever queried.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _readable_mkdtemp(*args, _mkdtemp=tempfile.mkdtemp, **kwargs):
    """mkdtemp, but 0755: started as root, pindnsd drops to its service user and reads
    zone files (on reload) as that user, as it would in /var/lib/pindns."""
    d = _mkdtemp(*args, **kwargs)
    os.chmod(d, 0o755)
    return d


tempfile.mkdtemp = _readable_mkdtemp

_served_zones = None


def served_zones():
    """A copy of zones/ that pindnsd can read again (reload) after dropping root: the
    source tree may sit in a folder only its owner can enter. One copy per process."""
    global _served_zones
    if _served_zones is None:
        import atexit
        base = tempfile.mkdtemp(prefix="pindns-zones-")
        atexit.register(shutil.rmtree, base, True)
        _served_zones = os.path.join(base, "zones")
        shutil.copytree(ZONES, _served_zones)
        os.chmod(_served_zones, 0o755)
    return _served_zones
ZONES = os.path.join(ROOT, "zones")
PINDNSD = os.environ.get("PINDNSD", os.path.join(ROOT, "build", "pindnsd"))


def free_port():
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def make_query(name, qtype=1, qclass=1, qid=0x1234, flags=0x0100, edns=None):
    """A query in wire form; edns is None or (udp_size, version, do_bit)."""
    arcount = 1 if edns else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", qtype, qclass)
    if edns:
        size, version, do = edns
        msg += b"\0" + struct.pack("!HHBBHH", 41, size, 0, version, 0x8000 if do else 0, 0)
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


class Server:
    """A process in its own group; stop() ends the group, also on test failure."""

    def __init__(self, argv, port, logpath, cwd=None, env=None):
        self.port = port
        self.logpath = logpath
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=cwd, env=env)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        else:
            # The main process exited; children (NSD forks) may still hold the group.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()

    def output(self):
        self.log.flush()
        with open(self.logpath) as f:
            return f.read()


def start_pindnsd(args=(), port=None, zones=None, workdir=None, wait=True):
    port = port or free_port()
    zones = zones or served_zones()
    workdir = workdir or tempfile.mkdtemp(prefix="pindns-test-")
    argv = [PINDNSD, "--foreground", "--listen", "127.0.0.1:%d" % port, "--threads", "2"]
    if zones:
        argv += ["--zones", zones]
    argv += list(args)
    srv = Server(argv, port, os.path.join(workdir, "pindnsd.log"))
    if wait:
        try:
            wait_for_udp(port, proc=srv.proc)
        except Exception:
            out = srv.output()
            srv.stop()
            raise RuntimeError("pindnsd did not start:\n" + out)
    return srv


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


def start_nsd(zones=ZONES, port=None):
    """NSD on a loopback port serving every *.zone in zones, as pindnsd would."""
    nsd = shutil.which("nsd") or "/usr/sbin/nsd"
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="pindns-nsd-")
    conf = NSD_CONF.format(port=port, zones=zones, dir=workdir)
    for f in sorted(os.listdir(zones)):
        if f.endswith(".zone"):
            conf += "zone:\n  name: %s\n  zonefile: %s\n" % (f[:-5], f)
    path = os.path.join(workdir, "nsd.conf")
    with open(path, "w") as f:
        f.write(conf)
    srv = Server([nsd, "-d", "-c", path], port, os.path.join(workdir, "nsd.out"))
    try:
        wait_for_udp(port, proc=srv.proc)
    except Exception:
        srv.stop()
        raise
    return srv


class Reply:
    """What dig printed, parsed: rcode, flags, EDNS, and the three sections."""

    def __init__(self, text):
        self.text = text
        self.rcode = None
        self.flags = set()
        self.edns = None
        self.ede = None
        self.sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
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
                             "udp": int(m.group(3))}
            m = re.match(r"; EDE: (\d+)", line)
            if m:
                self.ede = int(m.group(1))
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


def dig(port, name, rtype="A", *opts, host="127.0.0.1", cls=None):
    """Runs dig against a loopback server (UDP only, no retries) and parses the reply."""
    argv = ["dig", "@" + host, "-p", str(port), "+norec", "+nocookie", "+ignore", "+tries=1",
            "+time=2", "+notcp", "+noidnin", "+noidnout"]
    argv += list(opts) + [name, rtype]
    if cls:
        argv += ["-c", cls]  # after the name: dig reads a later bare word as another query
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    return Reply(out)
