#!/bin/bash
# The lab's live writer: while "BlueMind" runs it delivers mail into Cyrus mailboxes, expunges and
# renames a few, and changes bj-data as BlueMind's core does (writer.sql: new mail, flags, moves,
# deletions, calendar edits), so that a hot sync always chases a moving origin.
#   bm-lab-writer.sh            run until TERM (each round a few changes, WRITER_INTERVAL s apart)
#   bm-lab-writer.sh --count N  make exactly N rounds now, deterministically, then exit
set -u
count=-1; [ "${1:-}" = --count ] && count="$2"
interval="${WRITER_INTERVAL:-0.2}"
stop=0; trap 'stop=1' TERM INT
pass="$(sed -n 's/^password *= *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/bm/bm.ini | head -1)"
export PGPASSWORD="$pass"
db=bj-data; psql -h localhost -U bj -d bj-data -c 'select 1' >/dev/null 2>&1 || db=""
[ -n "$db" ] && { psql -h localhost -U bj -d "$db" -tAc "select to_regclass('t_mailbox_record') is not null" 2>/dev/null | grep -q t || db=""; }
mapfile -t boxes < <(find /var/spool/cyrus/data -type d -path '*/user/*' -prune 2>/dev/null | sort)
[ ${#boxes[@]} -gt 0 ] || { mkdir -p /var/spool/cyrus/data/lab/user/writer; chown -R cyrus:mail /var/spool/cyrus/data/lab; boxes=(/var/spool/cyrus/data/lab/user/writer); }
sql_file="${0%.sh}.sql" # installed beside it: /usr/share/bm-lab-writer.sql
round=0
seq_file=/var/lib/cyrus/bm-lab-writer.seq
n="$(cat "$seq_file" 2>/dev/null || echo 0)"
while [ "$stop" = 0 ] && [ "$count" != 0 ]; do
  round=$((round + 1)); n=$((n + 1))
  box="${boxes[$(( n * 7919 % ${#boxes[@]} ))]}"
  f="$box/w$n."
  { printf 'From: writer@bluemind.lab.test\r\nTo: %s@bluemind.lab.test\r\nSubject: live %s\r\nMessage-ID: <w%s@lab>\r\n\r\n' "$(basename "$box")" "$n" "$n"
    head -c $(( (n * 1103) % 6000 + 200 )) /dev/zero | tr '\0' 'x'; printf '\r\n'; } > "$f.tmp"
  chown cyrus:mail "$f.tmp"; chmod 0600 "$f.tmp"; mv "$f.tmp" "$f"
  if [ $((n % 10)) = 0 ]; then # expunge one earlier delivery, rename another: deletions and renames must propagate
    old="$box/w$((n - 5))."; [ -f "$old" ] && rm -f "$old"
    old="$box/w$((n - 3))."; [ -f "$old" ] && mv "$old" "$box/r$((n - 3))."
  fi
  printf '%s\n' "$n" > "$seq_file"
  if [ -n "$db" ]; then
    psql -h localhost -U bj -d "$db" -q -v ON_ERROR_STOP=1 -v n="$n" -v host="$(hostname)" >/dev/null 2>&1 < "$sql_file"
  fi
  [ "$count" -gt 0 ] && count=$((count - 1))
  # A TERM interrupts the pause (wait returns at once), as a service stops promptly: not after it.
  if [ "$count" = -1 ]; then sleep "$interval" & wait $!; fi
done
exit 0
