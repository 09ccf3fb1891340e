#!/usr/bin/env bash
# Builds the Docker image the provisioning test boots as "machines": a Debian bookworm
# rootfs from debootstrap (systemd as PID 1, Docker, etcd and nginx from Debian, Python for
# Jota's wheel), imported with `docker import`. The tag carries a hash of this file, so
# a rerun finds the image and skips debootstrap; a changed package list makes a new one.
# Usage: node-image.sh  (prints the image's tag)
set -euo pipefail
packages=systemd,systemd-sysv,dbus,docker.io,etcd-server,etcd-client,iptables,iproute2,\
python3,python3-venv,ca-certificates,busybox-static,procps,kmod,gcc,libc6-dev,curl,\
nginx-light
hash=$(sha256sum "$0" | cut -c1-12)
tag="jota/provision-node:$hash"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/jota-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >&2
# A container has no console to log in on and no kernel modules to load; the units that
# wait for them would only slow the boot down.
for unit in getty@tty1.service console-getty.service systemd-modules-load.service; do
  chroot "$root" systemctl mask "$unit" >/dev/null 2>&1 || true
done
echo "jota-node" >"$root/etc/hostname"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'ENTRYPOINT ["/sbin/init"]' \
  - "$tag" >/dev/null
echo "$tag"
