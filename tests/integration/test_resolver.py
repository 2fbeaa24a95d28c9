"""A validating resolver in front of pindnsd: Unbound resolves every kind of name through it.

setUpModule signs two parent zones made from data/resolver/zone.in with fresh keys
(ldns-keygen, ldns-signzone): nsec3.test (NSEC3, no salt, 0 extra iterations) and
nsec.test (NSEC), each with a signed child (sub.*, DS in the parent) and an unsigned one
(unsigned.*, no DS), and bogus.test: nsec3.test's content with the RRSIG of www's A
taken out of the signed file (its children are served too). One pindnsd serves the
parents, another their children (a server with both would answer from the child, and
Unbound would never see a referral). Knot (knotd, signing off: it serves the files as
they are) serves the same files the same way as a reference, so that a failure can be
told apart: the test's, or pindns's.

Each pair of servers gets an Unbound of its own (Debian's unbound, as a user would put
it in front): validation on (the three parents' KSKs as trust anchors), 0x20 case
randomisation (use-caps-for-id), QNAME minimisation, stub zones for the three parents.
Every answer kind is asked of Unbound with dig +dnssec: positive answers, CNAME and
DNAME chains and NXDOMAIN/NODATA proofs must validate (the ad flag, the right rcode and
final data), names below the unsigned delegation must resolve insecure (no ad), the big
RRset must come (Unbound asks again over TCP when truncated), and www.bogus.test must
fail validation (SERVFAIL): proof that validation is on.

Unbound sends a referral's queries to port 53 of the glue address, with no way to name
another port, so the file runs itself in a network namespace of its own (unshare
--net, with --user --map-root-user when not root or when root alone cannot), where
127.0.0.2 port 53 is free. A small relay there passes every query on to the children's
server (each Unbound sends from an address of its own, which tells whose), another in
front of the stub address to the parents' server, and both record what they pass: the
test checks that queries below the delegations came to the glue address, that Unbound
used TCP for the big RRset, that query names came in mixed case (0x20) and that every
reply carried the query name back exactly as it was asked. Where no namespace can be
made, the children are stub zones too and the referral test skips ("host:").

A tool missing (unbound, ldnsutils, dig, knot) skips what needs it; under CI=true that
skip fails (harness.main), since packaging/deps.sh test installs them.
"""

import concurrent.futures
import fcntl
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

NETNS = "PINDNS_RESOLVER_NETNS"


def _loopback_up():
    """Sets lo up: a new network namespace has it down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, req))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _enter_netns():
    """Runs this file again in a network namespace of its own, once: True when this
    process is in one, False when none could be made. Before harness is imported, so
    that its temporary folders and sanitizer settings are made inside."""
    if os.environ.get(NETNS) == "1":
        _loopback_up()
        return True
    if os.environ.get(NETNS) == "0":
        return False
    os.environ[NETNS] = "0"
    unshare = shutil.which("unshare")
    # Root may lack CAP_SYS_ADMIN (a container) and still be let make a user namespace.
    tries = [["--user", "--map-root-user", "--net"]]
    if os.getuid() == 0:
        tries.insert(0, ["--net"])
    for opts in tries if unshare else []:
        probe = subprocess.run([unshare] + opts + ["true"], capture_output=True,
                               stdin=subprocess.DEVNULL)
        if probe.returncode == 0:
            os.environ[NETNS] = "1"
            # No fork: unshare execs in place, so the pid ctest waits for stays the test's.
            os.execv(unshare, [unshare] + opts + [sys.executable, os.path.abspath(__file__)] +
                     sys.argv[1:])
    return False


IN_NETNS = _enter_netns() if __name__ == "__main__" else False

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "resolver")
PARENTS = {"nsec3.test": True, "nsec.test": False}  # origin -> NSEC3
BOGUS = "bogus.test"
BOGUS_STRIPPED = ("www", "A")  # the RRSIG taken out of bogus.test
REFERRAL_ADDR = "127.0.0.2"    # the glue of every delegation (data/resolver/zone.in)

SECURE, INSECURE = "secure", "insecure"

# (answer kind, name relative to the parent, type, rcode, secure or insecure, what the
# answer must end with: (relative owner, type, data) or None for no answer)
CASES = [
    ("apex SOA", "@", "SOA", "NOERROR", SECURE, ("@", "SOA", None)),
    ("apex NS", "@", "NS", "NOERROR", SECURE, ("@", "NS", "ns1.@.")),
    ("apex MX", "@", "MX", "NOERROR", SECURE, ("@", "MX", "10 mail.@.")),
    ("apex TXT", "@", "TXT", "NOERROR", SECURE, ("@", "TXT", '"apex"')),
    ("DNSKEY", "@", "DNSKEY", "NOERROR", SECURE, ("@", "DNSKEY", None)),
    ("A", "www", "A", "NOERROR", SECURE, ("www", "A", "192.0.2.80")),
    ("AAAA", "www", "AAAA", "NOERROR", SECURE, ("www", "AAAA", "2001:db8::80")),
    ("NXDOMAIN", "nope", "A", "NXDOMAIN", SECURE, None),
    ("NXDOMAIN below a missing name", "a.b.nope", "TXT", "NXDOMAIN", SECURE, None),
    ("NODATA", "www", "MX", "NOERROR", SECURE, None),
    ("empty non-terminal", "ent", "A", "NOERROR", SECURE, None),
    ("deeper empty non-terminal", "b.ent", "AAAA", "NOERROR", SECURE, None),
    ("below empty non-terminals", "a.b.ent", "A", "NOERROR", SECURE,
     ("a.b.ent", "A", "192.0.2.7")),
    ("wildcard", "foo.wild", "A", "NOERROR", SECURE, ("foo.wild", "A", "192.0.2.100")),
    ("wildcard two labels down", "x.y.wild", "TXT", "NOERROR", SECURE,
     ("x.y.wild", "TXT", '"wildcard"')),
    ("wildcard NODATA", "foo.wild", "MX", "NOERROR", SECURE, None),
    ("CNAME chain", "chain", "A", "NOERROR", SECURE, ("www", "A", "192.0.2.80")),
    ("CNAME to a wildcard", "towild", "A", "NOERROR", SECURE,
     ("foo.wild", "A", "192.0.2.100")),
    ("CNAME to a name that does not exist", "dangling", "A", "NXDOMAIN", SECURE,
     ("dangling", "CNAME", "missing.@.")),
    ("DNAME", "www.dname", "A", "NOERROR", SECURE, ("www.target", "A", "192.0.2.90")),
    ("DNAME to a name that does not exist", "nope.dname", "A", "NXDOMAIN", SECURE,
     ("nope.dname", "CNAME", "nope.target.@.")),
    ("signed delegation DS", "sub", "DS", "NOERROR", SECURE, ("sub", "DS", None)),
    ("signed child A", "www.sub", "A", "NOERROR", SECURE, ("www.sub", "A", "192.0.2.180")),
    ("signed child NXDOMAIN", "nope.sub", "A", "NXDOMAIN", SECURE, None),
    ("signed child NODATA", "www.sub", "MX", "NOERROR", SECURE, None),
    ("CNAME into the signed child", "tosub", "TXT", "NOERROR", SECURE,
     ("www.sub", "TXT", '"child"')),
    ("no DS at the unsigned delegation", "unsigned", "DS", "NOERROR", SECURE, None),
    ("unsigned child A", "www.unsigned", "A", "NOERROR", INSECURE,
     ("www.unsigned", "A", "192.0.2.180")),
    ("unsigned child NXDOMAIN", "nope.unsigned", "A", "NXDOMAIN", INSECURE, None),
    ("CNAME into the unsigned child", "tounsigned", "A", "NOERROR", INSECURE,
     ("www.unsigned", "A", "192.0.2.180")),
    ("big TXT: TC over UDP, then TCP", "big", "TXT", "NOERROR", SECURE,
     ("big", "TXT", None)),
]
BIG_TXT_COUNT = 5

SERVERS = {}    # ("pindns" or "knot", "parents" or "children") -> harness.Server
RESOLVERS = {}  # "pindns" or "knot" -> Resolver
PATHS = {}
REFERRAL = []   # the Relay at the glue address, port 53, in a network namespace


def absolute(name, origin):
    """name (relative to origin, "@" for the apex) as an absolute name."""
    return origin + "." if name == "@" else "%s.%s." % (name, origin)


def template(name, origin, **subst):
    with open(os.path.join(DATA, name)) as f:
        text = f.read().replace("@ORIGIN@", origin)
    for key, value in subst.items():
        text = text.replace("@%s@" % key, value)
    return text


def strip_rrsig(path, out, owner, covered):
    """Copies the zone file at path to out without the RRSIG of owner covering covered;
    fails unless it was there."""
    kept, dropped = [], 0
    with open(path) as f:
        for line in f:
            fields = line.split()
            if (len(fields) > 4 and fields[0].lower() == owner.lower() and
                    fields[3] == "RRSIG" and fields[4] == covered):
                dropped += 1
            else:
                kept.append(line)
    if dropped != 1:
        raise RuntimeError("%s: %d RRSIGs of %s %s, 1 expected" % (
            path, dropped, owner, covered))
    with open(out, "w") as f:
        f.writelines(kept)
    os.chmod(out, 0o644)


def sign_all(top):
    """Signs the zones into top/parents (the parents and bogus.test) and top/children
    (their children); PATHS gets those folders and the parents' KSKs' DS records (the
    trust anchors)."""
    parents, children = os.path.join(top, "parents"), os.path.join(top, "children")
    keys = os.path.join(top, "keys")
    for d in (parents, children, keys):
        os.makedirs(d)
        os.chmod(d, 0o755)
    anchors = []
    for origin, nsec3 in sorted(PARENTS.items()) + [(BOGUS, True)]:
        sub = "sub." + origin
        path, sub_ksk = harness.sign_zone(template("child.in", sub), sub,
                                          os.path.join(keys, sub), nsec3=nsec3)
        shutil.copy(path, children)
        unsigned = os.path.join(children, "unsigned.%s.zone" % origin)
        with open(unsigned, "w") as f:
            f.write(template("child.in", "unsigned." + origin))
        os.chmod(unsigned, 0o644)
        text = template("zone.in", origin, SUB_DS=harness.ds_record(sub_ksk), BIG="x" * 209)
        path, ksk = harness.sign_zone(text, origin, os.path.join(keys, origin), nsec3=nsec3)
        if origin == BOGUS:
            strip_rrsig(path, os.path.join(parents, origin + ".zone"),
                        absolute(BOGUS_STRIPPED[0], origin), BOGUS_STRIPPED[1])
        else:
            shutil.copy(path, parents)
        anchors.append(harness.ds_record(ksk))
    PATHS.update(parents=parents, children=children, anchors=anchors)


def qname_of(msg):
    """The question name of a DNS message as sent (letter case kept), or None."""
    labels, i = [], 12
    try:
        while msg[i]:
            if msg[i] & 0xC0:
                return None
            labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii", "replace"))
            i += 1 + msg[i]
    except IndexError:
        return None
    return ".".join(labels) + "."


class Relay:
    """Listens on host:port (UDP and TCP) and passes each query on to a server on
    127.0.0.1, and its reply back. targets is that server's port, or a dict from the
    query's source address to it (a query from elsewhere is dropped). Records (source
    address, transport, query name as asked, reply's query name) of every query."""

    def __init__(self, host, port, targets):
        self.host, self.targets = host, targets
        self.seen = []
        self.lock = threading.Lock()
        self.closing = False
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.udp.bind((host, port))
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((host, self.udp.getsockname()[1]))
            self.tcp.listen(16)
        except OSError:
            self.close()
            raise
        self.port = self.udp.getsockname()[1]
        for loop in (self._udp_loop, self._tcp_loop):
            threading.Thread(target=loop, daemon=True).start()

    def _target(self, client):
        return self.targets if isinstance(self.targets, int) else self.targets.get(client[0])

    def _record(self, client, transport, query, reply):
        with self.lock:
            self.seen.append((client[0], transport, qname_of(query),
                              reply and qname_of(reply)))

    def _udp_loop(self):
        while not self.closing:
            try:
                query, client = self.udp.recvfrom(65535)
            except OSError:
                return
            if client is None:  # shut down
                return
            threading.Thread(target=self._udp_one, args=(query, client), daemon=True).start()

    def _udp_one(self, query, client):
        target = self._target(client)
        if target is None:
            return
        reply = harness.raw_query(target, query, timeout=3.0)
        self._record(client, "udp", query, reply)
        if reply is not None:
            try:
                self.udp.sendto(reply, client)
            except OSError:
                pass

    def _tcp_loop(self):
        while not self.closing:
            try:
                conn, client = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_one, args=(conn, client), daemon=True).start()

    def _tcp_one(self, conn, client):
        """One connection, its queries passed on in turn over one connection upstream."""
        target = self._target(client)
        if target is None:
            conn.close()
            return
        try:
            with conn, harness.tcp_connect(target, timeout=3.0) as up:
                while not self.closing:
                    query = harness.recv_msg(conn, timeout=10.0)
                    harness.send_msgs(up, query)
                    reply = harness.recv_msg(up, timeout=3.0)
                    self._record(client, "tcp", query, reply)
                    harness.send_msgs(conn, reply)
        except (OSError, harness.PeerClosed):
            pass

    def queries(self, source=None):
        """(transport, query name, reply's query name) of the queries from source (any
        when None)."""
        with self.lock:
            return [q[1:] for q in self.seen if source in (None, q[0])]

    def close(self):
        self.closing = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


UNBOUND_CONF = """server:
    verbosity: 1
    val-log-level: 2
    interface: 127.0.0.1
    outgoing-interface: {source}
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    num-threads: 1
    outgoing-range: 64
    num-queries-per-thread: 64
    so-reuseport: no
    edns-buffer-size: 1232
    do-not-query-localhost: no
    use-caps-for-id: yes
    qname-minimisation: yes
    qname-minimisation-strict: no
    module-config: "validator iterator"
    trust-anchor-file: "{dir}/anchors"
    msg-cache-size: 1m
    rrset-cache-size: 1m
    key-cache-size: 1m
    neg-cache-size: 1m
    # Each name asked of the server: none answered from a cached NSEC (RFC 8198).
    aggressive-nsec: no
    # Unbound answers test. itself (RFC 6761 names) unless told not to.
    local-zone: "test." nodefault
remote-control:
    control-enable: no
"""


class Resolver:
    """Unbound in the foreground on a loopback port, in front of two servers: one for the
    parents (and bogus.test), one for their children (a server that had both would
    answer from the child, and there would be no referral to follow). The parents are
    stub zones, at a Relay to their server. Unbound sends its queries from an address
    of its own (source), so that the Relay at the glue address (REFERRAL, with a network
    namespace), which every Resolver's referrals lead to, can tell whose children's
    server they are for. Without a namespace the children are stub zones too."""

    def __init__(self, parents, children, source, tries=5):
        self.source = source
        self.relays = [Relay("127.0.0.1", harness.free_port(), parents.port)]
        stubs = [(z, self.relays[0].port) for z in sorted(PARENTS) + [BOGUS]]
        if REFERRAL:
            REFERRAL[0].targets[source] = children.port
        else:
            self.relays.append(Relay("127.0.0.1", harness.free_port(), children.port))
            stubs += [("%s.%s" % (c, z), self.relays[1].port) for z, _ in stubs
                      for c in ("sub", "unsigned")]
        unbound = shutil.which("unbound") or "/usr/sbin/unbound"
        for attempt in range(tries):
            port = harness.free_port()
            self.dir = tempfile.mkdtemp(prefix="pindns-unbound-")
            with open(os.path.join(self.dir, "anchors"), "w") as f:
                f.write("\n".join(PATHS["anchors"]) + "\n")
            conf = UNBOUND_CONF.format(port=port, dir=self.dir, source=source)
            for zone, relay in stubs:
                conf += ("stub-zone:\n    name: \"%s.\"\n    stub-addr: 127.0.0.1@%d\n"
                         "    stub-first: no\n" % (zone, relay))
            self.conf = os.path.join(self.dir, "unbound.conf")
            with open(self.conf, "w") as f:
                f.write(conf)
            self.srv = harness.Server([unbound, "-d", "-c", self.conf], port,
                                      os.path.join(self.dir, "unbound.log"))
            try:
                if harness._started(self.srv, retry=attempt + 1 < tries):
                    self.port = port
                    return
            except BaseException:
                self.close_relays()
                raise
        self.close_relays()
        raise RuntimeError("unbound: no free port after %d tries" % tries)

    def dig(self, name, rtype):
        """dig +dnssec with recursion desired, UDP then TCP when truncated."""
        return harness.dig(self.port, name, rtype, "+rec", "+dnssec", "+time=10",
                           transport="retry")

    def queries(self):
        """What the relays passed on for this Resolver: (transport, query name, reply's
        query name)."""
        return [q for r in self.relays for q in r.queries()] + self.referral_queries()

    def referral_queries(self):
        return REFERRAL[0].queries(self.source) if REFERRAL else []

    def close_relays(self):
        for r in self.relays:
            r.close()

    def stop(self):
        """Stops Unbound and the relays; fails unless Unbound exited 0."""
        self.srv.stop()
        self.close_relays()
        if self.srv.proc.returncode != 0:
            raise AssertionError("unbound exited with %s on SIGTERM; its log:\n%s" % (
                self.srv.proc.returncode, self.srv.output()))


def setUpModule():
    missing = harness.missing_tools("ldns-keygen", "ldns-signzone", "dig", "unbound")
    if missing:
        raise unittest.SkipTest("%s not installed (packaging/deps.sh test installs "
                                "ldnsutils, bind9-dnsutils and unbound)" % ", ".join(missing))
    sign_all(tempfile.mkdtemp(prefix="pindns-resolver-"))
    # As root (here or in the namespace) pindnsd stays root: the namespace may map no
    # other user, and nothing here is about dropping privileges.
    args = ["--user", "root"] if os.getuid() == 0 else []
    try:
        for half in ("parents", "children"):
            # Not tcp=True: the connection that checks TCP is sometimes still in the
            # kernel's table, inode and all, when _started looks for foreign sockets
            # (seen in a network namespace), which fails each try.
            srv = SERVERS["pindns", half] = harness.start_pindnsd(args, zones=PATHS[half])
            harness.wait_for_tcp(srv.port, proc=srv.proc)
            harness.wait_for_zones(srv, [f[:-5] for f in os.listdir(PATHS[half])
                                         if f.endswith(".zone")])
            if not harness.missing_tools("knotd"):
                SERVERS["knot", half] = harness.start_knot(PATHS[half])
        if IN_NETNS:
            REFERRAL.append(Relay(REFERRAL_ADDR, 53, {}))
        for i, key in enumerate(("pindns", "knot")):
            if (key, "parents") in SERVERS:
                RESOLVERS[key] = Resolver(SERVERS[key, "parents"], SERVERS[key, "children"],
                                          "127.0.0.%d" % (10 + i))
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    errors = []
    stops = [RESOLVERS.pop(key) for key in sorted(RESOLVERS)] + \
        [SERVERS.pop(key) for key in sorted(SERVERS)]
    for thing in stops:
        try:
            thing.stop()
            if isinstance(thing, harness.Server) and thing.proc.returncode != 0:
                raise AssertionError("%s exited with %s on SIGTERM; its log:\n%s" % (
                    os.path.basename(thing.argv[0]), thing.proc.returncode, thing.output()))
        except AssertionError as e:
            errors.append(str(e))
    while REFERRAL:
        REFERRAL.pop().close()
    if errors:
        raise AssertionError("\n".join(errors))


def rr_fields(rr):
    """(owner, type, data) of a record as harness.normalise_rr gives it."""
    fields = rr.split(None, 4)
    return fields[0], fields[3], fields[4] if len(fields) > 4 else ""


class Resolution:
    """The checks, against the Unbound in front of the server named by KEY."""

    KEY = None

    def resolver(self):
        if self.KEY not in RESOLVERS:
            raise unittest.SkipTest("knotd not installed (packaging/deps.sh test installs "
                                    "knot)")
        return RESOLVERS[self.KEY]

    def ask_all(self, queries):
        """Replies of Unbound to each (name, type), eight at a time."""
        res = self.resolver()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda q: res.dig(*q), queries))

    def context(self, reply):
        res = self.resolver()
        return "%s\n--- the last of unbound's log:\n%s" % (
            reply.text, "\n".join(res.srv.output().splitlines()[-30:]))

    def test_every_kind(self):
        cases = [(origin, case) for origin in sorted(PARENTS) for case in CASES]
        replies = self.ask_all([(absolute(c[1], o), c[2]) for o, c in cases])
        for (origin, (kind, name, rtype, rcode, security, last)), reply in zip(cases, replies):
            with self.subTest(kind=kind, query="%s %s" % (absolute(name, origin), rtype)):
                what = self.context(reply)
                self.assertEqual(reply.rcode, rcode, what)
                self.assertIn("rd", reply.flags, what)
                self.assertIn("ra", reply.flags, what)
                if security == SECURE:
                    self.assertIn("ad", reply.flags, what)
                else:
                    self.assertNotIn("ad", reply.flags, what)
                data = [rr_fields(rr) for rr in reply.answer if rr.split()[3] != "RRSIG"]
                if security == SECURE and (last is None or rcode == "NXDOMAIN"):
                    # The denial's proof came along (+dnssec asks for it).
                    self.assertTrue(any(rr.split()[3] in ("NSEC", "NSEC3") for rr in
                                        reply.authority), what)
                if last is None:
                    self.assertEqual(data, [], what)
                    continue
                owner, ltype, ldata = last
                self.assertTrue(data, what)
                got = data[-1]
                self.assertEqual(got[:2], (absolute(owner, origin).lower(), ltype), what)
                if ldata is not None:
                    self.assertIn(ldata.replace("@.", origin + ".").lower(),
                                  [d for o, t, d in data if t == ltype], what)
                if security == SECURE:
                    self.assertTrue(any(rr.split()[3] == "RRSIG" for rr in reply.answer),
                                    what)

    def test_chains_whole(self):
        """A CNAME chain comes whole: every link, then the data; a DNAME with the CNAME
        synthesised from it."""
        for origin in sorted(PARENTS):
            a = lambda n: absolute(n, origin).lower()  # noqa: E731
            for name, links in (
                    ("chain", [(a("chain"), "CNAME", a("cname")),
                               (a("cname"), "CNAME", a("www")),
                               (a("www"), "A", "192.0.2.80")]),
                    ("www.dname", [(a("dname"), "DNAME", a("target")),
                                   (a("www.dname"), "CNAME", a("www.target")),
                                   (a("www.target"), "A", "192.0.2.90")])):
                reply = self.resolver().dig(absolute(name, origin), "A")
                with self.subTest(name=absolute(name, origin)):
                    data = [rr_fields(rr) for rr in reply.answer if rr.split()[3] != "RRSIG"]
                    self.assertEqual(sorted(data), sorted(links), self.context(reply))
                    self.assertIn("ad", reply.flags, self.context(reply))

    def test_big_rrset_over_tcp(self):
        """The big TXT RRset is truncated over UDP, so Unbound asks again over TCP."""
        res = self.resolver()
        for origin in sorted(PARENTS):
            reply = res.dig(absolute("big", origin), "TXT")
            with self.subTest(origin=origin):
                txt = [rr for rr in reply.answer if rr.split()[3] == "TXT"]
                self.assertEqual(len(txt), BIG_TXT_COUNT, self.context(reply))
                self.assertIn("ad", reply.flags, self.context(reply))
                asked = [(t, q.lower()) for t, q, _ in res.queries() if q]
                self.assertIn(("tcp", absolute("big", origin)), asked, asked)

    def test_validation_failure(self):
        """www.bogus.test lacks the RRSIG of its A: Unbound must fail it (SERVFAIL) and
        say so in its log, while the rest of the zone validates."""
        res = self.resolver()
        bad = res.dig(absolute(BOGUS_STRIPPED[0], BOGUS), BOGUS_STRIPPED[1])
        self.assertEqual(bad.rcode, "SERVFAIL", self.context(bad))
        self.assertNotIn("ad", bad.flags, self.context(bad))
        self.assertRegex(res.srv.output(), r"(?i)validation failure <www\.bogus\.test\. A IN>",
                         self.context(bad))
        for name, rtype, rcode in (("www", "AAAA", "NOERROR"), ("nope", "A", "NXDOMAIN"),
                                   ("www.sub", "A", "NOERROR")):
            good = res.dig(absolute(name, BOGUS), rtype)
            with self.subTest(name=name, type=rtype):
                self.assertEqual(good.rcode, rcode, self.context(good))
                self.assertIn("ad", good.flags, self.context(good))

    def test_0x20(self):
        """Query names reached the server in mixed case (use-caps-for-id), and every
        reply gave the query name back as it was asked."""
        res = self.resolver()
        res.dig(absolute("mail", "nsec3.test"), "A")  # at least one query with letters
        seen = [q for q in res.queries() if q[1]]
        self.assertTrue(seen)
        mixed = [q for _, q, _ in seen if re.search("[a-z]", q) and re.search("[A-Z]", q)]
        self.assertGreater(len(mixed), len(seen) // 2, seen)
        self.assertEqual([q for q in seen if q[2] is not None and q[1] != q[2]], [],
                         "replies whose query "
                         "name is not the one asked, byte for byte")

    def test_referrals_followed(self):
        """Names below the delegations were asked at the glue address: Unbound followed
        the parents' referrals."""
        res = self.resolver()
        if not REFERRAL:
            self.skipTest("host: no network namespace (unshare --net) for port 53 of "
                          "the glue address; the children were stub zones")
        for origin in sorted(PARENTS):
            for child in ("sub", "unsigned"):
                reply = res.dig(absolute("www." + child, origin), "TXT")
                with self.subTest(origin=origin, child=child):
                    self.assertEqual(reply.rcode, "NOERROR", self.context(reply))
                    asked = [q.lower() for _, q, _ in res.referral_queries() if q]
                    zone = absolute(child, origin)
                    self.assertTrue([q for q in asked if q.endswith(zone)], asked)


class Pindns(Resolution, unittest.TestCase):
    KEY = "pindns"


class Knot(Resolution, unittest.TestCase):
    """The same checks with Knot serving the files: a failure in both is the test's."""
    KEY = "knot"


if __name__ == "__main__":
    harness.main()
