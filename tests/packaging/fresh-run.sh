#!/usr/bin/env bash
# Manual check, as root, a few minutes: the README's first command (packaging/run.sh) on the
# committed HEAD in a fresh Debian 12 minbase root, as ../shared/fresh-check.sh does for
# the second. Serves on 127.0.0.1:5399 and asks it www.example.com. Exit 0 when answered.
set -u
[ "$(id -u)" = 0 ] || { echo "fresh-run: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
base=/tmp/pindns-fresh-base # shared with ../shared/fresh-check.sh
if [ ! -x "$base/bin/bash" ]; then
	command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
	mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
	debootstrap --variant=minbase bookworm "$base" ${mirror:+"$mirror"} >/dev/null 2>&1 ||
		{ echo "fresh-run: debootstrap failed" >&2; rm -rf "$base"; exit 2; }
fi
root=$(mktemp -d /tmp/pindns-freshrun.XXXX)
# The processes whose root is the fresh one: what this check started, and nothing else.
inroot() {
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
	done
}
cleanup() {
	for p in $(inroot); do kill "$p" 2>/dev/null; done
	sleep 2
	for p in $(inroot); do kill -9 "$p" 2>/dev/null; done
	for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null; done
	rm -rf "$root"
}
trap cleanup EXIT
cp -a "$base/." "$root/"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # as container images ship
chmod 755 "$root/usr/sbin/policy-rc.d"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
	rm -f "$root/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
mount --bind /dev "$root/dev" && mount --bind /dev/pts "$root/dev/pts" &&
	mount -t proc proc "$root/proc" && mount -t sysfs sys "$root/sys" || exit 2
mkdir -p "$root/work" && git -C "$src" clone -q . "$root/work/main" || exit 2
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	/bin/sh -c 'cd /work/main && packaging/run.sh --listen 127.0.0.1:5399 </dev/null \
	>/tmp/run.log 2>&1 &'
for _ in $(seq 1 300); do
	grep -q "pindnsd: info: pindnsd .* serving" "$root/tmp/run.log" 2>/dev/null && break
	[ -n "$(inroot)" ] || break
	sleep 2
done
tail -n 5 "$root/tmp/run.log"
python3 - "$src/tests/integration" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "/work/main/tests/integration")
import harness
r = harness.raw_query(5399, harness.make_query("www.example.com"), timeout=2)
ok = r is not None and r[3] & 15 == 0
print("fresh-run: packaging/run.sh in a fresh Debian 12 root %s" % ("answered" if ok else
                                                                 "did not answer"))
sys.exit(0 if ok else 1)
PY
