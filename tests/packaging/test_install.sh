#!/bin/sh
# Runs the packaged pindnsd as on a host without systemd (no /run/pindns) and checks
# pindnsctl and a takeover. Usage: test_install.sh DEB-OR-FOLDER-WITH-ONE
set -eu

skip() {
	if [ "${CI-}" = true ]; then
		echo "FAIL: $* (under CI=true this test must run)"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	for log in "${tmp:-/nonexistent}"/*.log; do
		if [ -f "$log" ]; then
			sed "s|^|  $(basename "$log"): |" "$log"
		fi
	done
	exit 1
}

deb=${1:?usage: test_install.sh DEB-OR-FOLDER}
# The integration harness (ports, sockets on them), beside this folder in the source tree.
integration=$(cd "$(dirname "$0")/../integration" && pwd)
[ -f "$integration/harness.py" ] || { echo "FAIL: no harness.py in $integration"; exit 1; }
[ -d "$deb" ] && deb=$(ls "$deb"/pindns_*.deb)
[ -f "$deb" ] || { echo "FAIL: no package at $deb"; exit 1; }

# Run as the package runs: root, then the pindns user; in a mount namespace of our own,
# so that the tmpfs put over /run below hides the host's /run from this test only.
if [ -z "${PINDNS_TEST_IN_NS-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root, to start pindnsd as the package does"
	getent passwd pindns >/dev/null ||
		skip "no user pindns: packaging/deps.sh, run as root, creates it"
	for tool in dig unshare dpkg-deb python3 timeout; do
		command -v "$tool" >/dev/null 2>&1 ||
			skip "$tool is missing (packaging/deps.sh test installs what the tests use)"
	done
	# In a chroot (as in ../shared/fresh-check.sh) / is no mount point and unshare cannot
	# make it private; there the mounts are checked below not to propagate anywhere.
	propagation=private
	if ! unshare --mount --propagation private true 2>/dev/null; then
		propagation=unchanged
		unshare --mount --propagation unchanged true 2>/dev/null ||
			skip "cannot make a mount namespace (unshare --mount)"
	fi
	PINDNS_TEST_IN_NS=$propagation
	export PINDNS_TEST_IN_NS
	exec unshare --mount --propagation "$propagation" sh "$0" "$deb"
fi
# A mount under a shared mount would show on the host too: never make one there.
if [ "$PINDNS_TEST_IN_NS" = unchanged ] && grep -q ' shared:' /proc/self/mountinfo; then
	fail "in a chroot with shared mounts: a tmpfs on /run here would reach the host"
fi

tmp=$(mktemp -d /tmp/pindns-install-XXXXXX)
chmod 755 "$tmp" # the service user reads its zones from here, as from /var/lib/pindns
servers=""
cleanup() {
	# Each pindnsd runs under timeout(1), which passes TERM on and kills it after 5 s more.
	for p in $servers; do
		kill -s TERM "$p" 2>/dev/null || true
	done
	for p in $servers; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Without systemd nothing makes /run/pindns: a /run of our own that lacks it.
# -n: no entry in /run/mount/utab, which libmount would make in the host's /run first.
mount -n -t tmpfs -o mode=0755,size=8m pindns-test-run /run
[ ! -e /run/pindns ] || fail "/run/pindns exists in the fresh /run"

root=$tmp/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$tmp/control"
conf=$root/etc/pindns/pindns.conf
# The shipped configuration is used as it is; the test only must serve its own zones
# folder on a loopback high port, and stay in the foreground (as the unit runs it).
grep -qx 'control-socket: /run/pindns/control.sock' "$conf" || fail "shipped control-socket"
grep -qx 'handoff-socket: /run/pindns/handoff.sock' "$conf" || fail "shipped handoff-socket"
grep -qx 'user: pindns' "$conf" || fail "shipped user"

# The postinst, with stubs first on PATH that only log: on a host without systemd it must
# only look the user up (it exists), and create it with useradd when it is missing. With
# DPKG_ROOT (dpkg --root) at the unpacked root, a first install copies the example zones
# into its /var/lib/pindns/zones, and an upgrade copies nothing (they are the admin's).
DPKG_ROOT=$root
export DPKG_ROOT
mkdir "$tmp/stubs"
for tool in useradd systemctl systemd-sysusers; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$tool" "$tmp/stubs.calls" >"$tmp/stubs/$tool"
done
printf '#!/bin/sh\nexit 2\n' >"$tmp/no-user-getent"
chmod 755 "$tmp/stubs"/* "$tmp/no-user-getent"
: >"$tmp/stubs.calls"
PATH="$tmp/stubs:$PATH" sh "$tmp/control/postinst" configure ||
	fail "postinst configure exited $?"
[ ! -s "$tmp/stubs.calls" ] || fail "postinst ran $(cat "$tmp/stubs.calls") though pindns exists"
# The state folder (transferred zones), which pindnsd writes as the pindns user.
[ "$(stat -c '%U:%G %a' "$root/var/lib/pindns/state" 2>&1)" = "root:pindns 770" ] ||
	fail "postinst made no state folder root:pindns 0770: $(ls -ld "$root/var/lib/pindns/state" 2>&1)"
mkdir "$tmp/stubs-no-user"
cp "$tmp/stubs"/* "$tmp/stubs-no-user/"
cp "$tmp/no-user-getent" "$tmp/stubs-no-user/getent"
PATH="$tmp/stubs-no-user:$PATH" sh "$tmp/control/postinst" configure ||
	fail "postinst configure (no user) exited $?"
want="useradd --system --no-create-home --home-dir /nonexistent"
want="$want --shell /usr/sbin/nologin pindns"
[ "$(cat "$tmp/stubs.calls")" = "$want" ] ||
	fail "postinst without the user ran: $(cat "$tmp/stubs.calls")"
[ ! -e /run/pindns ] || fail "postinst made /run/pindns"
for z in example.com example.org; do
	cmp -s "$root/usr/share/pindns/zones/$z.zone" "$root/var/lib/pindns/zones/$z.zone" ||
		fail "postinst configure did not copy $z.zone into /var/lib/pindns/zones"
done
rm "$root/var/lib/pindns/zones/example.org.zone"
echo "; the admin's" >>"$root/var/lib/pindns/zones/example.com.zone"
: >"$tmp/stubs.calls"
PATH="$tmp/stubs:$PATH" sh "$tmp/control/postinst" configure 0.0.9 ||
	fail "postinst configure 0.0.9 (an upgrade) exited $?"
[ ! -e "$root/var/lib/pindns/zones/example.org.zone" ] ||
	fail "an upgrade put back an example zone the admin had removed"
tail -n 1 "$root/var/lib/pindns/zones/example.com.zone" | grep -qx "; the admin's" ||
	fail "an upgrade overwrote a zone the admin had changed"
cp "$root/usr/share/pindns/zones/example.org.zone" "$root/var/lib/pindns/zones/"
# An upgrade from a package that owned the zones in /var/lib/pindns/zones: dpkg removes
# them as files the new one lacks, between the preinst (which keeps a copy) and the
# postinst (which puts them back).
printf '#!/bin/sh\n[ "$*" = "-L pindns" ] || exit 1\necho /var/lib/pindns/zones\n' \
	>"$tmp/stubs/dpkg-query"
printf 'echo /var/lib/pindns/zones/example.%s.zone\n' com org >>"$tmp/stubs/dpkg-query"
chmod 755 "$tmp/stubs/dpkg-query"
PATH="$tmp/stubs:$PATH" sh "$tmp/control/preinst" upgrade 0.0.9 ||
	fail "preinst upgrade 0.0.9 exited $?"
rm "$root/var/lib/pindns/zones/example.com.zone" "$root/var/lib/pindns/zones/example.org.zone"
PATH="$tmp/stubs:$PATH" sh "$tmp/control/postinst" configure 0.0.9 ||
	fail "postinst configure 0.0.9 after the old package's zones went exited $?"
tail -n 1 "$root/var/lib/pindns/zones/example.com.zone" | grep -qx "; the admin's" ||
	fail "the zones an older package owned were not put back after its upgrade"
cmp -s "$root/usr/share/pindns/zones/example.org.zone" \
	"$root/var/lib/pindns/zones/example.org.zone" ||
	fail "example.org.zone, owned by an older package, was not put back after its upgrade"
[ ! -e "$root/var/lib/pindns/upgrade-zones" ] || fail "the preinst's copies are left"
unset DPKG_ROOT

# The ports of the integration tests: below the ephemeral range (dig's source ports are
# there), free for UDP and TCP now. Importing the harness makes a temporary folder of its
# own, which it removes at exit.
free_port() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import harness
print(harness.free_port())' "$integration"
}
# foreign GROUP: how many sockets on $port the process group GROUP does not hold. Another
# server in the same SO_REUSEPORT group would get part of the queries (harness.py).
foreign() {
	python3 -c 'import sys, types; sys.path.insert(0, sys.argv[1]); import harness
port, group = int(sys.argv[2]), int(sys.argv[3])
srv = types.SimpleNamespace(port=port, proc=types.SimpleNamespace(pid=group))
print(len(harness.foreign_sockets(srv)))' "$integration" "$port" "$1"
}

# start NAME [ARGS]: pindnsd with the shipped configuration; sets $server (timeout's pid,
# which leads a process group of its own with the pindnsd it runs).
start() {
	name=$1
	shift
	env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES \
		timeout -k 5 120 "$root/usr/sbin/pindnsd" --foreground --config "$conf" \
		--zones "$root/var/lib/pindns/zones" --listen "127.0.0.1:$port" "$@" \
		>"$tmp/$name.log" 2>&1 &
	server=$!
	servers="$servers $server"
}
# gone PID: the process has exited (a zombie counts: it is ours to wait for).
gone() {
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
	[ -z "$state" ] || [ "$state" = Z ]
}
# pindnsd_of PID: the pindnsd that timeout PID runs, its child (from /proc: no procps).
pindnsd_of() {
	for stat in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$stat" || continue # gone meanwhile
		rest=${line##*) } # after the command name, which may hold anything
		ppid=${rest#* }
		if [ "${ppid%% *}" = "$1" ]; then
			pid=${stat#/proc/}
			echo "${pid%/stat}"
		fi
	done
}
# wait_exit PID SECONDS: waits for it to end and sets $code to its exit status.
wait_exit() {
	i=0
	while ! gone "$1"; do
		i=$((i + 1))
		[ "$i" -le $(($2 * 10)) ] || fail "pid $1 still runs after $2 s"
		sleep 0.1
	done
	code=0
	wait "$1" || code=$?
	servers=$(echo " $servers " | sed "s/ $1 / /") # waited for: its pid may be reused
}
answer() {
	dig @127.0.0.1 -p "$port" +time=1 +tries=1 +norec +noall +answer www.example.com A \
		2>&1 || true
}
# serving WHO: www.example.com is answered within 10 s; fails (returns 1) if WHO exited.
serving() {
	i=0
	want='^www\.example\.com\..*IN[[:space:]]*A[[:space:]]*192\.0\.2\.80$'
	until answer | grep -q "$want"; do
		! gone "$1" || return 1
		i=$((i + 1))
		[ "$i" -le 20 ] || fail "no answer to www.example.com on port $port"
		sleep 0.5
	done
}
ctl() {
	timeout 10 "$root/usr/bin/pindnsctl" "$@"
}

# As the harness does: a port another process took first (the bind fails), or shares
# with us (another SO_REUSEPORT server), means another try on another port.
try=1
while :; do
	port=$(free_port) || fail "the harness found no free port"
	start first
	first=$server
	if serving "$first"; then
		others=$(foreign "$first") || fail "cannot list the sockets on port $port"
		[ "$others" -ne 0 ] || break
		why="$others socket(s) of another process on port $port"
		kill -s TERM "$first"
		wait_exit "$first" 20
	else
		wait_exit "$first" 5
		grep -q 'Address already in use' "$tmp/first.log" ||
			fail "pindnsd exited $code before it served"
		why="port $port was taken"
	fi
	[ "$try" -lt 5 ] || fail "$why, after $try tries"
	echo "try $try: $why; another port"
	mv "$tmp/first.log" "$tmp/first-$try.log"
	try=$((try + 1))
done
first_pid=$(pindnsd_of "$first")
[ -n "$first_pid" ] || fail "no pindnsd under timeout $first"
# pindnsd made the folder as root and gave it to the service user.
group=$(id -gn pindns)
[ -d /run/pindns ] || fail "pindnsd did not make /run/pindns"
[ "$(stat -c '%U %G %a' /run/pindns)" = "pindns $group 755" ] ||
	fail "/run/pindns is $(stat -c '%U %G %a' /run/pindns), not pindns $group 755"
for s in control handoff; do
	[ -S "/run/pindns/$s.sock" ] || fail "no /run/pindns/$s.sock"
	[ "$(stat -c '%U %a' "/run/pindns/$s.sock")" = "pindns 600" ] ||
		fail "/run/pindns/$s.sock is $(stat -c '%U %a' "/run/pindns/$s.sock")"
done
! grep -q 'will not' "$tmp/first.log" || fail "pindnsd could not make its sockets"
grep -q 'running as pindns' "$tmp/first.log" || fail "pindnsd did not become pindns"
out=$(ctl status) || fail "pindnsctl status exited $?: $out"
case "$out" in
"running: pid $first_pid,"*) ;;
*) fail "pindnsctl status said '$out', not pid $first_pid" ;;
esac

# A takeover through the shipped handoff socket, as an upgrade does it.
start second --takeover /run/pindns/handoff.sock
second=$server
wait_exit "$first" 20
[ "$code" -eq 0 ] || fail "the first pindnsd exited $code after the takeover"
serving "$second" || fail "the second pindnsd exited before it served"
second_pid=$(pindnsd_of "$second")
grep -q 'took over the sockets' "$tmp/second.log" || fail "no takeover in the log"
out=$(ctl status) || fail "pindnsctl status after the takeover exited $?: $out"
case "$out" in
"running: pid $second_pid,"*) ;;
*) fail "pindnsctl status after the takeover said '$out', not pid $second_pid" ;;
esac
[ "$(stat -c '%U %a' /run/pindns)" = "pindns 755" ] || fail "the takeover changed /run/pindns"

out=$(ctl stop) || fail "pindnsctl stop exited $?: $out"
wait_exit "$second" 20
[ "$code" -eq 0 ] || fail "the second pindnsd exited $code after pindnsctl stop"
# The folder is the service user's, so the daemon, no longer root, removed its sockets.
if [ -e /run/pindns/control.sock ] || [ -e /run/pindns/handoff.sock ]; then
	fail "the sockets are left in /run/pindns: $(ls /run/pindns)"
fi
echo "install checks: 1 passed, 0 failed"
