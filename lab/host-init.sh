#!/usr/bin/env bash
# First process of a lab host, already inside its own network, mount and UTS namespaces.
# Lays overlays of the machine's /etc /var /usr /root /opt and a tmpfs /run, then stays alive
# as the anchor that `nsenter -t PID` enters.
set -euo pipefail
role="$1" d="$2"
for dir in etc var usr root opt; do
  mkdir -p "$d/upper/$dir" "$d/work/$dir"
  mount -t overlay "lab-$role-$dir" -o "lowerdir=/$dir,upperdir=$d/upper/$dir,workdir=$d/work/$dir" "/$dir"
done
mount -t tmpfs -o mode=0755 "lab-$role-run" /run
mkdir -p /run/sshd /run/lock /run/postgresql
chmod 0755 /run/sshd
chown postgres:postgres /run/postgresql
chmod 2775 /run/postgresql
hostname "bm-$role"
echo $$ > "$d/init.pid"
touch "$d/ready"
exec sleep infinity
