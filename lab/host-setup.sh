#!/usr/bin/env bash
# Runs once inside a fresh lab host (nsenter'ed): names, sshd, PostgreSQL, the BlueMind stand-in.
# Everything written here lands in the host's overlay upper dirs, never on the machine.
set -euo pipefail
. "$1"
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
role="$LAB_ROLE"
if [ "$role" = origin ]; then my_ip="$LAB_ORIGIN_IP"; version="$LAB_ORIGIN_VERSION"; cyrus_uid=9901; else my_ip="$LAB_TARGET_IP"; version="$LAB_TARGET_VERSION"; cyrus_uid=9952; fi
export DEBIAN_FRONTEND=noninteractive

# --- names
echo "bm-$role" > /etc/hostname
cat > /etc/hosts <<HOSTS
127.0.0.1 localhost
$my_ip bm-$role.lab.test bm-$role
$( [ "$role" = origin ] && echo "$LAB_TARGET_IP bm-target.lab.test bm-target" || echo "$LAB_ORIGIN_IP bm-origin.lab.test bm-origin" )
$LAB_LAN_IP lan.lab.test lan
HOSTS

# --- network configuration in Debian's form (ifupdown), as on an installed server: swap edits it
mkdir -p /etc/network/interfaces.d
cat > /etc/network/interfaces <<IFACES
# interfaces(5) file used by ifup(8) and ifdown(8)
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address $my_ip/$LAB_PREFIX
IFACES

# --- users: cyrus gets a different uid on each host, as after a change of distribution
userdel cyrus >/dev/null 2>&1 || true
useradd --system --uid "$cyrus_uid" --gid mail --home-dir /var/spool/cyrus --no-create-home --shell /usr/sbin/nologin cyrus

# --- power commands would act on the whole machine: replace them with stand-ins
for c in poweroff halt reboot shutdown; do
  for dir in /usr/sbin /sbin; do
    [ -e "$dir/$c" ] || [ -L "$dir/$c" ] || continue
    rm -f "$dir/$c"; install -m 0755 "$LAB_DIR/standin/power" "$dir/$c"
  done
  [ -e "/usr/sbin/$c" ] || install -m 0755 "$LAB_DIR/standin/power" "/usr/sbin/$c"
done

# --- sshd with host keys of its own; root logs in by key only
rm -f /etc/ssh/ssh_host_*
ssh-keygen -A >/dev/null
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/00-lab.conf <<SSHD
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
SSHD
grep -q '^Include /etc/ssh/sshd_config.d' /etc/ssh/sshd_config || sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config
install -m 0755 "$LAB_DIR/standin/ssh.init" /etc/init.d/ssh
# root's shell startup files as a server's distribution installs them: bash runs ~/.bashrc for
# every command sshd starts, and this machine's own (seen through the /root overlay) sets up
# developer tools (pyenv...) that would cost every remote command of the lab some 100 ms.
for f in .bashrc .profile; do
  if [ -f "/etc/skel/$f" ]; then cp "/etc/skel/$f" "/root/$f"; else rm -f "/root/$f"; fi
done
rm -f /root/.bash_profile /root/.bash_login
rm -rf /root/.ssh; mkdir -m 0700 /root/.ssh
ssh-keygen -q -t ed25519 -N '' -C "root@bm-$role" -f /root/.ssh/id_ed25519
touch /root/.ssh/authorized_keys /root/.ssh/known_hosts; chmod 600 /root/.ssh/authorized_keys
service ssh start

# --- PostgreSQL: a cluster of this host's own, driven by `service postgresql`
install -m 0755 "$LAB_DIR/standin/postgresql.init" /etc/init.d/postgresql
rm -rf /var/lib/postgresql/lab; mkdir -p /var/lib/postgresql/lab /var/log/postgresql
chown postgres:postgres /var/lib/postgresql/lab /var/log/postgresql
# This host's own PostgreSQL (13 on Debian 11, 15 on 12, 17 on 13): the newest installed.
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
runuser -u postgres -- "$pgbin/initdb" -D /var/lib/postgresql/lab --auth-local=peer --auth-host=scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 >/dev/null
service postgresql start
# The origin's databases use another collation than the target's default: the migration must carry it.
if [ "$role" = origin ]; then dbopts="-T template0 -E UTF8 --lc-collate=C --lc-ctype=C"; else dbopts=""; fi
bjpass=bj
case "$version" in 5.[2-9]*|[6-9].*) bjpass="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" ;; esac
# As BlueMind's install_bmdb_pgsql_0.sh makes them (bluemindfork
# parent/system/net.bluemind.system.pg.tests/data/install_bmdb_pgsql_0.sh, run by PostgreSQLService for
# bj and for each bj-data): `createuser --createdb --superuser --no-createrole --login bj`,
# `createdb --owner=bj --encoding=UTF-8 DB`, `ALTER DATABASE "DB" SET TIMEZONE='GMT'`. The schema
# (lab/schema/bluemind-*.sql) is loaded into each by the generator, as DbSchemaService does.
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "CREATE ROLE bj LOGIN SUPERUSER CREATEDB NOCREATEROLE PASSWORD '$bjpass'" >/dev/null
bmdbs="bj"; case "$version" in 3.*) ;; *) bmdbs="bj bj-data" ;; esac
for db in $bmdbs; do
  runuser -u postgres -- createdb $dbopts -O bj "$db"
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c "ALTER DATABASE \"$db\" SET TIMEZONE='GMT'" >/dev/null
done
# 5.x: Keycloak keeps its realms in a database of its own (the generator fills it).
case "$version" in 5.*|[6-9].*) runuser -u postgres -- createdb -O bj keycloak ;; esac

# --- the BlueMind stand-in
mkdir -p /etc/bm
cat > /etc/bm/bm.ini <<INI
[global]
external-url = bluemind.lab.test
host = $my_ip
hz-member-address = $my_ip
db = bj
user = bj
password = "$bjpass"
INI
chmod 0640 /etc/bm/bm.ini
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/bm/mcast.id
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/bm/bm-core.tok; chmod 0600 /etc/bm/bm-core.tok
if [ "${LAB_SUBSCRIPTION:-1}" = 1 ]; then printf 'BMZ lab subscription for %s\n' "bm-$role" > /etc/bm/subscription.bmz; fi
# BlueMind's packages, with two plugins: the documentation requires the same ones on both servers
# (the preflight compares them).
for pkg in bm-core bm-conf bm-installation-wizard bm-full bm-plugin-core-ldap-import bm-plugin-admin-console-ldap-import; do
  cat >> /var/lib/dpkg/status <<DPKG

Package: $pkg
Status: install ok installed
Priority: optional
Section: mail
Installed-Size: 1024
Maintainer: BlueMind lab stand-in <lab@bluemind.lab.test>
Architecture: all
Version: $version
Description: BlueMind lab stand-in ($pkg)
DPKG
done
install -m 0755 "$LAB_DIR/standin/bmctl" /usr/bin/bmctl
# bmctl also starts the core API stand-in (lab/standin/core.ts) with this repository's node and tsx.
printf 'LAB_REPO=%s\nLAB_NODE=%s\n' "$(dirname "$LAB_DIR")" "$(command -v node || true)" > /etc/default/bm-lab-core
install -m 0755 "$LAB_DIR/standin/writer.sh" /usr/share/bm-lab-writer.sh
install -m 0644 "$LAB_DIR/standin/writer.sql" /usr/share/bm-lab-writer.sql
install -m 0755 "$LAB_DIR/standin/postfix.init" /etc/init.d/postfix
mkdir -p /var/spool/cyrus /var/lib/cyrus /var/spool/bm-hsm /var/spool/sieve /var/spool/bm-elasticsearch /var/spool/bm-docs /var/spool/bm-filehosting
chown cyrus:mail /var/spool/cyrus /var/lib/cyrus /var/spool/bm-hsm /var/spool/sieve
# --- an origin without inotify-tools (lab.sh up --origin-without-inotify): no change journal there
if [ "$role" = origin ] && [ "${LAB_ORIGIN_INOTIFY:-1}" = 0 ]; then
  dpkg --remove inotify-tools >/dev/null 2>&1 || rm -f /usr/bin/inotifywait
  ! command -v inotifywait >/dev/null || { echo "inotifywait is still there" >&2; exit 1; }
fi

# --- Debian's real postfix
# postfix: the package is installed on the machine (lab/packages.sh), so every host sees it through its
# overlays; each host runs its own master with its own queue (/var/spool/postfix in its /var) and the
# configuration the generator writes to its /etc/postfix. The init script above drives it.
command -v postfix >/dev/null || { echo "postfix is not installed on this machine: apt-get install postfix (or run: npm run lab -- install)" >&2; exit 1; }
rm -f /var/spool/postfix/pid/master.pid /var/lib/postfix/master.lock
# The log (maillog_file; no syslog in a lab host): postsuper writes it too, as postfix, when it
# renames queue files at the start (a queue carried from another server).
install -o postfix -g adm -m 0640 /dev/null /var/log/postfix.log
echo "setup done: $role ($my_ip), BlueMind $version, $(. /etc/os-release; echo "$PRETTY_NAME"), PostgreSQL $(basename "$(dirname "$pgbin")"), postfix $(postconf -h mail_version 2>/dev/null)"
