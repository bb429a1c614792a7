#!/usr/bin/env bash
# The documented procedure ("Distribution ändern", /work/shared/PROCEDURE.md) as an administrator
# types it on the target, for the benchmark to time against bm-migrate. Run as root on the target:
#
#   manual-procedure.sh hot  [ORIGIN]   phase 1: stop services on the target, the 7 rsyncs
#   manual-procedure.sh cold [ORIGIN]   phase 2: stop services on both, the 7 rsyncs, the 2 dumps,
#                                       the scp lines, drop/create the databases, load the dumps
#   manual-procedure.sh swap ORIGIN ADDRESS/PREFIX IFACE
#                                       phase 3, scripted: power the origin off, add its address on
#                                       the target, start postfix and BlueMind; no verification at
#                                       all; then wait until the core answers at the address
#
# ORIGIN defaults to bm-origin (the lab's origin). The commands are the documentation's own, in its
# order, one after the other; only what fails on PostgreSQL 15 is fixed (see createdb below).
# Lines starting with "BENCH " are for the benchmark driver (bench/run.ts):
#   BENCH mark NAME EPOCH_MS     a point in time (the downtime is cold-start .. cold-end)
#   BENCH fail COMMAND           a procedure command that failed and was passed over (see scp below)
# Everything else on stdout is the commands' own output (rsync -v lists, "sent X bytes received Y
# bytes" lines, psql's answers), which the driver counts.
set -euo pipefail

PHASE="${1:?usage: manual-procedure.sh hot|cold [ORIGIN] | swap ORIGIN ADDRESS/PREFIX IFACE}"
ORIGIN="${2:-bm-origin}"

mark() { echo "BENCH mark $1 $(date +%s%3N)"; }

# rsync exits 24 when files vanished on the origin while it ran: the origin serves during the hot
# sync, and an administrator reads that as "fine, the next pass takes the rest", not as a failure.
tolerate_vanished() {
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 24 ]; then return "$rc"; fi
  return 0
}

# The procedure's 7 rsync lines, exactly (-avH --delete, no --stats: the -v list is what is counted).
sync_data() {
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/cyrus/ /var/spool/cyrus/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/lib/cyrus/ /var/lib/cyrus/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/bm-hsm/ /var/spool/bm-hsm/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/sieve/ /var/spool/sieve/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/bm-elasticsearch/ /var/spool/bm-elasticsearch/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/bm-docs/ /var/spool/bm-docs/
  tolerate_vanished rsync -avH --delete root@"$ORIGIN":/var/spool/bm-filehosting/ /var/spool/bm-filehosting/
}

# An scp of a file the origin does not have fails, as it would for the administrator, who reads
# the error and goes on with the next line: so `set -e` is off for these lines only, and each
# failure is reported to the driver instead of ending the script.
optional_scp() {
  if ! scp "$@"; then echo "BENCH fail scp $*"; fi
}

hot() {
  mark hot-start
  bmctl stop
  service postfix stop
  sync_data
  mark hot-end
}

cold() {
  # 1. Stop BlueMind and postfix on both servers: the downtime starts here.
  mark cold-start
  ssh root@"$ORIGIN" 'bmctl stop; service postfix stop'
  bmctl stop
  service postfix stop
  # 2. The same rsync lines again.
  sync_data
  # 3. Dump both databases from the origin. (The password is in the remote command line, as the
  #    procedure writes it: this script reproduces the procedure, it is not an example to follow.)
  ssh root@"$ORIGIN" "PGPASSWORD=bj pg_dump -U bj -h localhost bj" > /tmp/db.sql
  ssh root@"$ORIGIN" "PGPASSWORD=bj pg_dump -U bj -h localhost bj-data" > /tmp/db-data.sql
  # 4. The configuration files, one scp per line of the procedure.
  optional_scp -r root@"$ORIGIN":/etc/bm/\* /etc/bm
  optional_scp root@"$ORIGIN":/etc/bm/bm.ini /etc/bm/bm.ini
  optional_scp -r root@"$ORIGIN":/etc/bm-hps/\* /etc/bm-hps
  optional_scp root@"$ORIGIN":/etc/ssl/certs/bm_cert.pem /etc/ssl/certs/bm_cert.pem
  optional_scp -r root@"$ORIGIN":/var/lib/bm-ca/\* /var/lib/bm-ca
  optional_scp root@"$ORIGIN":/usr/share/bm-elasticsearch/config/elasticsearch.yml /usr/share/bm-elasticsearch/config/elasticsearch.yml
  optional_scp root@"$ORIGIN":/etc/imapd\* /etc/
  optional_scp root@"$ORIGIN":/etc/cyrus\* /etc/
  optional_scp root@"$ORIGIN":/etc/postfix/main.cf /etc/postfix/main.cf
  optional_scp root@"$ORIGIN":/etc/postfix/master.cf /etc/postfix/master.cf
  optional_scp root@"$ORIGIN":/etc/postfix/master_relay_transport-flat /etc/postfix/master_relay_transport-flat
  optional_scp root@"$ORIGIN":/etc/postfix/master_relay_transport.db /etc/postfix/master_relay_transport.db
  optional_scp root@"$ORIGIN":/etc/postfix/transport-flat /etc/postfix/transport-flat
  optional_scp root@"$ORIGIN":/etc/postfix/transport.db /etc/postfix/transport.db
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_alias-flat /etc/postfix/virtual_alias-flat
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_alias.db /etc/postfix/virtual_alias.db
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_domains-flat /etc/postfix/virtual_domains-flat
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_domains.db /etc/postfix/virtual_domains.db
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_mailbox-flat /etc/postfix/virtual_mailbox-flat
  optional_scp root@"$ORIGIN":/etc/postfix/virtual_mailbox.db /etc/postfix/virtual_mailbox.db
  optional_scp root@"$ORIGIN":/etc/bm-webmail/\* /etc/bm-webmail/
  # 5. Rebuild the databases and load the dumps.
  su - postgres -c "dropdb bj"
  su - postgres -c "dropdb bj-data"
  # Fixed for PostgreSQL 15: a database created by postgres does not let bj create tables in
  # public, so the procedure's bare `createdb bj` makes every CREATE TABLE of the load fail: -O bj.
  # Fixed for an identical result: the lab origin's databases were created with
  # `-T template0 --lc-collate=C --lc-ctype=C`; a bare createdb takes the target cluster's default
  # locale (C.UTF-8), so text sorts and indexes would differ from the origin's.
  su - postgres -c "createdb -O bj -T template0 --lc-collate=C --lc-ctype=C bj"
  su - postgres -c "createdb -O bj -T template0 --lc-collate=C --lc-ctype=C bj-data"
  export PGPASSWORD=bj
  # psql goes on after an error (no ON_ERROR_STOP), as in the procedure; the driver counts ERROR lines.
  cat /tmp/db.sql | psql -U bj -h localhost bj
  cat /tmp/db-data.sql | psql -U bj -h localhost bj-data
  mark cold-end
  # Not part of the procedure: the dump sizes, for the driver's "bytes moved".
  echo "BENCH dump $(stat -c %s /tmp/db.sql) $(stat -c %s /tmp/db-data.sql)"
}

# Phase 3 as a script would do it, as fast as it can: the origin's power-off is detached on its
# side (the lab's stand-in, like a real shutdown, takes its time), the address is added at once.
# The outage ends when BlueMind's core answers at the origin's address (the same test as
# bm-migrate's swap check): `answering`.
swap() {
  local address="${3:?address/prefix}" iface="${4:?interface}"
  mark swap-start
  ssh root@"$ORIGIN" poweroff
  ip addr add "$address" dev "$iface"
  mark start-begin
  service postfix start
  bmctl start
  until timeout 1 bash -c "exec 3<>/dev/tcp/${address%/*}/8090" 2>/dev/null; do sleep 0.1; done
  mark answering
}

case "$PHASE" in
  hot) hot ;;
  cold) cold ;;
  swap) swap "$@" ;;
  *) echo "manual-procedure.sh: unknown phase '$PHASE' (hot, cold or swap)" >&2; exit 2 ;;
esac
