#!/bin/sh
# Builds the .deb in a build folder of its own, unpacks it into a throwaway root with
# dpkg -x, and checks what is in it and that the installed programs run.
set -eu

src=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINDNS_TESTS=OFF \
	-DCMAKE_INSTALL_PREFIX=/usr -DPINDNS_ZONES_DIR=/var/lib/pindns/zones >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
(cd "$work/build" && cpack -G DEB >/dev/null)

fail() {
	echo "FAIL: $*"
	exit 1
}
deb=$(ls "$work"/build/pindns_*_*.deb)
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
	var/lib/pindns/zones/example.com.zone usr/lib/systemd/system/pindns.service \
	usr/lib/sysusers.d/pindns.conf usr/lib/tmpfiles.d/pindns.conf \
	usr/share/man/man8/pindnsd.8 usr/share/man/man8/pindnsctl.8 \
	usr/share/man/man5/pindns.conf.5; do
	[ -f "$work/root/$f" ] || fail "missing /$f"
done
grep -q '^Type=notify$' "$work/root/usr/lib/systemd/system/pindns.service" || fail "unit type"
grep -q '^NoNewPrivileges=yes$' "$work/root/usr/lib/systemd/system/pindns.service" ||
	fail "unit hardening"

root="$work/root"
[ "$("$root/usr/sbin/pindnsd" --version)" = "pindnsd 0.1.0" ] || fail "pindnsd --version"
[ "$("$root/usr/bin/pindnsctl" --version)" = "pindnsctl 0.1.0" ] || fail "pindnsctl --version"
"$root/usr/sbin/pindnsd" --help | grep -q "/var/lib/pindns/zones" || fail "default zones dir"
# The shipped configuration and zones load (zones taken from the unpacked root).
"$root/usr/sbin/pindnsd" --check-config --config "$root/etc/pindns/pindns.conf" \
	--zones "$root/var/lib/pindns/zones" | grep -q "2 zone(s) loaded, 0 failed" ||
	fail "shipped configuration"
echo "package checks: 1 passed, 0 failed"
