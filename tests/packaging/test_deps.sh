#!/bin/sh
# Tests packaging/deps.sh (path in $1) with stub apt-get, apt-cache, dpkg-query, useradd, id,
# getent.
# The checks are strings for eval, so $ in single quotes is meant (SC2016); so is SC2034.
# shellcheck disable=SC2016,SC2034
set -eu

deps=${1:?usage: test_deps.sh PATH/TO/deps.sh}
# A deps.sh that ignores PINDNS_POLICY_RC_D would create and remove the real
# /usr/sbin/policy-rc.d while being tested; do not run it.
if ! grep -q PINDNS_POLICY_RC_D "$deps"; then
	echo "FAIL: $deps does not take PINDNS_POLICY_RC_D; testing it would touch /usr/sbin/policy-rc.d"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The stubs log to $STUB_LOG. dpkg-query says a package is installed (at version
# $STUB_VERSION, default 252.38-1~deb12u1) unless it is in $STUB_MISSING; apt-cache show
# finds PACKAGE=VERSION when it is in $STUB_MIRROR (default: everything); id -u answers
# $STUB_UID; getent knows pindns when $STUB_USER is 1.
bin=$tmp/bin
mkdir "$bin"
cat >"$bin/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$STUB_LOG"
# Would a package's maintainer script be allowed to start its service now?
if [ -x "$PINDNS_POLICY_RC_D" ]; then
	rc=0
	"$PINDNS_POLICY_RC_D" nsd start || rc=$?
	echo "policy-rc.d says $rc" >>"$STUB_LOG"
else
	echo "policy-rc.d missing" >>"$STUB_LOG"
fi
if [ "$1" = install ]; then
	if [ -n "${STUB_APT_SIGNAL-}" ]; then
		kill -s "$STUB_APT_SIGNAL" "$PPID"
	fi
	exit "${STUB_APT_RC:-0}"
fi
EOF
cat >"$bin/dpkg-query" <<'EOF'
#!/bin/sh
fmt=""
for p; do
	case "$p" in
	-f=*) fmt=${p#-f=} ;;
	esac
done
case " $STUB_MISSING " in
*" $p "*) echo "dpkg-query: no packages found matching $p" >&2; exit 1 ;;
esac
case "$fmt" in
*Version*) printf 'install ok installed %s' "${STUB_VERSION:-252.38-1~deb12u1}" ;;
*) echo "install ok installed" ;;
esac
EOF
cat >"$bin/apt-cache" <<'EOF'
#!/bin/sh
echo "apt-cache $*" >>"$STUB_LOG"
[ "$1" = show ] || exit 100
case " ${STUB_MIRROR-$2} " in
*" $2 "*) echo "Package: ${2%%=*}" ;;
*) echo "E: Version '${2#*=}' for '${2%%=*}' was not found" >&2; exit 100 ;;
esac
EOF
cat >"$bin/id" <<'EOF'
#!/bin/sh
[ "$*" = "-u" ] || { echo "stub id: unexpected arguments: $*" >&2; exit 1; }
echo "$STUB_UID"
EOF
cat >"$bin/getent" <<'EOF'
#!/bin/sh
echo "getent $*" >>"$STUB_LOG"
[ "$*" = "passwd pindns" ] && [ "$STUB_USER" = 1 ] || exit 2
echo "pindns:x:999:995::/nonexistent:/usr/sbin/nologin"
EOF
cat >"$bin/useradd" <<'EOF'
#!/bin/sh
echo "useradd $*" >>"$STUB_LOG"
EOF
# Not to be tested, but deps.sh runs it after installing nsd on a systemd host.
cat >"$bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
EOF
chmod 755 "$bin"/*

passed=0
failed=0
bad=""
check() {
	if ! eval "$1"; then
		echo "FAIL: $name: $2"
		bad=1
	fi
}
# Lines of the stub log that start with $1, in order.
logged() {
	grep "^$1" "$dir/log" || true
}

# run NAME MODE UID USER-EXISTS POLICY MISSING: POLICY is "none" or "site" (a
# pre-existing policy-rc.d, mode 0750). Leaves $rc, $dir/out, $dir/err and $dir/log.
run() {
	name=$1
	dir=$tmp/case$((passed + failed))
	mkdir "$dir"
	: >"$dir/log"
	if [ "$5" = site ]; then
		printf '#!/bin/sh\n# the site policy of this test\nexit 101\n' >"$dir/policy-rc.d"
		chmod 750 "$dir/policy-rc.d"
		cp -p "$dir/policy-rc.d" "$dir/policy-rc.d.orig"
		stat -c '%a %i %s %Y' "$dir/policy-rc.d" >"$dir/policy.stat"
	fi
	rc=0
	PATH="$bin:$PATH" STUB_LOG="$dir/log" STUB_UID=$3 STUB_USER=$4 STUB_MISSING=$6 \
		PINDNS_POLICY_RC_D="$dir/policy-rc.d" sh "$deps" "$2" >"$dir/out" 2>"$dir/err" ||
		rc=$?
	bad=""
}
done_case() {
	if [ -n "$bad" ]; then
		failed=$((failed + 1))
		for f in out err log; do
			sed "s/^/  $f: /" "$dir/$f"
		done
	else
		passed=$((passed + 1))
	fi
}
useradd_line="useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pindns"
install_line() {
	echo "apt-get install -y -qq --no-install-recommends $1"
}

run "root, packages missing, no policy-rc.d, no user" run 0 0 none "libldns-dev liburcu-dev"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check 'grep -qx "pindns: installing libldns-dev liburcu-dev" "$dir/out"' "no 'installing' line"
check 'grep -qx "pindns: created the system user pindns" "$dir/out"' "no 'created' line"
check '[ ! -s "$dir/err" ]' "wrote to stderr"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "libldns-dev liburcu-dev")" ]' "apt-get not run as update, then install of the missing packages"
check '[ "$(grep -c "^policy-rc.d says 101$" "$dir/log")" -eq 2 ]' \
	"no policy-rc.d denying service starts while apt-get ran"
check '[ "$(logged useradd)" = "$useradd_line" ]' "useradd not run once as expected"
check '[ ! -e "$dir/policy-rc.d" ]' "the policy-rc.d it made is still there"
done_case

run "root, packages missing, site policy-rc.d, user exists" run 0 1 site "liburcu-dev"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(cat "$dir/out")" = "pindns: installing liburcu-dev" ]' "stdout is not the one 'installing' line"
check '[ ! -s "$dir/err" ]' "wrote to stderr"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line liburcu-dev)" ]' "apt-get not run as update, then install of the missing package"
check '[ "$(grep -c "^policy-rc.d says 101$" "$dir/log")" -eq 2 ]' \
	"the site's policy-rc.d was not there while apt-get ran"
check 'cmp -s "$dir/policy-rc.d" "$dir/policy-rc.d.orig"' "the site's policy-rc.d changed"
check '[ "$(stat -c "%a %i %s %Y" "$dir/policy-rc.d")" = "$(cat "$dir/policy.stat")" ]' \
	"the site's policy-rc.d changed mode, inode, size or time"
check '[ -z "$(logged useradd)" ]' "useradd ran though the user exists"
done_case

run "root, test mode, packages missing, no policy-rc.d" test 0 1 none "libcmocka-dev nsd"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "libcmocka-dev nsd")" ]' "apt-get not run with the missing test packages"
check '[ "$(grep -c "^policy-rc.d says 101$" "$dir/log")" -eq 2 ]' \
	"no policy-rc.d denying service starts while apt-get ran"
check '[ ! -e "$dir/policy-rc.d" ]' "the policy-rc.d it made is still there"
check '[ -z "$(logged useradd)" ]' "useradd ran though the user exists"
done_case

# knot starts knotd on port 53 like nsd: its service is disabled once installed (where
# systemd runs), and knot-dnsutils being missing too must not be taken for it.
run "root, test mode, knot and ldnsutils missing" test 0 1 none "knot-dnsutils knot ldnsutils"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "knot-dnsutils knot ldnsutils")" ]' "apt-get not run with knot and ldnsutils"
check '[ "$(grep -c "^policy-rc.d says 101$" "$dir/log")" -eq 2 ]' \
	"no policy-rc.d denying service starts while apt-get ran"
if [ -d /run/systemd/system ]; then
	check '[ "$(logged systemctl)" = "systemctl disable --now knot" ]' \
		"knot's service not disabled alone"
	check 'grep -qx "pindns: installed knot for the DNSSEC tests and disabled its service" \
		"$dir/out"' "no line saying knot's service was disabled"
else
	check '[ -z "$(logged systemctl)" ]' "ran systemctl on a host without systemd"
fi
done_case

run "root, test mode, knot-dnsutils missing alone" test 0 1 none "knot-dnsutils"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ -z "$(logged systemctl)" ]' "ran systemctl though neither knot nor nsd was installed"
check '! grep -q "disabled its service" "$dir/out"' "says it disabled a service"
done_case

# systemd-container at the installed systemd's version, so that apt does not upgrade the
# host's systemd for it; the mirror's when that version is gone from it; as it comes where
# systemd is not installed (a fresh chroot).
run "root, test mode, systemd-container missing" test 0 1 none "debootstrap systemd-container"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "debootstrap systemd-container=252.38-1~deb12u1")" ]' \
	"systemd-container not asked for at systemd's version"
check '[ ! -s "$dir/err" ]' "wrote to stderr"
done_case

STUB_MIRROR="systemd-container=252.39-1~deb12u2"
export STUB_MIRROR
run "root, test mode, systemd's version gone from the mirror" test 0 1 none "systemd-container"
unset STUB_MIRROR
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "systemd-container")" ]' "systemd-container not asked for unpinned"
check 'grep -q "systemd-container 252.38-1~deb12u1 is no longer on the mirror" "$dir/err"' \
	"does not say the pinned version is gone"
done_case

run "root, test mode, systemd not installed" test 0 1 none "systemd systemd-container"
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(logged apt-get)" = "apt-get update -qq
$(install_line "systemd-container")" ]' "systemd-container pinned though systemd is missing"
check '[ -z "$(logged apt-cache)" ]' "asked apt-cache though systemd is missing"
done_case

run "not root, packages missing" run 1000 0 none "libldns-dev liburcu-dev"
check '[ $rc -eq 1 ]' "exit status $rc, not 1"
check '[ "$(cat "$dir/err")" = "pindns: these Debian packages are missing: libldns-dev liburcu-dev
pindns: install them with: sudo apt-get install libldns-dev liburcu-dev" ]' \
	"stderr is not the two lines naming the packages and the apt-get install line"
check '[ ! -s "$dir/out" ]' "wrote to stdout"
check '[ -z "$(logged apt-get)" ]' "ran apt-get"
check '[ -z "$(logged useradd)" ]' "ran useradd"
check '[ ! -e "$dir/policy-rc.d" ]' "made a policy-rc.d"
done_case

run "not root, nothing missing, no user" run 1000 0 none ""
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ ! -s "$dir/out" ] && [ ! -s "$dir/err" ]' "printed something"
check '[ -z "$(logged apt-get)" ]' "ran apt-get"
check '[ -z "$(logged useradd)" ]' "ran useradd"
done_case

run "root, nothing missing, no user" run 0 0 none ""
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ "$(cat "$dir/out")" = "pindns: created the system user pindns" ]' "no 'created' line alone"
check '[ "$(logged getent)" = "getent passwd pindns" ]' "did not ask getent about pindns"
check '[ "$(logged useradd)" = "$useradd_line" ]' "useradd not run once as expected"
check '[ -z "$(logged apt-get)" ]' "ran apt-get"
check '[ ! -e "$dir/policy-rc.d" ]' "made a policy-rc.d"
done_case

run "root, nothing missing, user exists" run 0 1 none ""
check '[ $rc -eq 0 ]' "exit status $rc, not 0"
check '[ ! -s "$dir/out" ] && [ ! -s "$dir/err" ]' "printed something"
check '[ -z "$(logged useradd)" ]' "useradd ran though the user exists"
done_case

# A TERM while apt-get runs must stop deps.sh (not go on to create the user) with a
# failing status, and still remove the policy-rc.d it made.
STUB_APT_SIGNAL=TERM
export STUB_APT_SIGNAL
run "root, TERM during apt-get install" run 0 0 none "liburcu-dev"
unset STUB_APT_SIGNAL
check '[ $rc -eq 143 ]' "exit status $rc, not 143 (128 + SIGTERM)"
check '! grep -q created "$dir/out"' "went on after the signal"
check '[ -z "$(logged useradd)" ]' "went on to useradd after the signal"
check '[ ! -e "$dir/policy-rc.d" ]' "the policy-rc.d it made is still there"
done_case

STUB_APT_RC=100
export STUB_APT_RC
run "root, apt-get install fails" run 0 0 site "liburcu-dev"
unset STUB_APT_RC
check '[ $rc -eq 100 ]' "exit status $rc, not apt-get's 100"
check '[ -z "$(logged useradd)" ]' "went on to useradd after apt-get failed"
check 'cmp -s "$dir/policy-rc.d" "$dir/policy-rc.d.orig"' "the site's policy-rc.d changed"
done_case

run "bad usage" bogus 0 1 none ""
check '[ $rc -eq 2 ]' "exit status $rc, not 2"
check 'grep -q "usage:.*run|test" "$dir/err"' "no usage message"
check '[ -z "$(logged apt-get)" ]' "ran apt-get"
done_case

echo "deps.sh checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
