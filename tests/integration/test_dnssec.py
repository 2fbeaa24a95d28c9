"""DNSSEC (issue 12): pre-signed zones served by pindnsd validate, and answer as Knot does.

setUpModule signs three zones made from data/dnssec/zone.in with fresh keys (ldns-keygen):
nsec.test (NSEC) and nsec3.test (NSEC3, no salt, 0 extra iterations, as RFC 9276 has it)
with ldns-signzone, and optout.test, the same with opt-out, with knotd: ldns-signzone -p
only sets the opt-out flag and still gives each unsigned delegation its NSEC3, while
Knot leaves them out of the chain (RFC 5155 6), which is what makes opt-out spans to
prove things with (without knotd, ldns-signzone -p signs it, and test_optout_spans
skips). pindnsd, Knot (knotd, signing off: it serves the files as they are) and NSD
serve them, each started once for the file.

- Validation: delv, with the zone's KSK as its trust anchor, must say "; fully
  validated" (or "; negative response, fully validated"; "; unsigned answer" for the
  wildcard answers of optout.test, see OPTOUT_INSECURE) for every answer kind, from
  Knot (which proves each check passes with a server known to be right) and from
  pindnsd. delv takes a CNAME chain as validated on its first links (a chain ending
  in a wildcard or in NXDOMAIN whose proof lacks a record still validates), so the
  differential is what checks the proofs at the end of a chain. delv cannot follow a
  referral (it asks its server as a forwarder, and a referral from a forwarder is
  "non-improving"), so a referral's proof is checked against the DS query that delv
  validated: the DS RRset or the denial in the referral must be records of that
  validated answer.
- Proof the validation check is real: bogus.test is nsec.test signed again with two
  RRSIGs taken out of the file (www's A and the NSEC covering nope); delv must fail
  those two names from Knot and from a pindnsd of its own, and validate the others.
  A zone whose NSEC (or NSEC3) record was removed must not load: ldns-verify-zone
  says the file is broken, and pindnsctl zone-check and pindnsd --check-config fail
  naming NSEC (NSEC3) and the owner.
- Differential: dig +dnssec +norec over UDP (1232-byte buffer) and TCP, pindnsd
  against Knot and against NSD: rcode, flags, every section as a set of normalised
  records (RRSIG data whole) and the OPT record (version, flags, size, options).
  The differences allowed are listed in KNOT_DIFFERENCES and NSD_DIFFERENCES, each
  with its reason; a truncated answer is compared by its header and OPT alone (see
  check_truncated), and NSD's minimal additional section as a part of ours.
- SignedFiles: ldns-verify-zone and Knot's semantic checks (which verify every
  signature) find the good zones sound and bogus.test not, pindnsctl zone-check
  passes the good ones, and optout.test has its opt-out spans.

A tool missing (ldnsutils, bind9-dnsutils' delv and dig, knot, nsd) skips what needs it;
under CI=true that skip fails (harness.main), since packaging/deps.sh test installs them.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CTL = os.path.join(os.path.dirname(harness.PINDNSD), "pindnsctl")
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dnssec",
                        "zone.in")

# origin -> (nsec3, optout)
ZONES = {"nsec.test": (False, False), "nsec3.test": (True, False),
         "optout.test": (True, True)}
BOGUS = "bogus.test"  # nsec.test's content, two RRSIGs removed after signing
# What bogus.test lacks: the RRSIG of www's A, and that of the NSEC covering nope
# (mail < nope < ns1 in canonical order, so it is mail's NSEC).
BOGUS_STRIPPED = (("www", "A"), ("mail", "NSEC"))
BOGUS_FAILS = (("www", "A"), ("nope", "A"))
BOGUS_VALIDATES = (("www", "AAAA", "positive"), ("mail", "A", "positive"),
                   ("b.ent", "A", "negative"), ("www", "MX", "negative"))

POS, NEG, INSECURE = "positive", "negative", "insecure"
DELV_SAYS = {POS: "; fully validated", NEG: "; negative response, fully validated",
             INSECURE: "; unsigned answer"}

# (answer kind, name relative to the origin, type, what delv must say)
CASES = [
    ("apex SOA", "@", "SOA", POS),
    ("apex NS, glue in additional", "@", "NS", POS),
    ("MX with an in-zone target", "@", "MX", POS),
    ("DNSKEY", "@", "DNSKEY", POS),
    ("positive", "www", "A", POS),
    ("a name with several types", "www", "TXT", POS),
    ("NXDOMAIN", "nope", "A", NEG),
    ("NXDOMAIN below a missing name", "a.b.nope", "TXT", NEG),
    ("NODATA", "www", "MX", NEG),
    ("empty non-terminal NODATA", "ent", "A", NEG),
    ("deeper empty non-terminal NODATA", "b.ent", "AAAA", NEG),
    ("wildcard answer", "foo.wild", "A", POS),
    ("wildcard answer two labels down", "x.y.wild", "TXT", POS),
    ("wildcard NODATA", "foo.wild", "MX", NEG),
    ("the wildcard itself", "*.wild", "A", POS),
    ("CNAME chain", "chain", "A", POS),
    ("CNAME asked for", "chain", "CNAME", POS),
    ("CNAME to a wildcard", "towild", "A", POS),
    ("CNAME to a name that does not exist", "dangling", "A", POS),
    ("DNAME", "www.dname", "A", POS),
    ("DNAME asked for", "dname", "DNAME", POS),
    ("DS of the signed delegation", "sub", "DS", POS),
    ("no DS at the unsigned delegation", "unsigned", "DS", NEG),
    ("empty non-terminal above an unsigned delegation alone", "optent", "A", NEG),
    ("no DS at the unsigned delegation below it", "a.optent", "DS", NEG),
    ("big TXT: TC over UDP, then TCP", "big", "TXT", POS),
]

# In optout.test a wildcard answer proves that the name itself does not exist with an
# NSEC3 that covers it with the opt-out flag: the name could be an unsigned delegation
# (RFC 5155 7.2.6 and 9.2), so a validator takes the answer as insecure (delv: "unsigned
# answer"), whoever serves it. Not bogus: a wrong signature would fail it.
OPTOUT_INSECURE = {("foo.wild", "A"), ("x.y.wild", "TXT")}

# Referrals: (name below the cut, the delegation whose DS query proves the referral)
REFERRALS = [("www.sub", "sub"), ("ns1.sub", "sub"), ("www.unsigned", "unsigned"),
             ("ns1.unsigned", "unsigned"), ("www.a.optent", "a.optent")]

# Differential queries (relative name, type, dig options): first one without DO then
# with it, and later others the other way round (the cache must key on DO); every case
# above and the referrals; 512-byte buffers (additional data goes first, TC when a
# required RRset does not fit); without DO, only what the type asks for.
DO = ("+dnssec",)
DIFF_QUERIES = [("mail", "A", ()), ("mail", "A", DO)] + \
    [(name, rtype, DO) for _, name, rtype, _ in CASES] + \
    [(name, "A", DO) for name, _ in REFERRALS] + \
    [(name, rtype, DO + ("+bufsize=512",)) for name, rtype in (
        ("@", "NS"), ("@", "MX"), ("www", "A"), ("nope", "A"), ("foo.wild", "A"),
        ("www.sub", "A"), ("www.unsigned", "A"), ("chain", "A"))] + \
    [(name, rtype, ()) for name, rtype in (
        ("www", "A"), ("big", "TXT"), ("nope", "A"), ("www", "MX"), ("foo.wild", "A"),
        ("www.sub", "A"), ("www.unsigned", "A"), ("@", "DNSKEY"), ("sub", "DS"),
        ("www", "RRSIG"), ("www", "NSEC"), ("@", "NSEC3PARAM"))]

# Allowed differences, by (relative name, type, dig options): the one section where ours
# may hold fewer records than the reference's (at least one, and none of its own), and
# the reason. Everything else of those answers is compared as usual. The rules that apply
# to every answer (truncated ones, NSD's minimal additional section) are in
# Differential.check_truncated and check_additional.
KNOT_DIFFERENCES = {}
NSD_DIFFERENCES = {
    ("www", "RRSIG", ()): ("ANSWER", "NSD answers a query for type RRSIG with "
                           "every RRSIG of the name, pindns (as Knot) with one RRset's; "
                           "RFC 4035 leaves it open, and validators never ask"),
}

SERVERS = {}
PATHS = {}


def absolute(name, origin):
    """name (relative to origin, "@" for the apex) as an absolute name."""
    return origin + "." if name == "@" else "%s.%s." % (name, origin)


def records(path):
    """(owner lower-cased, type, RDATA fields) of each record of a signed zone file, as
    ldns-signzone writes them (owner TTL class type) and Knot (owner TTL type)."""
    out = []
    with open(path) as f:
        for line in f:
            fields = line.split(";")[0].split()
            if len(fields) < 4:
                continue
            i = 3 if fields[2] == "IN" else 2
            out.append((fields[0].lower(), fields[i], fields[i + 1:]))
    return out


def zone_text(origin, sub_ds):
    """data/dnssec/zone.in for origin, with sub_ds as the signed delegation's DS."""
    with open(TEMPLATE) as f:
        text = f.read()
    return (text.replace("@ORIGIN@", origin).replace("@SUB_DS@", sub_ds)
            .replace("@BIG@", "x" * 209))


def strip_records(path, out, origin, which):
    """Copies the zone file at path (as ldns-signzone writes it: owner TTL class type)
    to out without the records which names, each a pair (owner relative to origin,
    what): what "TYPE" is the RRSIG covering TYPE there, "RR:TYPE" the TYPE records
    themselves. Fails unless each was there."""
    found = set()
    lines = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            drop = None
            if len(fields) > 4 and not line.startswith(";"):
                owner = fields[0].lower()
                for rel, what in which:
                    if owner != absolute(rel, origin).lower():
                        continue
                    if what.startswith("RR:") and fields[3] == what[3:]:
                        drop = (rel, what)
                    elif fields[3] == "RRSIG" and fields[4] == what:
                        drop = (rel, what)
            if drop:
                found.add(drop)
            else:
                lines.append(line)
    missing = set(which) - found
    if missing:
        raise RuntimeError("%s has no %s" % (path, missing))
    with open(out, "w") as f:
        f.writelines(lines)
    os.chmod(out, 0o644)


def sign_all(top):
    """Signs every zone of ZONES and bogus.test into top/zones (and top/bogus); fills
    PATHS with the files, the trust anchor file and the keys."""
    zones = os.path.join(top, "zones")
    bogus = os.path.join(top, "bogus")
    work = os.path.join(top, "keys")
    for d in (zones, bogus, work):
        os.makedirs(d)
        os.chmod(d, 0o755)
    ksks = []
    for origin, (nsec3, optout) in sorted(ZONES.items()) + [(BOGUS, (False, False))]:
        child = harness.keygen("sub." + origin, work, ksk=True)
        text = zone_text(origin, harness.ds_record(child))
        sign = harness.sign_zone
        if optout and not harness.missing_tools("knotd", "keymgr"):
            sign = harness.knot_sign_zone  # see the module comment
            PATHS["optout-signer"] = "knotd"
        path, ksk = sign(text, origin, os.path.join(work, origin), nsec3=nsec3,
                         optout=optout)
        ksks.append(ksk)
        if origin == BOGUS:
            strip_records(path, os.path.join(bogus, origin + ".zone"), origin, BOGUS_STRIPPED)
            shutil.copy(os.path.join(bogus, origin + ".zone"), zones)
        else:
            shutil.copy(path, zones)
        PATHS[origin] = path
    PATHS["zones"], PATHS["bogus"] = zones, bogus
    PATHS["anchors"] = harness.write_trust_anchors(os.path.join(top, "anchors.conf"), *ksks)


def setUpModule():
    missing = harness.missing_tools("ldns-keygen", "ldns-signzone", "ldns-verify-zone",
                                    "delv", "dig")
    if missing:
        raise unittest.SkipTest("%s not installed (packaging/deps.sh test installs "
                                "ldnsutils and bind9-dnsutils)" % ", ".join(missing))
    top = tempfile.mkdtemp(prefix="pindns-dnssec-")
    sign_all(top)
    # pindnsd serves the three good zones; bogus.test gets a pindnsd of its own, so that
    # however pindns takes a zone missing RRSIGs, the good zones are not at stake.
    ours = os.path.join(top, "ours")
    os.makedirs(ours)
    os.chmod(ours, 0o755)
    for origin in ZONES:
        shutil.copy(PATHS[origin], ours)
    try:
        SERVERS["ours"] = harness.start_pindnsd(zones=ours, tcp=True)
        SERVERS["ours-bogus"] = harness.start_pindnsd(zones=PATHS["bogus"])
        if not harness.missing_tools("knotd"):
            SERVERS["knot"] = harness.start_knot(PATHS["zones"])
        if not harness.missing_tools("nsd"):
            SERVERS["nsd"] = harness.start_nsd(zones=ours)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    """Stops every server, all of them even when one fails its checks (pindnsd: exit 0
    and no sanitizer report, harness.Server.check; knotd: exit 0), then fails."""
    errors = []
    for key in ("ours", "ours-bogus", "knot", "nsd"):
        srv = SERVERS.pop(key, None)
        if srv is None:
            continue
        try:
            srv.stop()
            if key == "knot" and srv.proc.returncode != 0:
                raise AssertionError("knotd exited with %s on SIGTERM; its log:\n%s" % (
                    srv.proc.returncode, srv.output()))
        except Exception as e:  # noqa: BLE001 -- the others must still be stopped
            errors.append("%s: %s" % (key, e))
    if errors:
        raise AssertionError("\n".join(errors))


def need(key, package):
    """The server SERVERS[key], or a skip of the test naming the package to install."""
    if key not in SERVERS:
        raise unittest.SkipTest("%s not installed (packaging/deps.sh test installs %s)" % (
            key if key != "knot" else "knotd", package))
    return SERVERS[key]


def delv(port, origin, name, rtype):
    """delv's command line and output for one query, validating from origin's KSK."""
    argv = ["delv", "@127.0.0.1", "-p", str(port), "-a", PATHS["anchors"],
            "+root=" + origin, name, rtype]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return " ".join(argv), r.stdout + r.stderr


def delv_all(port, queries):
    """delv's output for each (origin, name, type), eight at a time: delv mostly waits."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda q: delv(port, *q), queries))


class Validation(unittest.TestCase):
    """delv validates every answer kind of each zone."""

    def validate(self, srv):
        queries, expect = [], []
        for origin in sorted(ZONES):
            for kind, name, rtype, says in CASES:
                queries.append((origin, absolute(name, origin), rtype))
                if origin == "optout.test" and (name, rtype) in OPTOUT_INSECURE:
                    says = INSECURE
                expect.append((kind, says))
        for (kind, says), (argv, out) in zip(expect, delv_all(srv.port, queries)):
            with self.subTest(kind=kind, query=argv):
                self.assertIn(DELV_SAYS[says], out.splitlines(), "%s: %s\n%s" % (
                    kind, argv, out))

    def test_knot(self):
        self.validate(need("knot", "knot"))

    def test_pindns(self):
        self.validate(SERVERS["ours"])

    def check_bogus(self, srv):
        queries = [(BOGUS, absolute(n, BOGUS), t) for n, t in BOGUS_FAILS] + \
            [(BOGUS, absolute(n, BOGUS), t) for n, t, _ in BOGUS_VALIDATES]
        results = delv_all(srv.port, queries)
        for argv, out in results[:len(BOGUS_FAILS)]:
            with self.subTest(query=argv):
                lines = out.splitlines()
                self.assertNotIn(DELV_SAYS[POS], lines, argv + "\n" + out)
                self.assertNotIn(DELV_SAYS[NEG], lines, argv + "\n" + out)
                self.assertRegex(out, r"resolution failed|validation fail", argv + "\n" + out)
        for (_, _, says), (argv, out) in zip(BOGUS_VALIDATES, results[len(BOGUS_FAILS):]):
            with self.subTest(query=argv):
                self.assertIn(DELV_SAYS[says], out.splitlines(), argv + "\n" + out)

    def test_bogus_knot(self):
        """Knot serves what it is given: the stripped RRSIGs are missing from its
        answers too, and delv must fail them: the check above is real."""
        self.check_bogus(need("knot", "knot"))

    def test_bogus_pindns(self):
        self.check_bogus(SERVERS["ours-bogus"])

    def check_referrals(self, srv):
        """A referral's DNSSEC records (DS and RRSIG, or the NSEC/NSEC3 denial and their
        RRSIGs) must be records of the DS answer that delv validated (test_knot and
        test_pindns), and there must be some."""
        for origin in sorted(ZONES):
            for name, cut in REFERRALS:
                qname = absolute(name, origin)
                with self.subTest(origin=origin, name=qname):
                    ref = harness.dig(srv.port, qname, "A", "+dnssec", "+bufsize=1232")
                    ds = harness.dig(srv.port, absolute(cut, origin), "DS", "+dnssec",
                                     transport="tcp")
                    what = "%s\n--- DS answer:\n%s" % (ref.text, ds.text)
                    self.assertEqual(ref.rcode, "NOERROR", what)
                    self.assertNotIn("aa", ref.flags, what)
                    self.assertEqual(ref.answer, [], what)
                    proof = [rr for rr in ref.authority if rr.split()[3] != "NS"]
                    self.assertTrue(proof, "no DS and no denial in the referral: " + what)
                    validated = set(ds.answer) | set(ds.authority)
                    for rr in proof:
                        self.assertIn(rr, validated, what)
                    if cut == "sub":
                        self.assertTrue(any(rr.split()[3] == "DS" for rr in proof), what)

    def test_referrals_knot(self):
        self.check_referrals(need("knot", "knot"))

    def test_referrals_pindns(self):
        self.check_referrals(SERVERS["ours"])


class SignedFiles(unittest.TestCase):
    """The signed files are what the other tests take them for, by other checkers."""

    def test_ldns_verify_zone(self):
        for origin in sorted(ZONES):
            with self.subTest(origin=origin):
                r = harness.run(["ldns-verify-zone", PATHS[origin]])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        bogus = os.path.join(PATHS["bogus"], BOGUS + ".zone")
        r = harness.run(["ldns-verify-zone", bogus])
        self.assertNotEqual(r.returncode, 0, "ldns-verify-zone passes " + bogus)

    def test_knot_semantic_checks(self):
        """Knot checks every signature of a zone it loads (semantic-checks: on): it must
        find nothing wrong in the good zones, and the missing RRSIGs in bogus.test."""
        log = need("knot", "knot").output()
        for origin in sorted(ZONES):
            with self.subTest(origin=origin):
                self.assertRegex(log, r"\[%s\.\] loaded" % re.escape(origin), log)
                bad = [l for l in log.splitlines() if "[%s.]" % origin in l and
                       re.search(r"warning|error", l)]
                self.assertEqual(bad, [], log)
        self.assertRegex(log, r"\[%s\.\] check, node (www|mail)\.%s\., no valid signature" %
                         (re.escape(BOGUS), re.escape(BOGUS)), log)

    def test_optout_spans(self):
        """optout.test's unsigned delegations have no NSEC3 (an opt-out span covers
        them), nsec3.test's have one; every NSEC3 of optout.test has the opt-out flag."""
        if PATHS.get("optout-signer") != "knotd":
            need("knot", "knot")  # the skip: without knotd, ldns-signzone signed it
        for origin, optout in (("nsec3.test", False), ("optout.test", True)):
            with self.subTest(origin=origin):
                flags, bitmaps = set(), []
                for _, rtype, rdata in records(PATHS[origin]):
                    if rtype == "NSEC3":
                        flags.add(rdata[1])
                        bitmaps.append(rdata[5:])
                self.assertEqual(flags, {"1" if optout else "0"})
                # An unsigned delegation's NSEC3 says NS alone.
                self.assertEqual(bitmaps.count(["NS"]), 0 if optout else 2, bitmaps)
                self.assertIn(["NS", "DS", "RRSIG"], bitmaps)  # the signed one is there

    def test_zone_check_passes(self):
        for origin in sorted(ZONES):
            with self.subTest(origin=origin):
                r = harness.run([CTL, "zone-check", PATHS[origin], origin])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class BrokenChain(unittest.TestCase):
    """A zone whose NSEC or NSEC3 chain lacks a record must not load."""

    def broken(self, origin, rtype):
        """origin's signed file without the NSEC (NSEC3) record of one name and its
        RRSIG; returns (path, the names an error may give as the owner)."""
        folder = tempfile.mkdtemp(prefix="pindns-broken-")
        path = PATHS[origin]
        chain = [(o, rdata) for o, t, rdata in records(path) if t == rtype]
        # www's NSEC; for NSEC3, the hashed owner in the middle of the chain.
        owner = absolute("www", origin) if rtype == "NSEC" else chain[len(chain) // 2][0]
        # The record before it in the chain is the one whose next name it is (NSEC3
        # records are not in hash order in the file).
        if rtype == "NSEC":
            previous = next(o for o, rdata in chain if rdata[0].lower() == owner)
        else:
            previous = next(o for o, rdata in chain if rdata[4].lower() == owner.split(".")[0])
        rel = owner[:-len(origin) - 2]
        out = os.path.join(folder, origin + ".zone")
        strip_records(path, out, origin, [(rel, "RR:" + rtype), (rel, rtype)])
        names = {owner, previous, owner.rstrip("."), previous.rstrip(".")}
        if rtype == "NSEC3":
            names |= {owner.split(".")[0], previous.split(".")[0]}
        # The origin is in every message about the zone: it would name nothing.
        names -= {origin, origin + "."}
        self.assertTrue(names)
        return out, names

    def check(self, origin, rtype):
        path, names = self.broken(origin, rtype)
        r = harness.run(["ldns-verify-zone", path])
        self.assertNotEqual(r.returncode, 0, "ldns-verify-zone passes the broken file")
        for argv in ([CTL, "zone-check", path, origin],
                     [harness.PINDNSD, "--check-config", "--zones", os.path.dirname(path)]):
            with self.subTest(argv=" ".join(argv)):
                r = harness.run(argv)
                out = r.stdout + r.stderr
                self.assertNotEqual(r.returncode, 0, out)
                self.assertRegex(out, r"\b%s\b" % rtype, out)
                self.assertTrue(any(n in out.lower() for n in names),
                                "no owner of %s in:\n%s" % (sorted(names), out))

    def test_nsec_chain(self):
        self.check("nsec.test", "NSEC")

    def test_nsec3_chain(self):
        self.check("nsec3.test", "NSEC3")


class Differential(unittest.TestCase):
    """pindnsd answers as Knot (and NSD) do, on the same signed files."""

    def ask_all(self, srv, transport):
        """srv's replies to DIFF_QUERIES for every zone, in order (one dig asks them all,
        one after the other), over UDP with a 1232-byte buffer unless the query says
        another, or over TCP."""
        queries = [(absolute(name, origin), rtype, None, list(opts))
                   for origin in sorted(ZONES) for name, rtype, opts in DIFF_QUERIES]
        extra = ("+bufsize=1232",) if transport == "udp" else ()
        replies = harness.dig_many(srv.port, queries, *extra, transport=transport)
        self.assertEqual(len(replies), len(queries), "%s answered %d of %d queries over %s" % (
            srv.argv[0], len(replies), len(queries), transport))
        return replies

    def compare(self, ref, table, additional_subset=False):
        ours = SERVERS["ours"]
        runs = [(srv, transport) for transport in ("udp", "tcp") for srv in (ours, ref)]
        with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
            got = dict(zip(runs, pool.map(lambda r: self.ask_all(*r), runs)))
        checked = 0
        for transport in ("udp", "tcp"):
            i = 0
            for origin in sorted(ZONES):
                for name, rtype, opts in DIFF_QUERIES:
                    a, b = got[(ours, transport)][i], got[(ref, transport)][i]
                    i += 1
                    qname = absolute(name, origin)
                    args = (("+bufsize=1232",) if transport == "udp" else ()) + opts
                    with self.subTest(query="%s %s %s %s" % (qname, rtype, transport,
                                                              " ".join(args))):
                        what = "%s %s %s %s\n--- pindns:\n%s\n--- %s:\n%s" % (
                            qname, rtype, transport, " ".join(args), a.text,
                            os.path.basename(ref.argv[0]), b.text)
                        self.assertIsNotNone(b.rcode, "the reference did not answer: " + what)
                        allowed = table.get((name, rtype, opts))
                        self.assertIsNotNone(a.rcode, "pindns did not answer: " + what)
                        self.assertEqual(a.rcode, b.rcode, what)
                        self.assertEqual(a.flags, b.flags, what)
                        self.assertEqual(a.edns, b.edns, what)
                        checked += 1
                        if "tc" in b.flags:
                            self.check_truncated(a, qname, rtype, args, what)
                            continue
                        for section in ("ANSWER", "AUTHORITY"):
                            if allowed and allowed[0] == section:
                                self.check_allowed(a, b, allowed, what)
                                continue
                            self.assertEqual(sorted(a.sections[section]),
                                             sorted(b.sections[section]), what)
                        if additional_subset:
                            self.check_additional(a, b, what)
                        else:
                            self.assertEqual(sorted(a.additional), sorted(b.additional), what)
        self.assertEqual(checked, len(ZONES) * len(DIFF_QUERIES) * 2)

    def check_allowed(self, a, b, allowed, what):
        """An allowed difference (KNOT_DIFFERENCES, NSD_DIFFERENCES): says it, and
        checks that it is no more than the one it is allowed to be."""
        section, reason = allowed
        ours, theirs = set(a.sections[section]), set(b.sections[section])
        self.assertTrue(ours and ours <= theirs, what)
        if ours != theirs:
            print("allowed difference: %s: %s" % (what.split("\n")[0], reason))

    def check_truncated(self, a, qname, rtype, args, what):
        """A truncated answer (TC) is not compared section by section: a client throws
        its records away and asks again over TCP (RFC 2181 9), and servers keep
        different parts (Knot the RRsets that fit without their RRSIGs, NSD nothing).
        Whatever records ours holds must be records of its whole answer over TCP."""
        whole = harness.dig(SERVERS["ours"].port, qname, rtype, *args, transport="tcp")
        self.assertNotIn("tc", whole.flags, what + "\n--- pindns over TCP:\n" + whole.text)
        everything = set(whole.answer) | set(whole.authority) | set(whole.additional)
        for rr in a.answer + a.authority + a.additional:
            self.assertIn(rr, everything, what + "\n--- pindns over TCP:\n" + whole.text)

    def check_additional(self, a, b, what):
        """NSD runs with minimal-responses (harness.NSD_CONF): it adds glue alone, where
        pindns (as Knot) adds the in-zone addresses of NS and MX targets too, with their
        RRSIGs. So NSD's additional section is a part of ours, the rest such addresses."""
        ours, theirs = set(a.additional), set(b.additional)
        self.assertTrue(theirs <= ours, what)
        targets = set()
        for rr in a.answer + a.authority:
            f = rr.split()
            if f[3] == "NS":
                targets.add(f[4])
            elif f[3] == "MX":
                targets.add(f[5])
        for rr in ours - theirs:
            f = rr.split()
            self.assertIn(f[0], targets, what)
            # normalise_rr lower-cases RDATA: an RRSIG's type covered too
            self.assertTrue(f[3] in ("A", "AAAA") or f[3] == "RRSIG" and
                            f[4].upper() in ("A", "AAAA"), what)

    def test_big_answer(self):
        """big TXT fits in 1232 bytes unsigned, not with its RRSIG: TC over UDP with DO,
        the whole answer over TCP; so the cases above do hold a truncation."""
        servers = [SERVERS["ours"]] + [SERVERS[k] for k in ("knot", "nsd") if k in SERVERS]
        for srv in servers:
            for origin in sorted(ZONES):
                qname = absolute("big", origin)
                with self.subTest(server=srv.argv[0], origin=origin):
                    udp = harness.dig(srv.port, qname, "TXT", "+bufsize=1232", *DO)
                    plain = harness.dig(srv.port, qname, "TXT", "+bufsize=1232")
                    tcp = harness.dig(srv.port, qname, "TXT", *DO, transport="tcp")
                    what = "\n---\n".join(r.text for r in (udp, plain, tcp))
                    self.assertIn("tc", udp.flags, what)
                    self.assertNotIn("tc", plain.flags, what)
                    self.assertEqual(len(plain.answer), 5, what)
                    self.assertNotIn("tc", tcp.flags, what)
                    self.assertEqual(len(tcp.answer), 6, what)  # and its RRSIG
                    size = re.search(r"MSG SIZE\s+rcvd: (\d+)", tcp.text)
                    self.assertTrue(size and int(size.group(1)) > 1232, what)

    def test_knot(self):
        self.compare(need("knot", "knot"), KNOT_DIFFERENCES)

    def test_nsd(self):
        self.compare(need("nsd", "nsd"), NSD_DIFFERENCES, additional_subset=True)


if __name__ == "__main__":
    harness.main()
