#!/bin/sh
# Builds the .deb with packaging/deb.sh, unpacks it into a throwaway root with dpkg -x, and
# checks what is in it and that the installed programs run; and that cpack refuses a
# build folder configured for /usr/local.
set -eu

src=$1
work=$2
rm -rf "$work"
mkdir -p "$work"

fail() {
	echo "FAIL: $*"
	exit 1
}

# cpack refuses before it builds anything, so a configured folder is enough.
cmake -S "$src" -B "$work/local" -DPINDNS_TESTS=OFF >"$work/local.log" 2>&1 ||
	{ cat "$work/local.log"; fail "configuring a /usr/local build folder"; }
rc=0
(cd "$work/local" && cpack -G DEB) >"$work/cpack.log" 2>&1 || rc=$?
said=$(tr -s ' \n' '  ' <"$work/cpack.log")
[ "$rc" -ne 0 ] || fail "cpack made a package in a /usr/local build folder"
case "$said" in
*"installs under /usr/local, not /usr;"*"build the package with packaging/deb.sh"*) ;;
*) cat "$work/cpack.log"; fail "cpack in a /usr/local build folder did not name packaging/deb.sh" ;;
esac
! ls "$work"/local/pindns_*.deb >/dev/null 2>&1 || fail "cpack left a package behind"

deb=$("$src/packaging/deb.sh" "$work/build" 2>"$work/deb.log") ||
	{ cat "$work/deb.log"; fail "packaging/deb.sh"; }
[ "$deb" = "$(ls "$work"/build/pindns_*_*.deb)" ] || fail "deb.sh printed '$deb', not the package"
case "$(basename "$deb")" in
pindns_0.1.0_*.deb) ;;
*) fail "package name $(basename "$deb")" ;;
esac
info=$(dpkg-deb -I "$deb")
for want in "Package: pindns" "Version: 0.1.0" "Depends: libldns3" "postinst" "conffiles"; do
	echo "$info" | grep -q "$want" || fail "control lacks '$want'"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/pindns/pindns.conf ||
	fail "pindns.conf is not a conffile"

dpkg -x "$deb" "$work/root"
for f in usr/sbin/pindnsd usr/bin/pindnsctl usr/bin/pindns-load etc/pindns/pindns.conf \
	usr/share/pindns/zones/example.com.zone usr/lib/systemd/system/pindns.service \
	usr/lib/systemd/system/pindns.socket usr/lib/sysusers.d/pindns.conf usr/lib/tmpfiles.d/pindns.conf \
	usr/share/man/man8/pindnsd.8 usr/share/man/man8/pindnsctl.8 \
	usr/share/man/man5/pindns.conf.5; do
	[ -f "$work/root/$f" ] || fail "missing /$f"
done
# The served folder is empty in the package (the postinst copies the examples there once):
# a zone file of the package's would be put back by every upgrade.
[ -d "$work/root/var/lib/pindns/zones" ] || fail "missing /var/lib/pindns/zones"
[ -z "$(ls -A "$work/root/var/lib/pindns/zones")" ] ||
	fail "the package owns files in /var/lib/pindns/zones: $(ls "$work/root/var/lib/pindns/zones")"
for s in preinst postinst prerm postrm; do
	dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - "./$s" | grep -q '^-rwxr-xr-x' ||
		fail "no $s of mode 0755 in the package"
done
grep -q '^Type=notify$' "$work/root/usr/lib/systemd/system/pindns.service" || fail "unit type"
grep -q '^NoNewPrivileges=yes$' "$work/root/usr/lib/systemd/system/pindns.service" ||
	fail "unit hardening"
# Socket activation must pass TCP as well as UDP, in groups pindnsd can join.
for k in 'ListenDatagram=0.0.0.0:53' 'ListenStream=0.0.0.0:53' 'ReusePort=yes'; do
	grep -qx "$k" "$work/root/usr/lib/systemd/system/pindns.socket" || fail "pindns.socket: $k"
done
# What cpack of a /usr/local folder got wrong: the unit must start the packaged binary.
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$work/root/usr/lib/systemd/system/pindns.service")
[ -x "$work/root$exec_start" ] || fail "the unit starts $exec_start, which the package lacks"

root="$work/root"
[ "$("$root/usr/sbin/pindnsd" --version)" = "pindnsd 0.1.0" ] || fail "pindnsd --version"
[ "$("$root/usr/bin/pindnsctl" --version)" = "pindnsctl 0.1.0" ] || fail "pindnsctl --version"
"$root/usr/sbin/pindnsd" --help | grep -q "/var/lib/pindns/zones" || fail "default zones dir"
"$root/usr/sbin/pindnsd" --help | grep -q "(default /var/lib/pindns/state)" ||
	fail "default state-dir"
# Transferred zones are written there as the pindns user, through ProtectSystem=strict.
grep -qx 'StateDirectory=pindns/state' "$work/root/usr/lib/systemd/system/pindns.service" ||
	fail "the unit does not make the state folder writable"
[ ! -e "$work/root/var/lib/pindns/state" ] ||
	fail "the package owns /var/lib/pindns/state (the postinst makes it, for pindns)"
# The shipped configuration and zones load (zones taken from the unpacked root).
"$root/usr/sbin/pindnsd" --check-config --config "$root/etc/pindns/pindns.conf" \
	--zones "$root/usr/share/pindns/zones" | grep -q "2 zone(s) loaded, 0 failed" ||
	fail "shipped configuration"
echo "package checks: 1 passed, 0 failed"
