#!/usr/bin/env bash
# First process of a lab host, already inside its own network, mount and UTS namespaces.
# Lays overlays of the machine's /etc /var /usr /root /opt and a tmpfs /run, then stays alive
# as the anchor that `nsenter -t PID` enters.
#
# With a root filesystem of another Debian release (host-init.sh ROLE DIR ROOTFS, see rootfs.sh),
# an overlay of that whole tree becomes the host's root instead (pivot_root): the host runs that
# release's own userland. /proc, /sys, /dev, a tmpfs /run and the machine's /tmp (scratch files,
# the lab's state) come in, and so do, read-only, this repository and the machine's node binary
# (the BlueMind stand-in, the data generator and the lab's comparison run with them; node 20 needs
# glibc 2.28, Debian 11 has 2.31), each at the path it has on the machine.
set -euo pipefail
role="$1" d="$2" rootfs="${3:-}"
if [ -z "$rootfs" ]; then
  for dir in etc var usr root opt; do
    mkdir -p "$d/upper/$dir" "$d/work/$dir"
    mount -t overlay "lab-$role-$dir" -o "lowerdir=/$dir,upperdir=$d/upper/$dir,workdir=$d/work/$dir" "/$dir"
  done
else
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  node="$(readlink -f "$(command -v node)")"
  new="$d/newroot"
  mkdir -p "$d/upper/rootfs" "$d/work/rootfs" "$new"
  mount -t overlay "lab-$role-rootfs" -o "lowerdir=$rootfs,upperdir=$d/upper/rootfs,workdir=$d/work/rootfs" "$new"
  mount -t proc "lab-$role-proc" "$new/proc"
  mount --rbind /sys "$new/sys"
  mount --rbind /dev "$new/dev"
  mkdir -p "$new/tmp" "$new$repo" "$new/usr/local/bin"
  mount --bind /tmp "$new/tmp"
  case "$d" in /tmp/*) ;; *) mkdir -p "$new$d"; mount --bind "$d" "$new$d" ;; esac
  mount --bind "$repo" "$new$repo"
  mount -o remount,bind,ro "$new$repo"
  touch "$new/usr/local/bin/node"
  mount --bind "$node" "$new/usr/local/bin/node"
  mount -o remount,bind,ro "$new/usr/local/bin/node"
  cd "$new"
  mkdir -p .lab-oldroot
  pivot_root . .lab-oldroot
  cd /
  umount -l /.lab-oldroot
  rmdir /.lab-oldroot
  export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
fi
mount -t tmpfs -o mode=0755 "lab-$role-run" /run
mkdir -p /run/sshd /run/lock /run/postgresql
chmod 0755 /run/sshd
chown postgres:postgres /run/postgresql
chmod 2775 /run/postgresql
hostname "bm-$role"
echo $$ > "$d/init.pid"
touch "$d/ready"
exec sleep infinity
