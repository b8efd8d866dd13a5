#!/usr/bin/env bash
# Makes a busybox image from the host's busybox-static (no network) and imports it into a
# berth store as busybox:latest. Usage: scripts/make-busybox-image.sh [--root DIR] [--out FILE]
#   --root DIR   store to import into (default: $BERTH_ROOT or /var/lib/berth)
#   --out FILE   also keep the rootfs tarball there
# Needs: busybox-static (apt-get install -y busybox-static) and a built berth-unpack
# (BERTH_BIN, default target/release).
set -euo pipefail
root=${BERTH_ROOT:-/var/lib/berth}
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--root DIR] [--out FILE]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BERTH_BIN:-$here/target/release}
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  busybox=/bin/busybox
fi
[ -x "$busybox" ] || { echo "busybox-static is not installed (apt-get install -y busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var,home}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
tarball=${out:-$work/busybox-rootfs.tar}
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$tarball" .
"$bin/berth-unpack" --root "$root" import -q \
  --change 'CMD ["sh"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tarball" busybox:latest
