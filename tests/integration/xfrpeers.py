"""Real zone-transfer peers on loopback for the tests: Knot as a primary, Knot and NSD as
secondaries, dig/kdig to ask and to transfer, and a proxy that cuts transfers short.

Each peer is meant to be started once per test file (setUpModule) and stopped at its end
(tearDownModule); stop() fails unless the peer exited 0, and removes the peer's folder.
Every start waits until the peer answers on its port; a port someone else took first
means another try on another port, as harness.start_knot() does. Whatever is still
running when the test process exits is killed (atexit), so a failing test leaves nothing.

    key = xfrpeers.TsigKey.generate("xfr.key")
    knot = xfrpeers.KnotPrimary({"a.test": xfrpeers.zone_text("a.test")}, key=key,
                                catalog="catalog.test", notify=[port_of_a_secondary])
    knot.set_records("a.test", "www", "A", ["192.0.2.7"])   # serial + 1, NOTIFY sent
    knot.add_member("b.test", xfrpeers.zone_text("b.test")) # the catalog lists it
    xfrpeers.wait_serial(port_of_a_secondary, "a.test", knot.serial("a.test"))
    knot.stop()

The helpers: TsigKey (generate(), and the key in pindnsd's, Knot's, NSD's and dig's
syntax); zone_text(); pindns_conf() and pindns_state_dir() (pindnsd's side); soa_serial(),
wait_serial(), rcode(), wait_rcode(), query() (dig, signed when given a key), axfr()
(kdig or dig; an IXFR with ixfr=SERIAL) and catalog_members(); KnotPrimary (edit(),
set_records(), delete_records(), bump(), replace_zone(), add_zone()/add_member(),
remove_zone()/remove_member(), set_notify(), notify_now(), stop(keep_dir=True) and
start(port) to restart it as it was); KnotSecondary (of any primary, optionally
interpreting a catalog; refresh(), retransfer()); NsdSecondary; CuttingProxy.

What Knot 3.2 does with a generated catalog (checked by test_xfrpeers.py): a zone with
`catalog-role: generate` and no file is made of the zones with `catalog-role: member` and
`catalog-zone: CATALOG.`: SOA "invalid. invalid. SERIAL 3600 600 2147483646 0" (the
serial starts at the Unix time and grows by one at each change), NS invalid., TXT "2"
at version.CATALOG and one PTR per member at HASH.zones.CATALOG (RFC 9432). Members come
and go at run time with `knotc conf-begin / conf-set 'zone[NAME]' / conf-commit` (and
conf-unset), which works on a text configuration too (Knot notes that the changes are not
persistent; KnotPrimary rewrites its file as well); the catalog is regenerated at once and
NOTIFY goes to its notify: remotes. Knot answers REFUSED to ordinary queries for a catalog
zone (transfers aside): its serial is read with knotc zone-read. A Knot secondary
(`catalog-role: interpret`, `catalog-template`) adds and purges members as the catalog
changes.
"""

import atexit
import base64
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
START_TIMEOUT = 15.0

_running = []


def _stop_leftovers():
    for peer in list(_running):
        try:
            peer.stop(check=False)
        except Exception:  # noqa: BLE001 - at exit, stop whatever can be stopped
            pass


atexit.register(_stop_leftovers)


def missing(*tools):
    """The tools (knotd, knotc, nsd, kdig, dig) not installed: for a skip reason."""
    return harness.missing_tools(*tools)


# --- TSIG keys and zones ----------------------------------------------------------------

class TsigKey:
    """A TSIG key (RFC 8945): name, algorithm and base64 secret, written in each peer's
    configuration syntax."""

    def __init__(self, name, secret, algorithm="hmac-sha256"):
        self.name = name.rstrip(".")
        self.secret = secret
        self.algorithm = algorithm

    @classmethod
    def generate(cls, name="xfr.key", algorithm="hmac-sha256", size=32):
        """A fresh key with a random secret of size bytes."""
        return cls(name, base64.b64encode(secrets.token_bytes(size)).decode(), algorithm)

    def pindns(self):
        """The pindnsd configuration line defining the key."""
        return "tsig-key: %s %s %s\n" % (self.name, self.algorithm, self.secret)

    def knot(self):
        return ("key:\n  - id: %s\n    algorithm: %s\n    secret: %s\n" %
                (self.name, self.algorithm, self.secret))

    def nsd(self):
        return ('key:\n  name: "%s"\n  algorithm: %s\n  secret: "%s"\n' %
                (self.name, self.algorithm, self.secret))

    def dig(self):
        """dig's and kdig's -y argument."""
        return "%s:%s:%s" % (self.algorithm, self.name, self.secret)


def zone_text(origin, serial=1, records=(), refresh=3600, retry=600, expire=86400,
              minimum=300):
    """A small zone: SOA (the timers given), NS ns1 with its address, www A, and records
    (zone file lines, relative names allowed)."""
    origin = origin.rstrip(".")
    lines = ["$ORIGIN %s." % origin, "$TTL 300",
             "@ SOA ns1 hostmaster %d %d %d %d %d" % (serial, refresh, retry, expire, minimum),
             "@ NS ns1", "ns1 A 192.0.2.53", "www A 192.0.2.80"]
    return "\n".join(lines + list(records)) + "\n"


def _addr(target):
    """(host, port) of a port number, a (host, port) pair or "host:port"."""
    if isinstance(target, int):
        return "127.0.0.1", target
    if isinstance(target, str):
        host, _, port = target.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)
    return target[0], int(target[1])


def _knot_addr(target):
    host, port = _addr(target)
    return "%s@%d" % (host, port)


# --- pindnsd's side -----------------------------------------------------------------

def _host_port(target):
    host, port = _addr(target)
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def pindns_conf(key=None, secondaries=(), catalogs=(), provide=(), notify=(),
                state_dir=None, extra=""):
    """pindnsd configuration lines for transfers (the syntax of the issue): the key's
    tsig-key: line; "secondary:" for each (zone, primary or [primaries]) and "catalog:"
    for each of catalogs alike; "provide-xfr:" for each (zone or "*", prefix) and
    "notify:" for each (zone or "*", target); all with "key NAME" when key is given;
    then state-dir: and extra as is. Primaries and targets are ports, (host, port) or
    "host:port"."""
    lines = [key.pindns().rstrip("\n")] if key else []
    k = " key %s" % key.name if key else ""
    for what, entries in (("secondary", secondaries), ("catalog", catalogs)):
        for zone, primaries in entries:
            if isinstance(primaries, (int, str, tuple)):
                primaries = [primaries]
            lines.append("%s: %s %s%s" % (what, zone, " ".join(_host_port(p)
                                                                for p in primaries), k))
    for zone, prefix in provide:
        lines.append("provide-xfr: %s %s%s" % (zone, prefix, k))
    for zone, target in notify:
        lines.append("notify: %s %s%s" % (zone, _host_port(target), k))
    if state_dir:
        lines.append("state-dir: %s" % state_dir)
    return "\n".join(lines) + "\n" + extra


def pindns_state_dir(parent, name="state"):
    """A new state-dir under parent that pindnsd can write once it has dropped root for
    its service user (pindns): given to that user, or open to all when there is none."""
    import pwd
    d = os.path.join(parent, name)
    os.mkdir(d)
    try:
        pw = pwd.getpwnam("pindns")
        if os.getuid() == 0:
            os.chown(d, pw.pw_uid, pw.pw_gid)
        else:
            os.chmod(d, 0o777)
    except KeyError:
        os.chmod(d, 0o777)
    return d


# --- queries ----------------------------------------------------------------------------

def _parse_soa_serial(msg):
    """(rcode, AA, serial of the first SOA in the answer or None) of a reply."""
    flags = struct.unpack("!H", msg[2:4])[0]
    qd, an = struct.unpack("!HH", msg[4:8])
    off = 12
    for _ in range(qd):
        off = harness.skip_name(msg, off) + 4
    serial = None
    for _ in range(an):
        off = harness.skip_name(msg, off)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        if rtype == 6 and serial is None:
            p = harness.skip_name(msg, harness.skip_name(msg, off + 10))
            serial = struct.unpack("!I", msg[p:p + 4])[0]
        off += 10 + rdlen
    return flags & 0xF, bool(flags & 0x0400), serial


def rcode(port, name, rtype=1, host="127.0.0.1", timeout=1.0):
    """The rcode (an int) of a UDP query, or None when nothing came back."""
    r = harness.raw_query(port, harness.make_query(name, qtype=rtype), host=host,
                          timeout=timeout)
    return None if r is None or len(r) < 12 else r[3] & 0xF


def soa_serial(port, origin, host="127.0.0.1", timeout=1.0):
    """The SOA serial a server gives for origin with authority (NOERROR, AA), over UDP;
    None when it does not (no answer, REFUSED, SERVFAIL...)."""
    r = harness.raw_query(port, harness.make_query(origin, qtype=6), host=host,
                          timeout=timeout)
    if r is None or len(r) < 12:
        return None
    try:
        rc, aa, serial = _parse_soa_serial(r)
    except (IndexError, struct.error):
        return None
    return serial if rc == 0 and aa else None


def serial_newer(a, b):
    """Whether serial a is after serial b in RFC 1982 arithmetic."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


def wait_serial(port, origin, serial, timeout=10.0, host="127.0.0.1", interval=0.01):
    """Waits until the server answers origin's SOA with serial (or a later one); returns
    the seconds it took. Raises TimeoutError with the last serial seen."""
    t0 = time.monotonic()
    seen = None
    while True:
        seen = soa_serial(port, origin, host=host, timeout=0.2)
        if seen is not None and (seen == serial or serial_newer(seen, serial)):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("port %d: %s serial %s, %s wanted, after %.1f s" % (
                port, origin, seen, serial, timeout))
        time.sleep(interval)


def wait_rcode(port, name, want, rtype=6, timeout=10.0, interval=0.01):
    """Waits until a query for name gets the rcode want (0 NOERROR, 5 REFUSED, 2 SERVFAIL);
    returns the seconds it took, raises TimeoutError."""
    t0 = time.monotonic()
    while True:
        got = rcode(port, name, rtype, timeout=0.2)
        if got == want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("port %d: %s rcode %s, %s wanted, after %.1f s" % (
                port, name, got, want, timeout))
        time.sleep(interval)


def query(port, name, rtype="A", *opts, key=None, transport="udp", host="127.0.0.1"):
    """dig's answer (a harness.Reply), signed with key (a TsigKey) when given."""
    if key:
        opts = ("-y", key.dig()) + opts
    return harness.dig(port, name, rtype, *opts, host=host, transport=transport)


class Transfer:
    """What a zone transfer by dig or kdig brought: ok (it ended with the closing SOA
    and no error), records (normalised as harness.normalise_rr, TSIG records left out,
    the two SOAs of the frame included) and the tool's text."""

    def __init__(self, text, returncode):
        self.text = text
        self.records = []
        for line in text.splitlines():
            if not line.strip() or line.startswith(";"):
                continue
            fields = line.split()
            if len(fields) >= 4 and fields[3] == "TSIG":
                continue
            self.records.append(harness.normalise_rr(line))
        failed = ("Transfer failed" in text or "failed" in text.lower() or
                  "; BADSIG" in text or "; BADKEY" in text or "REFUSED" in text or
                  "NOTAUTH" in text)
        soas = [r for r in self.records if r.split()[3:4] == ["SOA"]]
        self.ok = returncode == 0 and not failed and len(soas) >= 2

    def rrs(self, rtype=None):
        """The records without the closing SOA, of rtype only when given."""
        body = self.records[:-1] if self.ok else self.records
        return [r for r in body if rtype is None or r.split()[3] == rtype]

    def __repr__(self):
        return self.text


def axfr(port, zone, key=None, tool="kdig", host="127.0.0.1", ixfr=None, timeout=20):
    """An AXFR of zone (an IXFR from serial ixfr when given) by kdig or dig, signed with
    key when given; a Transfer."""
    qtype = "AXFR" if ixfr is None else "IXFR=%d" % ixfr
    if tool == "kdig":
        argv = ["kdig", "@" + host, "-p", str(port), "+retry=0", "+timeout=5", "+noidn"]
    else:
        argv = ["dig", "@" + host, "-p", str(port), "+tries=1", "+time=5", "+nocookie"]
    if key:
        argv += ["-y", key.dig()]
    r = subprocess.run(argv + [zone, qtype], capture_output=True, text=True, timeout=timeout)
    return Transfer(r.stdout + r.stderr, r.returncode)


def catalog_members(port, catalog, key=None):
    """The member zones (names without the final dot, lower case) that the catalog zone
    served on port lists (PTR under zones.CATALOG), by AXFR; None if the transfer fails."""
    t = axfr(port, catalog, key=key)
    if not t.ok:
        return None
    suffix = ".zones.%s." % catalog.rstrip(".").lower()
    return sorted(r.split()[4].rstrip(".") for r in t.rrs("PTR")
                  if r.split()[0].endswith(suffix))


# --- peers ------------------------------------------------------------------------------

class _Peer:
    """What Knot and NSD peers share: a folder, a harness.Server, a start retried on
    another port when the port was taken, and a checked stop."""

    name = "peer"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pindns-%s-" % self.name)
        self.srv = None
        self.port = None

    @property
    def address(self):
        """host:port, as pindnsd's configuration takes it."""
        return "127.0.0.1:%d" % self.port

    def _argv(self):
        raise NotImplementedError

    def _write_conf(self):
        raise NotImplementedError

    def _start(self, port=None, tries=5):
        for attempt in range(1 if port else tries):
            self.port = port or harness.free_port()
            self._write_conf()
            log = os.path.join(self.dir, "%s-%d.log" % (self.name, attempt))
            self.srv = harness.Server(self._argv(), self.port, log)
            _running.append(self)
            try:
                harness.wait_for_udp(self.port, timeout=START_TIMEOUT, proc=self.srv.proc)
                if not harness.foreign_sockets(self.srv):
                    self._ready()
                    return self
                err = "another process shares port %d" % self.port
            except RuntimeError as e:
                err = "%s\n%s" % (e, self.srv.output())
            self.stop(check=False, keep_dir=True)
            if "already in use" not in err.lower() and "shares port" not in err:
                raise RuntimeError("%s did not start: %s" % (self.name, err))
        raise RuntimeError("%s: no free port after %d tries" % (self.name, tries))

    def _ready(self):
        """Waits for what must be there once the peer answers (its zones)."""

    def output(self):
        """The peer's log so far (after stop(), what it was when it stopped)."""
        return self.srv.output() if self.srv else getattr(self, "_last_output", "")

    def alive(self):
        return self.srv is not None and self.srv.proc.poll() is None

    def stop(self, check=True, keep_dir=False):
        """Stops the peer (SIGTERM, then SIGKILL after 20 s); with check, fails unless it
        exited 0. Its folder is removed unless keep_dir."""
        if self in _running:
            _running.remove(self)
        srv, self.srv = self.srv, None
        if srv is None:
            return
        srv.stop()
        code = srv.proc.returncode
        out = self._last_output = srv.output()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if check and code != 0:
            raise AssertionError("%s exited with %s (0 expected); its log:\n%s" % (
                self.name, code, out))


KNOT_BASE = """server:
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
    any: {log}
    control: warning
"""


class _Knot(_Peer):
    name = "knot"

    def __init__(self, key, log_level):
        super().__init__()
        self.key = key
        self.log_level = log_level
        self.sock = os.path.join(self.dir, "knot.sock")
        # time.monotonic() just before the last conf-commit or zone-commit was sent: where
        # a benchmark starts the clock of a change.
        self.last_commit = None
        self.conf = os.path.join(self.dir, "knot.conf")
        os.mkdir(os.path.join(self.dir, "db"))
        self.zonedir = os.path.join(self.dir, "zones")
        os.mkdir(self.zonedir)

    def _argv(self):
        return [KNOTD, "-c", self.conf]

    def _write_conf(self):
        text = KNOT_BASE.format(port=self.port, dir=self.dir, log=self.log_level)
        if self.key:
            text += self.key.knot()
        text += self._conf_body()
        with open(self.conf, "w") as f:
            f.write(text)

    def knotc(self, *args, check=True):
        """Runs knotc on this Knot's control socket; returns its stdout. With check, fails
        unless it exited 0 (an error of Knot's is printed, and knotc exits 1)."""
        r = subprocess.run([KNOTC, "-s", self.sock, "-t", "10"] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("knotc %s: %s%s\nknotd's log:\n%s" % (
                " ".join(args), r.stdout, r.stderr, self.output()[-3000:]))
        return r.stdout

    def conf_txn(self, *commands):
        """One configuration transaction: conf-begin, each command (a tuple of knotc
        arguments: ("conf-set", "zone[a.test]")), conf-commit; aborted on a failure."""
        self.knotc("conf-begin")
        try:
            for c in commands:
                self.knotc(*c)
        except BaseException:
            self.knotc("conf-abort", check=False)
            raise
        self.last_commit = time.monotonic()
        self.knotc("conf-commit")

    def _acl_conf(self, actions):
        """The acl section: the key's holder (or anyone on loopback without a key) may do
        actions."""
        text = "acl:\n  - id: peers\n    address: 127.0.0.0/8\n"
        if self.key:
            text += "    key: %s\n" % self.key.name
        return text + "    action: [%s]\n" % ", ".join(actions)

    def _remote(self, rid, target):
        text = "  - id: %s\n    address: %s\n" % (rid, _knot_addr(target))
        if self.key:
            text += "    key: %s\n" % self.key.name
        return text

    def refresh(self, origin):
        """knotc zone-refresh: an SOA check now (a secondary's zone)."""
        self.knotc("zone-refresh", origin.rstrip("."))

    def retransfer(self, origin):
        """knotc zone-retransfer: an AXFR now (a secondary's zone)."""
        self.knotc("zone-retransfer", origin.rstrip("."))

    def serial(self, origin):
        """The serial this Knot has for origin, or None. Asked with knotc zone-read for a
        catalog zone: Knot answers REFUSED to queries for one, transfers aside."""
        if origin.rstrip(".") != getattr(self, "catalog", None):
            return soa_serial(self.port, origin)
        out = self.knotc("zone-read", origin.rstrip(".") + ".", "@", "SOA", check=False)
        fields = out.split()
        # "[ORIGIN.] ORIGIN. TTL SOA MNAME RNAME SERIAL ..."
        if len(fields) >= 7 and fields[3] == "SOA":
            return int(fields[6])
        return None


class KnotPrimary(_Knot):
    """knotd as the primary of zones (origin -> zone file text), transfers and NOTIFY
    signed with key (a TsigKey; None: unsigned, open to loopback). notify: the
    secondaries (ports, (host, port) or "host:port") sent NOTIFY at each change. With
    catalog (its origin), a generated catalog zone (RFC 9432) lists members (origins; all
    zones when None). Edits go through knotc, so IXFR works (Knot keeps the journal):
    set_records()/delete_records() bump the serial; replace_zone() rewrites the file."""

    def __init__(self, zones, key=None, notify=(), catalog=None, members=None,
                 log_level="info", port=None, start=True):
        super().__init__(key, log_level)
        self.zones = {}
        for origin, text in zones.items():
            self._write_zone(origin, text)
        self.notify = [_addr(t) for t in notify]
        self.catalog = catalog.rstrip(".") if catalog else None
        self.members = set(self.zones) if members is None else set(
            m.rstrip(".") for m in members)
        if start:
            self._start(port)

    def _write_zone(self, origin, text):
        origin = origin.rstrip(".")
        path = os.path.join(self.zonedir, origin + ".zone")
        with open(path, "w") as f:
            f.write(text)
        self.zones[origin] = path

    def _notify_ids(self):
        return ["notify%d" % i for i in range(len(self.notify))]

    def _conf_body(self):
        text = self._acl_conf(["transfer", "notify"])
        if self.notify:
            text += "remote:\n" + "".join(self._remote(rid, t) for rid, t in
                                          zip(self._notify_ids(), self.notify))
        # difference-no-serial with the whole journal: a rewritten file becomes a diff
        # with the serial incremented by Knot, whatever serial the file says.
        text += ("template:\n  - id: default\n    storage: \"%s\"\n    zonefile-sync: -1\n"
                 "    zonefile-load: difference-no-serial\n    journal-content: all\n"
                 "    semantic-checks: on\n    acl: peers\n" % self.zonedir)
        if self.notify:
            text += "    notify: [%s]\n" % ", ".join(self._notify_ids())
        text += "zone:\n"
        if self.catalog:
            text += "  - domain: %s.\n    catalog-role: generate\n" % self.catalog
        for origin in sorted(self.zones):
            text += "  - domain: %s.\n    file: %s.zone\n" % (origin, origin)
            if self.catalog and origin in self.members:
                text += "    catalog-role: member\n    catalog-zone: %s.\n" % self.catalog
        return text

    def _ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        names = list(self.zones) + ([self.catalog] if self.catalog else [])
        for origin in names:
            while self.serial(origin) is None:
                if time.monotonic() > deadline or not self.alive():
                    raise RuntimeError("knotd does not serve %s:\n%s" % (origin,
                                                                         self.output()))
                time.sleep(0.02)

    def start(self, port=None):
        """Starts it (again, after stop(keep_dir=True): pass its old port to keep it)."""
        return self._start(port)

    def stop(self, check=True, keep_dir=False):
        """Stops Knot; with keep_dir, its zones are first written back to their files
        (zone-flush), or the next start would take the files' older contents as a
        change to apply (difference-no-serial) and undo the edits."""
        if keep_dir and self.alive():
            self.knotc("-b", "-f", "zone-flush")  # -f: even with zonefile-sync -1
        super().stop(check=check, keep_dir=keep_dir)

    # --- changes -------------------------------------------------------------------

    def edit(self, origin, *changes):
        """One zone transaction: zone-begin, each change (("set", owner, ttl, type,
        rdata...) or ("unset", owner[, type[, rdata]])), zone-commit, which increments the
        serial and sends NOTIFY. Returns the new serial."""
        origin = origin.rstrip(".")
        self.knotc("zone-begin", origin)
        try:
            for c in changes:
                self.knotc("zone-" + c[0], origin, *[str(x) for x in c[1:]])
        except BaseException:
            self.knotc("zone-abort", origin, check=False)
            raise
        self.last_commit = time.monotonic()
        self.knotc("zone-commit", origin)
        return self.serial(origin)

    def set_records(self, origin, owner, rtype, rdatas, ttl=300):
        """Replaces the RRset owner/rtype (owner relative to origin or absolute) with
        rdatas (a list of rdata texts); the new serial."""
        changes = []
        if self._has(origin, owner, rtype):
            changes.append(("unset", owner, rtype))
        changes += [("set", owner, ttl, rtype, rd) for rd in rdatas]
        return self.edit(origin, *changes)

    def delete_records(self, origin, owner, rtype=None):
        """Removes the RRset (every RRset of owner when rtype is None); the new serial."""
        return self.edit(origin, ("unset", owner) + ((rtype,) if rtype else ()))

    def _has(self, origin, owner, rtype):
        out = self.knotc("zone-read", origin.rstrip("."), owner, rtype, check=False)
        return bool(out.strip()) and "error" not in out.lower()

    def bump(self, origin, tag=None):
        """A change that is only a serial bump plus a TXT at serial-bump.ORIGIN (so the
        data differs too); the new serial."""
        tag = tag or "t%d" % time.monotonic_ns()
        return self.set_records(origin, "serial-bump", "TXT", ['"%s"' % tag])

    def replace_zone(self, origin, text, timeout=10.0):
        """Rewrites the zone's file and has Knot reload it (zone-reload): Knot turns the
        difference into a journal entry and increments the serial. The new serial."""
        old = self.serial(origin)
        self._write_zone(origin, text)
        self.knotc("zone-reload", origin.rstrip("."))
        deadline = time.monotonic() + timeout
        while True:
            s = self.serial(origin)
            if s is not None and s != old:
                return s
            if time.monotonic() > deadline:
                raise TimeoutError("Knot did not reload %s (serial %s):\n%s" % (
                    origin, s, self.output()[-3000:]))
            time.sleep(0.02)

    def add_zone(self, origin, text, member=True, timeout=10.0):
        """A new zone (in the catalog when there is one and member), configured at run
        time (conf-begin ... conf-commit); waits until Knot serves it. Returns the
        catalog's serial afterwards (None without a catalog)."""
        origin = origin.rstrip(".")
        self._write_zone(origin, text)
        cmds = [("conf-set", "zone[%s.]" % origin),
                ("conf-set", "zone[%s.].file" % origin, "%s.zone" % origin)]
        if self.catalog and member:
            self.members.add(origin)
            cmds += [("conf-set", "zone[%s.].catalog-role" % origin, "member"),
                     ("conf-set", "zone[%s.].catalog-zone" % origin, self.catalog + ".")]
        old = self.serial(self.catalog) if self.catalog and member else None
        self.conf_txn(*cmds)
        self._write_conf()  # so that a later reload or restart keeps the zone
        deadline = time.monotonic() + timeout
        while self.serial(origin) is None or (old is not None and
                                              self.serial(self.catalog) == old):
            if time.monotonic() > deadline:
                raise TimeoutError("Knot does not serve %s:\n%s" % (origin,
                                                                    self.output()[-3000:]))
            time.sleep(0.02)
        return self.serial(self.catalog) if self.catalog else None

    add_member = add_zone

    def remove_zone(self, origin, timeout=10.0):
        """Removes a zone from the configuration (and so from the catalog); waits until
        Knot no longer serves it. Returns the catalog's serial afterwards."""
        origin = origin.rstrip(".")
        old = self.serial(self.catalog) if self.catalog else None
        self.conf_txn(("conf-unset", "zone[%s.]" % origin))
        self.zones.pop(origin, None)
        was_member = origin in self.members
        self.members.discard(origin)
        self._write_conf()
        deadline = time.monotonic() + timeout
        while self.serial(origin) is not None or (
                was_member and old is not None and self.serial(self.catalog) == old):
            if time.monotonic() > deadline:
                raise TimeoutError("Knot still serves %s:\n%s" % (origin,
                                                                  self.output()[-3000:]))
            time.sleep(0.02)
        return self.serial(self.catalog) if self.catalog else None

    remove_member = remove_zone

    def set_notify(self, targets):
        """Replaces the NOTIFY targets (ports, (host, port) or "host:port") at run time."""
        cmds = []
        if self.notify:  # unset what exists (unsetting what does not is an error)
            cmds.append(("conf-unset", "template[default].notify"))
            cmds += [("conf-unset", "remote[%s]" % rid) for rid in self._notify_ids()]
        self.notify = [_addr(t) for t in targets]
        for rid, t in zip(self._notify_ids(), self.notify):
            cmds += [("conf-set", "remote[%s]" % rid),
                     ("conf-set", "remote[%s].address" % rid, _knot_addr(t))]
            if self.key:
                cmds.append(("conf-set", "remote[%s].key" % rid, self.key.name))
            cmds.append(("conf-set", "template[default].notify", rid))
        self.conf_txn(*cmds)
        self._write_conf()

    def notify_now(self, origin):
        """Sends NOTIFY for origin to its targets now (knotc zone-notify)."""
        self.knotc("zone-notify", origin.rstrip("."))


class KnotSecondary(_Knot):
    """knotd as a secondary of primary (a port, (host, port) or "host:port") for zones
    (origins), transfers signed with key; NOTIFY from the primary's host is taken (signed
    with key). With catalog: that zone is transferred too and interpreted (catalog-role:
    interpret), its members becoming secondaries of the same primary."""

    def __init__(self, primary, zones=(), key=None, catalog=None, log_level="info",
                 port=None, start=True):
        super().__init__(key, log_level)
        self.primary = _addr(primary)
        self.zone_list = [z.rstrip(".") for z in zones]
        self.catalog = catalog.rstrip(".") if catalog else None
        if start:
            self._start(port)

    def _conf_body(self):
        text = self._acl_conf(["notify"])
        text += "remote:\n" + self._remote("primary", self.primary)
        text += ("template:\n  - id: default\n    storage: \"%s\"\n    master: primary\n"
                 "    acl: peers\n    zonefile-sync: -1\n    journal-content: changes\n"
                 % self.zonedir)
        if self.catalog:
            text += ("  - id: member\n    storage: \"%s\"\n    master: primary\n"
                     "    acl: peers\n    zonefile-sync: -1\n" % self.zonedir)
        text += "zone:\n"
        if self.catalog:
            text += ("  - domain: %s.\n    catalog-role: interpret\n"
                     "    catalog-template: member\n" % self.catalog)
        for origin in self.zone_list:
            text += "  - domain: %s.\n" % origin
        return text

    def start(self, port=None):
        return self._start(port)

    def wait_zones(self, origins, timeout=10.0):
        """Waits until every zone of origins is served (transferred)."""
        for origin in origins:
            deadline = time.monotonic() + timeout
            while self.serial(origin) is None:
                if time.monotonic() > deadline or not self.alive():
                    raise TimeoutError("Knot secondary does not serve %s:\n%s" % (
                        origin, self.output()[-3000:]))
                time.sleep(0.02)


class NsdSecondary(_Peer):
    """NSD (4.6: no catalog zones) as a secondary of primary for zones, transfers (IXFR,
    AXFR as fallback) signed with key, NOTIFY from 127.0.0.1 taken when signed with key."""

    name = "nsd"

    def __init__(self, primary, zones, key=None, port=None, start=True):
        super().__init__()
        self.primary = _addr(primary)
        self.zone_list = [z.rstrip(".") for z in zones]
        self.key = key
        self.conf = os.path.join(self.dir, "nsd.conf")
        if start:
            self._start(port)

    def _argv(self):
        return [NSD, "-d", "-c", self.conf]

    def _write_conf(self):
        text = harness.NSD_CONF.format(port=self.port, zones=self.dir, dir=self.dir)
        text = text.replace("  verbosity: 1\n", "  verbosity: 2\n")
        keyname = self.key.name if self.key else "NOKEY"
        if self.key:
            text += self.key.nsd()
        host, port = self.primary
        for origin in self.zone_list:
            text += ("zone:\n  name: %s\n  zonefile: %s.zone\n  request-xfr: %s@%d %s\n"
                     "  allow-notify: %s %s\n" % (origin, origin, host, port, keyname,
                                                  host, keyname))
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self, port=None):
        return self._start(port)

    def serial(self, origin):
        return soa_serial(self.port, origin)

    def wait_zones(self, origins, timeout=10.0):
        for origin in origins:
            deadline = time.monotonic() + timeout
            while self.serial(origin) is None:
                if time.monotonic() > deadline or not self.alive():
                    raise TimeoutError("NSD secondary does not serve %s:\n%s" % (
                        origin, self.output()[-3000:]))
                time.sleep(0.02)


# --- a proxy that cuts transfers --------------------------------------------------------

class CuttingProxy:
    """A TCP proxy on 127.0.0.1:port forwarding each connection to target; once the
    server side has sent cut_after bytes on a connection, the proxy forwards exactly that
    many and closes both sides (None: never cut). cuts bounds how many connections are cut
    (None: all): e.g. cuts=1 cuts the first transfer and lets the retry through.
    connections and cut count what happened; close() stops it."""

    def __init__(self, target, cut_after=None, cuts=None, port=None):
        self.target = _addr(target)
        self.cut_after = cut_after
        self.cuts = cuts
        self.connections = 0
        self.cut = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port or harness.free_port()))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, client):
        with self._lock:
            self.connections += 1
            limit = self.cut_after
            if limit is not None and self.cuts is not None and self.cut >= self.cuts:
                limit = None
            if limit is not None:
                self.cut += 1
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        sent = 0
        socks = [client, server]
        for s in socks:
            s.setblocking(False)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select(socks, [], [], 0.1)
                for s in ready:
                    try:
                        data = s.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    if not data:
                        if s is server:
                            return
                        # The client is done sending (a half-close): so is the proxy,
                        # and what the server still sends goes on to the client.
                        server.shutdown(socket.SHUT_WR)
                        socks = [server]
                        continue
                    if s is server:
                        if limit is not None and sent + len(data) >= limit:
                            self._sendall(client, data[:limit - sent])
                            return
                        sent += len(data)
                        self._sendall(client, data)
                    else:
                        self._sendall(server, data)
        except OSError:
            pass  # a reset by either side: both are closed
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    @staticmethod
    def _sendall(sock, data):
        sock.setblocking(True)
        try:
            sock.sendall(data)
        finally:
            sock.setblocking(False)

    def close(self):
        self._stop.set()
        self.listener.close()
        self._accepter.join(5)
        for t in self._threads:
            t.join(5)
