#!/usr/bin/env python3
"""TSIG with real peers: kdig and dig verify what pd_tsig_sign() signs (answers over UDP,
an AXFR stream over TCP, every algorithm, BADKEY, BADSIG and BADTIME), and pd_tsig_verify()
verifies a signed AXFR from knotd spanning several messages. Usage: tsig_interop.py
TSIG_PEER (tests/unit/core/tsig_peer.c). Exits 77 when kdig, dig or knotd is missing
(under CI=true that fails instead)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

KEYS = {
    "hmac-sha1": "dGVzdHNlY3JldDE=",
    "hmac-sha224": "c2VjcmV0LTIyNA==",
    "hmac-sha256": "cGluZG5zIHRzaWcgdGVzdCBrZXkgc2hhMjU2IQ==",
    "hmac-sha384": "MzgzODM4Mzg=",
    "hmac-sha512": "NTEyIGJpdHMgb2Ygc2VjcmV0IGZvciB0aGUgdGVzdCBvZiBzaGE1MTIgLi4uLi4uLg==",
}
OTHER = "b3RoZXIgc2VjcmV0"
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
        if detail:
            print(detail)


def skip(why):
    print("skipped: " + why)
    sys.exit(1 if os.environ.get("CI") == "true" else 77)


def start_peer(peer, skew):
    keys = [f"{alg}:{alg}.key:{secret}" for alg, secret in KEYS.items()]
    p = subprocess.Popen([peer, "serve", str(skew)] + keys, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if line[:1] != ["port"]:
        p.kill()
        raise SystemExit("tsig_peer did not start")
    return p, int(line[1])


def stop_peer(p):
    p.terminate()
    out, _ = p.communicate(timeout=10)
    # SIGTERM is how it ends; anything else (a sanitizer's exit) is a failure.
    check("tsig_peer exited by SIGTERM", p.returncode == -15, f"exit {p.returncode}")
    return out


def kdig(port, key, qtype, tcp=False):
    args = ["kdig", "-p", str(port), "@127.0.0.1", "-y", key, "example.com", qtype, "+retry=0"]
    r = subprocess.run(args + (["+tcp"] if tcp else []), capture_output=True, text=True,
                       timeout=20)
    return r.stdout + r.stderr


def dig(port, key, qtype):
    args = ["dig", "-p", str(port), "@127.0.0.1", "-y", key, "example.com", qtype, "+tries=1"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


def test_server(peer):
    p, port = start_peer(peer, 0)
    try:
        for alg, secret in KEYS.items():
            key = f"{alg}:{alg}.key:{secret}"
            out = kdig(port, key, "SOA")
            check(f"kdig verifies a {alg} answer", "status: NOERROR" in out and "WARNING" not in out
                  and f"{alg}. " in out, out)
            out = kdig(port, key, "AXFR", tcp=True)
            check(f"kdig reads a {alg} AXFR of 5 signed messages (its first verified)",
                  "5 messages" in out and "WARNING" not in out and out.count("TSIG") == 5, out)
            out = dig(port, key, "SOA")
            check(f"dig verifies a {alg} answer", "status: NOERROR" in out
                  and "WARNING -- Some TSIG" not in out and "TSIG PSEUDOSECTION" in out, out)
            out = dig(port, key, "AXFR")
            check(f"dig verifies a {alg} AXFR", "XFR size: 5 records (messages 5" in out
                  and "WARNING" not in out.replace("WARNING: recursion", ""), out)
        out = kdig(port, "hmac-sha256:unknown.key:" + OTHER, "SOA")
        check("an unknown key gets BADKEY, unsigned", "status: BADKEY" in out
              and " 300 0 " in out, out)
        out = kdig(port, "hmac-sha256:hmac-sha256.key:" + OTHER, "SOA")
        check("a wrong secret gets BADSIG, unsigned", "status: BADSIG" in out
              and " 300 0 " in out, out)
        out = kdig(port, "hmac-sha512:hmac-sha256.key:" + KEYS["hmac-sha512"], "SOA")
        check("another algorithm gets BADKEY", "status: BADKEY" in out, out)
    finally:
        log = stop_peer(p)
    checks = [line for line in log.splitlines() if line.startswith("check")]
    check("the server's checks: 20 good, then BADKEY, BADSIG, BADKEY",
          checks == ["check 0"] * 20 + ["check 17", "check 16", "check 17"], log)
    p, port = start_peer(peer, 1000)
    try:
        out = dig(port, "hmac-sha256:hmac-sha256.key:" + KEYS["hmac-sha256"], "SOA")
        # dig says so only once the BADTIME answer's MAC verified.
        check("dig verifies a BADTIME answer", "clocks are unsynchronized" in out
              and "BADTIME 6" in out, out)
        out = kdig(port, "hmac-sha256:hmac-sha256.key:" + KEYS["hmac-sha256"], "SOA")
        check("kdig reads a BADTIME answer", "status: BADTIME" in out
              and "failed to verify" not in out, out)
    finally:
        stop_peer(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client(peer):
    """AXFR from knotd: 4000 TXT records, so several messages, each one verified."""
    tmp = tempfile.mkdtemp(prefix="pindns-tsig-")
    port = free_port()
    with open(os.path.join(tmp, "example.net.zone"), "w") as f:
        f.write("$ORIGIN example.net.\n$TTL 300\n"
                "@ SOA ns h 1 3600 1800 604800 300\n@ NS ns\nns A 192.0.2.1\n")
        for i in range(4000):
            f.write(f"r{i} TXT \"{'x' * 120} {i}\"\n")
    with open(os.path.join(tmp, "knot.conf"), "w") as f:
        f.write(f"""server:
    listen: 127.0.0.1@{port}
    rundir: {tmp}
database:
    storage: {tmp}
key:
  - id: xfr.key
    algorithm: hmac-sha256
    secret: {KEYS['hmac-sha256']}
acl:
  - id: xfr
    key: xfr.key
    action: transfer
template:
  - id: default
    storage: {tmp}
zone:
  - domain: example.net
    file: example.net.zone
    acl: xfr
log:
  - target: stderr
    any: warning
""")
    knot = subprocess.Popen(["knotd", "-c", os.path.join(tmp, "knot.conf")],
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            r = subprocess.run(["kdig", "-p", str(port), "@127.0.0.1", "example.net", "SOA",
                                "+short", "+retry=0", "+time=1"], capture_output=True, text=True)
            if r.stdout.strip():
                break
            time.sleep(0.1)
        else:
            check("knotd answers", False)
            return
        key = "hmac-sha256:xfr.key:" + KEYS["hmac-sha256"]
        r = subprocess.run([peer, "axfr", str(port), "example.net", key], capture_output=True,
                           text=True, timeout=60)
        words = r.stdout.split()
        check("pd_tsig_verify() verifies Knot's signed AXFR, several messages",
              r.returncode == 0 and len(words) > 4 and int(words[3]) > 3
              and words[-1] == "signed", r.stdout + r.stderr)
        print("  " + r.stdout.strip())
        r = subprocess.run([peer, "axfr", str(port), "example.net",
                            "hmac-sha256:xfr.key:" + OTHER], capture_output=True, text=True,
                           timeout=60)
        check("Knot's refusal of a wrong secret is BADSIG", r.returncode != 0
              and "verify 16" in r.stdout, r.stdout + r.stderr)
    finally:
        knot.terminate()
        knot.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    peer = sys.argv[1]
    for tool in ("kdig", "dig", "knotd"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed")
    test_server(peer)
    test_client(peer)
    if failures:
        print(f"{len(failures)} failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
