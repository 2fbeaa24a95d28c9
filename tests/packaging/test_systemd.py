#!/usr/bin/env python3
"""The .deb under a real systemd: a Debian 12 root booted with systemd-nspawn (sharing the
host's loopback), the suite's package installed in it with apt-get, and checked from the
host with dig and pindns-load: start and status, reload (and a failed one), pindnsctl
upgrade and a package upgrade under load with nothing lost, socket activation, stop and
remove leaving no pindnsd, and the unit's systemd-analyze security exposure against the
README's. Usage: test_systemd.py SOURCE-DIR BUILD-DIR (the suite's, with deb-check/build
holding the package that package.deb built). Needs root; exits 77 where it cannot run.

The root is made once per machine with debootstrap and kept under /var/cache/pindns-test
(one folder per package list); it is always booted with --volatile=overlay, so it stays
as made and each run starts from it."""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
BUILD = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402  (free ports, like every test server of the suite)

CI = os.environ.get("CI") == "true"
SKIPPED = 77
CACHE = os.environ.get("PINDNS_TEST_CACHE", "/var/cache/pindns-test")
SUITE = "bookworm"
# What the booted root needs beyond minbase: an init, and the bus systemctl talks over.
ROOT_PACKAGES = ["systemd", "systemd-sysv", "dbus"]
SHARE = "/srv/pindns-test"  # the host folder with the packages, bound read-only
DEADLINE = time.monotonic() + 540  # below ctest's TIMEOUT, so that cleanup still runs
T0 = time.monotonic()


class Skip(Exception):
    """The test cannot run here; a reason starting "host:" is a fact no script changes."""


class Fail(Exception):
    pass


def log(msg):
    print("[%6.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


def left(cap):
    """A timeout: cap seconds, or what is left before the deadline if less."""
    rest = DEADLINE - time.monotonic()
    if rest <= 1:
        raise Fail("out of time (the whole test is bounded)")
    return min(cap, rest)


def run(argv, timeout=60, check=True, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=left(timeout), **kw)
    if check and r.returncode != 0:
        raise Fail("%s exited %d:\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def wait_for(what, cond, timeout, step=0.1):
    """Polls cond() until it returns something true (returned), failing after timeout."""
    end = time.monotonic() + left(timeout)
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail("timed out after %g s waiting for %s" % (timeout, what))
        time.sleep(step)


# --- the cached root ---------------------------------------------------------------------


def mirror():
    """The Debian mirror this host uses (deb822 or one-line sources), else Debian's own."""
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            m = re.search(r"^URIs:\s*(\S+)", f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    try:
        with open("/etc/apt/sources.list") as f:
            m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+%s\s" % SUITE, f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def package_depends(deb):
    """The names of the packages deb depends on (alternatives and versions dropped)."""
    field = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    return sorted({re.split(r"[\s(|]", d.strip())[0] for d in field.split(",") if d.strip()})


def cached_root(depends):
    """The booted root for this package list, made once with debootstrap: minbase with
    ROOT_PACKAGES installed and the package's dependencies downloaded into apt's cache, so
    that apt-get install ./pindns_*.deb takes them from there (and from the mirror if the
    list changed). Several runs may share it: it is made under a lock, then renamed."""
    key = hashlib.sha256(" ".join([SUITE, ",".join(ROOT_PACKAGES), "|"] + depends)
                         .encode()).hexdigest()[:12]
    os.makedirs(CACHE, exist_ok=True)
    root = os.path.join(CACHE, "%s-%s" % (SUITE, key))
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(root, "made")):
            return os.path.join(root, "root")
        log("making the %s root in %s (once per machine)" % (SUITE, root))
        # Roots of other package lists are of no more use: only one is kept.
        for old in os.listdir(CACHE):
            if old.startswith(SUITE + "-"):
                shutil.rmtree(os.path.join(CACHE, old), ignore_errors=True)
        work = root + ".new"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        target = os.path.join(work, "root")
        r = run(["debootstrap", "--variant=minbase", "--include=" + ",".join(ROOT_PACKAGES),
                 SUITE, target, mirror()], timeout=600, check=False)
        if r.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            raise Fail("debootstrap exited %d:\n%s"
                       % (r.returncode, (r.stdout + r.stderr)[-3000:]))
        # The host's sources (its security suite too), where it has them in deb822 form.
        if os.path.exists("/etc/apt/sources.list.d/debian.sources"):
            shutil.copy("/etc/apt/sources.list.d/debian.sources",
                        os.path.join(target, "etc/apt/sources.list.d/debian.sources"))
            os.unlink(os.path.join(target, "etc/apt/sources.list"))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
               "LANG": "C"}
        # debootstrap leaves the packages it installed in apt's cache: of no more use.
        run(["chroot", target, "apt-get", "clean"], env=env)
        run(["chroot", target, "apt-get", "update", "-qq"], timeout=300, env=env)
        # Those not installed yet, downloaded only: apt-get install of the package must
        # still resolve them itself.
        missing = [d for d in depends if run(
            ["chroot", target, "dpkg-query", "-W", "-f", "${Status}", d], check=False,
            env=env).stdout != "install ok installed"]
        if missing:
            run(["chroot", target, "apt-get", "install", "-y", "-qq", "--download-only",
                 "--no-install-recommends"] + missing, timeout=300, env=env)
        with open(os.path.join(work, "made"), "w") as f:
            f.write("suite %s\npackages %s\ndepends %s\n" % (SUITE, " ".join(ROOT_PACKAGES),
                                                              " ".join(depends)))
        os.rename(work, root)
        return os.path.join(root, "root")


# --- cgroups and the container -----------------------------------------------------------


def mounts():
    """{mount point: file system type} of this process's mount namespace."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ", 1)
            out[a.split()[4]] = b.split()[0]
    return out


class Cgroups:
    """Where the nspawn process goes: a cgroup of its own in every hierarchy systemd uses
    (nspawn with --keep-unit makes its payload's cgroups below its own). A chroot whose
    /sys is a fresh sysfs (../shared/fresh-check.sh) has nothing at /sys/fs/cgroup: a
    cgroup2 hierarchy is mounted there for the test's time."""

    def __init__(self, name):
        self.dirs = []
        self.mounted = False
        self.env = {}
        m = mounts()
        fs = m.get("/sys/fs/cgroup")
        if fs is None:
            os.makedirs("/sys/fs/cgroup", exist_ok=True)
            r = run(["mount", "-n", "-t", "cgroup2", "cgroup2", "/sys/fs/cgroup"], check=False)
            if r.returncode != 0:
                raise Skip("host: nothing is mounted at /sys/fs/cgroup and cgroup2 cannot be "
                           "mounted there: %s" % r.stderr.strip())
            self.mounted = True
            fs = "cgroup2"
        if fs == "cgroup2":
            tops = ["/sys/fs/cgroup"]
            self.env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
        elif m.get("/sys/fs/cgroup/unified") == "cgroup2" and "/sys/fs/cgroup/systemd" in m:
            # Hybrid: the container gets a unified hierarchy, from the host's cgroup2.
            tops = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]
            self.env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
        elif "/sys/fs/cgroup/systemd" in m:
            tops = ["/sys/fs/cgroup/systemd"]
        else:
            self.release()
            raise Skip("host: no cgroup hierarchy systemd can use at /sys/fs/cgroup (%s)" % fs)
        for top in tops:
            d = os.path.join(top, name)
            os.makedirs(d, exist_ok=True)
            self.dirs.append(d)

    def join(self):
        """In the child, before it execs nspawn."""
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    def pids(self):
        out = set()
        for d in self.dirs:
            for top, _, _ in os.walk(d):
                try:
                    with open(os.path.join(top, "cgroup.procs")) as f:
                        out |= {int(p) for p in f.read().split()}
                except OSError:
                    pass
        return out

    def release(self):
        """Kills what is left in them and removes them, deepest first."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)
        for d in self.dirs:
            for top, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(top)
                except OSError:
                    pass
        self.dirs = []
        if self.mounted:
            subprocess.run(["umount", "-n", "/sys/fs/cgroup"], capture_output=True)
            self.mounted = False


def in_own_root():
    """systemd-nspawn first makes / a slave mount, which fails (EINVAL) where / is no mount
    point: in a chroot (../shared/fresh-check.sh runs the suite in one). There the test
    runs itself again in a mount namespace of its own, chrooted into a bind of / (a mount
    point), with every mount private. The bind is made in a private tmpfs, so that where
    the chroot's mounts are shared nothing of it shows outside. Returns the exit status,
    or None where / is a mount point already."""
    if "/" in mounts() or os.environ.get("PINDNS_TEST_OWN_ROOT"):
        return None
    if not shutil.which("unshare"):
        raise Skip("unshare is missing (util-linux)")
    top = tempfile.mkdtemp(prefix="pindns-nspawn-root-")
    script = ('set -e; mount -n -t tmpfs -o mode=0755,size=1m pindns-test "$1"; '
              'mount -n --make-private "$1"; mkdir "$1/root"; mount -n --rbind / "$1/root"; '
              'cd "$1/root"; shift; exec chroot . sh -c \'mount -n --make-rprivate / && '
              'exec "$@"\' sh "$@"')
    env = dict(os.environ, PINDNS_TEST_OWN_ROOT="1")
    log("/ is no mount point (a chroot): running again in a mount namespace of its own")
    inner = None
    try:
        # Bounded by the inner run's own deadline; the namespace ends with it.
        inner = subprocess.Popen(["unshare", "--mount", "--propagation", "unchanged", "sh",
                                  "-c", script, "sh", top, sys.executable,
                                  os.path.abspath(__file__), SRC, BUILD], env=env,
                                 stdin=subprocess.DEVNULL)
        return inner.wait()
    finally:
        # Stopped by a signal: the inner run stops its container before it goes.
        if inner and inner.poll() is None:
            inner.send_signal(signal.SIGTERM)
            try:
                inner.wait(timeout=60)
            except subprocess.TimeoutExpired:
                inner.kill()
                inner.wait()
        os.rmdir(top)


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class Container:
    """A boot of the cached root under systemd-nspawn, with SHARE bound read-only."""

    def __init__(self, root, share, workdir):
        self.name = "pindns-test-%d" % os.getpid()
        self.log_path = os.path.join(workdir, "nspawn.log")
        self.proc = None
        self.init = None
        self.cg = Cgroups(self.name)
        env = dict(os.environ)
        env.update(self.cg.env)
        for v in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(v, None)
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "-D", root, "--volatile=overlay", "--boot",
                 "--register=no", "--keep-unit", "--console=read-only",
                 "--machine=" + self.name, "--bind-ro=%s:%s" % (share, SHARE)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                preexec_fn=self.cg.join)

    def boot(self):
        def init():
            if self.proc.poll() is not None:
                # Not "host:": on this project's machines and in a fresh chroot it boots,
                # so under CI=true this fails rather than pass unseen.
                raise Skip("systemd-nspawn exited %d before the container booted:\n%s"
                           % (self.proc.returncode, self.nspawn_log()))
            kids = [int(p) for p in os.listdir("/proc") if p.isdigit()
                    and ppid_of(int(p)) == self.proc.pid]
            return min(kids) if kids else None
        self.init = wait_for("the container's init", init, 20)

        said = []

        def up():
            if self.proc.poll() is not None:
                raise Fail("systemd-nspawn exited %d while booting:\n%s"
                           % (self.proc.returncode, self.nspawn_log()))
            r = self.sh("systemctl is-system-running", check=False, timeout=5)
            said[:] = [r.stdout + r.stderr]
            return r.stdout.strip() in ("running", "degraded") and r.stdout.strip()
        try:
            state = wait_for("the container to boot", up, 60, step=0.1)
        except Fail as e:
            raise Fail("%s; systemctl is-system-running said: %s\n%s"
                       % (e, said[0] if said else "nothing", self.nspawn_log()))
        if state == "degraded":
            log("booted, degraded: " + self.sh("systemctl --failed --no-legend --plain",
                                               check=False).stdout.strip())

    def nspawn_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def run(self, argv, timeout=60, check=True, **kw):
        """argv run inside, in all the container's namespaces (not in a unit of its), and
        in its root: in a chroot the mount namespace's root is not the container's."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "TERM": "dumb",
               "DEBIAN_FRONTEND": "noninteractive", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
        return run(["nsenter", "-t", str(self.init), "-a", "-r", "-w"] + argv, timeout=timeout,
                   check=check, env=env, **kw)

    def sh(self, script, **kw):
        return self.run(["sh", "-c", script], **kw)

    def stop(self):
        """Powers it off (nspawn turns SIGTERM into a clean shutdown), then kills what is
        left and removes the cgroups."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.cg.release()


# --- what is checked from the host -------------------------------------------------------


def dig(port, name, rtype="A", tcp=False, wait=2):
    """The answer's records as dig prints them (+short), or None when nothing answered."""
    tool = shutil.which("dig") or shutil.which("kdig")
    argv = [tool, "@127.0.0.1", "-p", str(port), "+time=%d" % wait, "+tries=1", "+norec",
            "+short", name, rtype] + (["+tcp"] if tcp else [])
    r = run(argv, timeout=wait + 5, check=False)
    if r.returncode != 0 or ";;" in r.stdout:
        return None
    return r.stdout.split()


def inodes_of(pids):
    out = set()
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if link.startswith("socket:["):
                    out.add(int(link[8:-1]))
        except OSError:
            continue
    return out


class Load:
    """pindns-load from the suite's build folder, sending until finish() (at most 120 s)."""

    def __init__(self, port, queries):
        self.proc = subprocess.Popen(
            [os.path.join(BUILD, "pindns-load"), "-s", "127.0.0.1:%d" % port, "-f", queries,
             "-d", "120", "-W", "0", "-S", "4", "-w", "16", "-t", "2000", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True)
        time.sleep(0.3)  # under way before the change it is to see

    def finish(self, what, changed_until):
        """Stops it (SIGINT: it waits for what is in flight) and checks that it was still
        sending after changed_until (time.monotonic() at the end of the change) and that
        every query it sent was answered."""
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=left(30))
        # The suite's build is a sanitizer build: the harness sends reports to files.
        report = harness.sanitizer_reports(self.proc.pid)
        if report:
            raise Fail("pindns-load during %s: sanitizer report:\n%s" % (what, report))
        if self.proc.returncode != 0:
            raise Fail("pindns-load during %s exited %d: %s%s" % (what, self.proc.returncode,
                                                                  out, err))
        r = json.loads(out)
        if not r["last_sent_mono"] > changed_until:
            raise Fail("the load had stopped before %s was done: %s" % (what, r))
        if r["lost"] or r["sent"] != r["answered"] or r["rcodes"].get("SERVFAIL", 0):
            raise Fail("queries lost during %s: %s" % (what, r))
        log("%s under load: sent %d, answered %d, lost %d" % (what, r["sent"], r["answered"],
                                                                r["lost"]))
        return r

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Test:
    def __init__(self):
        self.container = None
        self.loads = []
        self.work = os.path.join(BUILD, "package-systemd")

    # --- inside ---

    def ctl(self, *args, check=True, timeout=60):
        return self.container.run(["systemctl", "--no-pager"] + list(args), check=check,
                                  timeout=timeout)

    def show(self, unit, *props):
        r = self.ctl("show", "-p", ",".join(props), unit)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def main_pid(self):
        return int(self.show("pindns.service", "MainPID")["MainPID"])

    def pindnsd_pids(self):
        """The container's pindnsd processes (its own pids), each with its cgroup (the
        unified hierarchy's, which is the container's)."""
        r = self.container.sh(
            "for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = pindnsd ] && "
            "echo ${d#/proc/} $(sed -n 's/^0:://p' $d/cgroup 2>/dev/null); done; true")
        return dict((int(line.split()[0]), line.split()[1] if len(line.split()) > 1 else "")
                    for line in r.stdout.splitlines())

    def journal(self):
        r = self.container.run(["journalctl", "--no-pager", "-n", "60", "-u", "pindns.service",
                                "-u", "pindns.socket"], check=False, timeout=20)
        return r.stdout

    def expect_serving(self, port, what):
        """www.example.com answered on port within 10 s, over UDP and TCP."""
        wait_for("an answer on port %d %s" % (port, what),
                 lambda: dig(port, "www.example.com") == ["192.0.2.80"], 10, step=0.2)
        if dig(port, "www.example.com", tcp=True) != ["192.0.2.80"]:
            raise Fail("no answer over TCP on port %d %s" % (port, what))

    def expect_active(self, what, not_pid=None):
        """The unit active and running, its main pid a pindnsd in its cgroup, and every
        pindnsd of the container in that cgroup; not_pid (the one before) gone."""
        def settled():
            s = self.show("pindns.service", "ActiveState", "SubState", "MainPID",
                          "ControlGroup", "StatusText")
            pid = int(s["MainPID"])
            if s["ActiveState"] != "active" or s["SubState"] != "running" or not pid:
                return None
            if not_pid is not None and pid == not_pid:
                return None
            return s
        s = wait_for("pindns.service active with a new main pid " + what, settled, 15)
        pid = int(s["MainPID"])
        procs = wait_for("the old pindnsd to be gone " + what,
                         lambda: (lambda p: p if not_pid not in p else None)(
                             self.pindnsd_pids()), 15)
        if pid not in procs:
            raise Fail("the main pid %d is no pindnsd (%s) %s" % (pid, procs, what))
        stray = {p: cg for p, cg in procs.items() if cg != s["ControlGroup"]}
        if stray:
            raise Fail("pindnsd outside %s %s: %s" % (s["ControlGroup"], what, stray))
        if len(procs) != 1:
            raise Fail("%d pindnsd processes %s, not 1: %s" % (len(procs), what, procs))
        if s["StatusText"] != "serving 2 zone(s)":
            raise Fail("status '%s' %s, not 'serving 2 zone(s)'" % (s["StatusText"], what))
        return pid

    def expect_no_pindnsd(self, what):
        procs = wait_for("no pindnsd left " + what,
                         lambda: not self.pindnsd_pids() and "none", 15)
        return procs

    def stop(self, what, *units):
        """systemctl stop: the service ends as stopped, not failed or killed (a main pid
        that systemd does not supervise as its child gets SIGKILL right after SIGTERM)."""
        self.ctl("stop", *units, timeout=30)
        self.expect_no_pindnsd("after systemctl stop " + " ".join(units))
        s = self.show("pindns.service", "ActiveState", "Result")
        if s != {"ActiveState": "inactive", "Result": "success"}:
            raise Fail("pindns.service after systemctl stop %s: %s\n%s"
                       % (what, s, self.journal()))

    def supervised(self, what):
        """systemd says when the main pid it was given is not its child: it then does not
        wait for it to stop (systemd 252 kills it at once) and may miss its exit."""
        r = self.container.run(["journalctl", "--no-pager", "-u", "pindns.service", "--grep",
                                "which is not our child|reception only permitted"],
                               check=False, timeout=20)
        if r.returncode == 0 and r.stdout.strip():
            raise Fail("after %s systemd supervises a main pid that is not its child, or "
                       "refused a notification (systemd 252 then kills the main pid right "
                       "after SIGTERM on stop: the successor must already be PID 1's child "
                       "when it is named with MAINPID=):\n%s" % (what, r.stdout))

    def version_of(self, pid):
        """What the binary a process runs says with --version (its /proc/PID/exe)."""
        return self.container.run(["/proc/%d/exe" % pid, "--version"]).stdout.strip()

    # --- the steps ---

    def setup(self):
        if os.geteuid() != 0:
            raise Skip("needs root (debootstrap, systemd-nspawn, cgroups)")
        for tool in ("systemd-nspawn", "debootstrap", "nsenter", "dpkg-deb", "chroot"):
            if not shutil.which(tool):
                raise Skip("%s is missing (packaging/deps.sh test installs what the tests "
                           "use)" % tool)
        if not (shutil.which("dig") or shutil.which("kdig")):
            raise Skip("dig and kdig are missing (packaging/deps.sh test installs dnsutils)")
        debdir = os.path.join(BUILD, "deb-check", "build")
        debs = [f for f in os.listdir(debdir) if re.match(r"pindns_.*\.deb$", f)] \
            if os.path.isdir(debdir) else []
        if len(debs) != 1:
            raise Fail("no single package in %s (package.deb builds it): %s" % (debdir, debs))
        self.deb = os.path.join(debdir, debs[0])
        if not os.access(os.path.join(BUILD, "pindns-load"), os.X_OK):
            raise Fail("no pindns-load in " + BUILD)
        shutil.rmtree(self.work, ignore_errors=True)
        share = os.path.join(self.work, "share")
        os.makedirs(share)
        os.chmod(self.work, 0o755)
        os.chmod(share, 0o755)

        # The version-bumped package of the same tree, to upgrade to.
        self.old_version = run(["dpkg-deb", "-f", self.deb, "Version"]).stdout.strip()
        m = re.match(r"^(.*?)(\d+)$", self.old_version)
        self.new_version = (m.group(1) + str(int(m.group(2)) + 1)) if m \
            else self.old_version + "+1"
        log("building the package of version %s" % self.new_version)
        env = dict(os.environ, PINDNS_VERSION=self.new_version)
        r = run([os.path.join(SRC, "packaging", "deb.sh"), os.path.join(self.work, "bumped")],
                timeout=300, env=env, check=False)
        if r.returncode != 0:
            raise Fail("PINDNS_VERSION=%s packaging/deb.sh exited %d:\n%s"
                       % (self.new_version, r.returncode, r.stderr[-3000:]))
        self.new_deb = r.stdout.strip()
        for d in (self.deb, self.new_deb):
            shutil.copy(d, share)
            os.chmod(os.path.join(share, os.path.basename(d)), 0o644)
        self.queries = os.path.join(self.work, "queries")
        with open(self.queries, "w") as f:
            f.write("www.example.com A\nexample.com MX\nftp.example.com A\n"
                    "nothing.example.com A\nwww.example.org A\nx.apps.example.com TXT\n")

        root = cached_root(package_depends(self.deb))
        log("booting %s" % root)
        self.container = Container(root, share, self.work)
        self.container.boot()
        log("booted")

    def install(self):
        c = self.container
        r = c.run(["apt-get", "install", "-y", "--no-install-recommends",
                   "%s/%s" % (SHARE, os.path.basename(self.deb))], timeout=180)
        log("installed %s" % os.path.basename(self.deb))
        # A fresh install starts nothing and enables nothing.
        for unit in ("pindns.service", "pindns.socket"):
            s = self.show(unit, "ActiveState", "UnitFileState")
            if s != {"ActiveState": "inactive", "UnitFileState": "disabled"}:
                raise Fail("%s after a fresh install: %s\n%s" % (unit, s, r.stdout))
        if self.pindnsd_pids():
            raise Fail("a pindnsd runs after a fresh install")
        # Loopback high ports of the shared network: one for the service, one for the
        # socket unit (set by a drop-in, as an administrator would).
        self.port = harness.free_port()
        self.sock_port = harness.free_port()
        while self.sock_port == self.port:
            self.sock_port = harness.free_port()
        c.sh("sed -i '/^listen:/d' /etc/pindns/pindns.conf && "
             "echo 'listen: 127.0.0.1:%d' >>/etc/pindns/pindns.conf && "
             "mkdir -p /etc/systemd/system/pindns.socket.d && "
             "printf '[Socket]\\nListenDatagram=\\nListenStream=\\n"
             "ListenDatagram=127.0.0.1:%d\\nListenStream=127.0.0.1:%d\\n' "
             ">/etc/systemd/system/pindns.socket.d/test.conf && "
             "systemctl daemon-reload" % (self.port, self.sock_port, self.sock_port))

    def start(self):
        r = self.ctl("start", "pindns.service", check=False, timeout=30)
        if r.returncode != 0:
            raise Fail("systemctl start pindns exited %d: %s\n%s" % (r.returncode, r.stderr,
                                                                     self.journal()))
        pid = self.expect_active("after systemctl start")
        st = self.ctl("status", "pindns.service").stdout
        for want in ("Active: active (running)", 'Status: "serving 2 zone(s)"'):
            if want not in st:
                raise Fail("systemctl status lacks '%s':\n%s" % (want, st))
        self.expect_serving(self.port, "after systemctl start")
        foreign = harness._bound_inodes(self.port) - inodes_of(self.container.cg.pids())
        if foreign:
            raise Fail("port %d is shared with %d socket(s) of processes outside the "
                       "container" % (self.port, len(foreign)))
        log("started: pid %d, status and dig fine" % pid)
        self.ctl("restart", "pindns.service", timeout=30)
        pid = self.expect_active("after systemctl restart", not_pid=pid)
        self.expect_serving(self.port, "after systemctl restart")
        log("restarted: pid %d" % pid)

    def reload(self):
        c = self.container
        zone = "/var/lib/pindns/zones/example.org.zone"
        if dig(self.port, "reload-check.example.org") != []:
            raise Fail("reload-check.example.org answered before it was added")
        c.sh("cp %s /root/example.org.zone && sed -i 's/2026112301/2026112302/' %s && "
             "echo 'reload-check IN A 192.0.2.77' >>%s" % (zone, zone, zone))
        r = self.ctl("reload", "pindns.service", check=False, timeout=30)
        if r.returncode != 0:
            raise Fail("systemctl reload exited %d: %s\n%s" % (r.returncode, r.stderr,
                                                               self.journal()))
        if dig(self.port, "reload-check.example.org") != ["192.0.2.77"]:
            raise Fail("the changed zone is not served after systemctl reload")
        log("reload: the changed zone is served")
        c.sh("echo 'broken ((( IN' >>%s" % zone)
        pid = self.main_pid()
        r = self.ctl("reload", "pindns.service", check=False, timeout=30)
        if r.returncode == 0:
            raise Fail("systemctl reload succeeded with a broken zone:\n" + self.journal())
        if dig(self.port, "reload-check.example.org") != ["192.0.2.77"]:
            raise Fail("the zone's old data is not served after a failed reload")
        if self.expect_active("after a failed reload") != pid:
            raise Fail("the main pid changed in a failed reload")
        log("reload of a broken zone: systemctl reload exited %d, old data served"
            % r.returncode)
        # Back as it was, with the record: successors load every zone.
        c.sh("sed -i '/^broken/d' %s" % zone)
        self.ctl("reload", "pindns.service", timeout=30)

    def upgrade(self, port, what, argv):
        """argv (run inside) replaces the running pindnsd under load: nothing lost, the
        unit active throughout with the successor as its main pid. Returns it and the
        command's output."""
        old = self.expect_active("before " + what)
        load = Load(port, self.queries)
        self.loads.append(load)
        r = self.container.run(argv, check=False, timeout=180)
        if r.returncode != 0:
            raise Fail("%s exited %d:\n%s%s\n%s" % (" ".join(argv), r.returncode, r.stdout,
                                                    r.stderr, self.journal()))
        pid = self.expect_active("after " + what, not_pid=old)
        changed = time.monotonic()
        load.finish(what, changed)
        self.expect_serving(port, "after " + what)
        self.supervised(what)
        log("%s: pid %d -> pid %d, unit active" % (what, old, pid))
        return pid, r.stdout + r.stderr

    def upgrades(self):
        self.upgrade(self.port, "pindnsctl upgrade", ["pindnsctl", "upgrade"])
        pid, out = self.upgrade(
            self.port, "the package upgrade",
            ["apt-get", "install", "-y", "--no-install-recommends", "-o",
             "Dpkg::Options::=--force-confold",
             "%s/%s" % (SHARE, os.path.basename(self.new_deb))])
        if "upgrade done" not in out:
            raise Fail("apt-get install of the new package did not say it upgraded:\n" + out)
        v = self.version_of(pid)
        if v != "pindnsd " + self.new_version:
            raise Fail("the running pindnsd says '%s', not pindnsd %s" % (v, self.new_version))
        if self.show("pindns.service", "NeedDaemonReload")["NeedDaemonReload"] != "no":
            raise Fail("systemd was not told of the new package's units")
        # The zones are the admin's: the record added to example.org before is still there.
        if dig(self.port, "reload-check.example.org") != ["192.0.2.77"]:
            raise Fail("the package upgrade undid a change to a zone in /var/lib/pindns/zones")
        log("running: %s, with the zones as changed before" % v)
        # A new pindnsd that cannot load its zones: the old one serves on, and apt says so
        # and what to do, without failing (a reinstall upgrades as an upgrade does).
        zone = "/var/lib/pindns/zones/example.com.zone"
        self.container.sh("cp %s /root/example.com.zone && echo 'broken ((( IN' >>%s"
                          % (zone, zone))
        r = self.container.run(["apt-get", "install", "-y", "--reinstall", "-o",
                                "Dpkg::Options::=--force-confold",
                                "%s/%s" % (SHARE, os.path.basename(self.new_deb))],
                               check=False, timeout=180)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            raise Fail("apt-get install failed with the upgrade (exit %d):\n%s"
                       % (r.returncode, out))
        # (apt-get passes the scripts' stderr on with their stdout.)
        for want in ("was not upgraded", "example.com", "run 'pindnsctl upgrade'"):
            if want not in out:
                raise Fail("apt-get did not say '%s' after a failed upgrade:\n%s"
                           % (want, out))
        if self.expect_active("after a failed upgrade") != pid:
            raise Fail("the main pid changed in a failed upgrade")
        self.expect_serving(self.port, "after a failed upgrade")
        self.container.sh("cp /root/example.com.zone %s" % zone)
        log("a package upgrade whose pindnsd cannot load a zone: the old one serves on, "
            "apt-get exited 0 and said so")

    def socket_activation(self):
        self.stop("after the upgrades", "pindns.service")
        log("stop after the upgrades: clean")
        self.ctl("start", "pindns.socket", timeout=30)
        if self.show("pindns.service", "ActiveState")["ActiveState"] != "inactive":
            raise Fail("pindns.service started with pindns.socket, before any query")
        if dig(self.sock_port, "www.example.com", wait=5) != ["192.0.2.80"]:
            raise Fail("the first query to pindns.socket was not answered:\n" + self.journal())
        self.expect_active("after the first query to pindns.socket")
        self.expect_serving(self.sock_port, "by socket activation")
        log("socket activation: the first query started pindns.service and was answered")
        self.upgrade(self.sock_port, "pindnsctl upgrade of a socket-activated pindnsd",
                     ["pindnsctl", "upgrade"])

    def stop_and_remove(self):
        self.stop("after an upgrade of a socket-activated pindnsd", "pindns.service",
                  "pindns.socket")
        if self.show("pindns.socket", "ActiveState")["ActiveState"] != "inactive":
            raise Fail("pindns.socket still active after systemctl stop")
        if dig(self.sock_port, "www.example.com", wait=1) is not None:
            raise Fail("port %d still answers after stop" % self.sock_port)
        log("stop: no pindnsd left")
        # Removal stops what runs, the socket with it.
        self.ctl("start", "pindns.socket", "pindns.service", timeout=30)
        self.expect_active("before apt-get remove")
        self.container.run(["apt-get", "remove", "-y", "pindns"], timeout=120)
        self.expect_no_pindnsd("after apt-get remove pindns")
        if self.show("pindns.socket", "ActiveState")["ActiveState"] != "inactive":
            raise Fail("pindns.socket still active after apt-get remove pindns")
        log("remove: stopped the service and the socket")

    def security(self):
        r = self.container.run(["systemd-analyze", "security", "--no-pager", "pindns.service"],
                               check=False, timeout=60)
        m = re.search(r"Overall exposure level for pindns\.service: (\d+\.\d+) (\S+)", r.stdout)
        if not m:
            raise Fail("systemd-analyze security said:\n%s%s" % (r.stdout, r.stderr))
        with open(os.path.join(SRC, "README.md")) as f:
            doc = re.search(r"`systemd-analyze security pindns\.service`\s+rates\s+the\s+"
                            r"unit\s+(\d+\.\d+)", f.read())
        if not doc:
            raise Fail("the README does not give the unit's exposure (\"`systemd-analyze "
                       "security pindns.service` rates the unit N.N\")")
        if float(m.group(1)) > float(doc.group(1)):
            raise Fail("the unit's exposure is %s %s, worse than the README's %s:\n%s"
                       % (m.group(1), m.group(2), doc.group(1), r.stdout))
        log("systemd-analyze security: %s %s (README: %s)" % (m.group(1), m.group(2),
                                                             doc.group(1)))

    def cleanup(self):
        for load in self.loads:
            load.kill()
        if self.container:
            self.container.stop()
            log("container stopped")


def main():
    if not SRC or not BUILD:
        print("usage: test_systemd.py SOURCE-DIR BUILD-DIR")
        return 2
    # A signal ends the test through the finally below: the container never outlives it.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    t = Test()
    try:
        if os.geteuid() == 0:
            rc = in_own_root()
            if rc is not None:
                return rc
        t.setup()
        t.install()
        t.start()
        t.reload()
        t.upgrades()
        t.socket_activation()
        t.security()
        t.stop_and_remove()
    except Skip as e:
        why = str(e)
        if CI and not why.startswith("host:"):
            print("FAIL: %s (under CI=true this test must run)" % why)
            return 1
        print("SKIP: " + why)
        return SKIPPED
    except (Fail, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        if t.container and t.container.init:
            print("--- journal of pindns\n" + t.journal())
        return 1
    finally:
        t.cleanup()
    print("systemd checks: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
