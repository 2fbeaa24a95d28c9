#!/bin/sh
# Installs the Debian packages pindns needs: "deps.sh run" to build and serve, "deps.sh test"
# for the test suite as well. As root it uses apt-get; otherwise it says what to install.
set -eu

mode=${1:-run}
# libc6-dev: gcc only recommends it, and without recommends a fresh machine's gcc cannot
# link a program (no crt1.o); the test mode's packages happened to pull it in.
need="cmake make gcc libc6-dev pkg-config libldns-dev liburcu-dev libssl-dev"
case "$mode" in
run) ;;
# knot and ldnsutils: the DNSSEC tests sign zones with ldns-signzone and compare with knotd;
# unbound: a validating resolver in front of pindnsd.
test)
	need="$need libcmocka-dev python3 dnsutils knot-dnsutils nsd knot ldnsutils unbound"
	need="$need clang libclang-rt-14-dev curl"
	# package.systemd boots a Debian root made by debootstrap under systemd-nspawn.
	need="$need debootstrap systemd-container"
	;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

# pindnsd started as root runs as the system user pindns once its sockets are bound.
ensure_user() {
	if [ "$(id -u)" -eq 0 ] && ! getent passwd pindns >/dev/null; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin pindns
		echo "pindns: created the system user pindns"
	fi
}

missing=""
for p in $need; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	ensure_user
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "pindns: these Debian packages are missing:$missing" >&2
	echo "pindns: install them with: sudo apt-get install$missing" >&2
	exit 1
fi

echo "pindns: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The nsd and knot packages start their servers on port 53 where init scripts run. The
# tests start their own NSD and knotd on loopback high ports, so keep the packaged ones
# from starting.
# A policy-rc.d already there (Debian container images ship one) is the site's: leave it.
# PINDNS_POLICY_RC_D is for tests/packaging/test_deps.sh only, which points it at a
# scratch file so that the test never touches the real one.
policy=${PINDNS_POLICY_RC_D:-/usr/sbin/policy-rc.d}
made_policy=""
# An if, not "[ ] && rm": the trap's last status would become the script's exit status.
cleanup() {
	if [ -n "$made_policy" ]; then
		rm -f "$policy"
	fi
}
# Traps first, so that a signal cannot leave our policy-rc.d behind. exit in the INT and
# TERM traps runs the EXIT trap and stops the script, which would otherwise go on.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ ! -e "$policy" ]; then
	made_policy=1
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
fi

# systemd-container depends on systemd of its own version: where systemd is installed it is
# asked for at that version while the mirror has it, so that apt does not upgrade the
# host's systemd along with it (elsewhere it comes with the systemd it needs).
pinned() {
	if [ "$1" = systemd-container ]; then
		v=$(dpkg-query -W -f='${Status} ${Version}' systemd 2>/dev/null || true)
		case "$v" in
		"install ok installed "?*)
			v=${v#install ok installed }
			if apt-cache show "$1=$v" >/dev/null 2>&1; then
				echo "$1=$v"
				return
			fi
			echo "pindns: systemd-container $v is no longer on the mirror: installing" \
				"the mirror's, which upgrades systemd" >&2
			;;
		esac
	fi
	echo "$1"
}

apt-get update -qq
install=""
for p in $missing; do
	install="$install $(pinned "$p")"
done
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $install </dev/null
# Each server package starts its server on port 53 where systemd runs; the tests start
# their own on loopback high ports. Whole words: "knot" must not match knot-dnsutils.
for server in "nsd:the differential tests" "knot:the DNSSEC tests" "unbound:the resolver test"; do
	pkg=${server%%:*}
	case "$missing " in
	*" $pkg "*)
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			systemctl disable --now "$pkg" >/dev/null 2>&1 || true
			echo "pindns: installed $pkg for ${server#*:} and disabled its service"
		fi
		;;
	esac
done
ensure_user
