#!/usr/bin/env bash
# The README's quick start: a whole migration in a fresh two-host lab, driven only through
# bin/bm-migrate on the target, then the lab's own comparison of the two hosts.
#   SCALE=5 npm run demo        (KEEP=1 leaves the lab up afterwards: npm run lab -- shell target --name demo)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${BM_LAB_NAME:-demo}"
SCALE="${SCALE:-5}"
TSX="$PWD/node_modules/.bin/tsx"
[ "${KEEP:-0}" = 1 ] || trap 'bash lab/lab.sh down --name "$NAME" >/dev/null 2>&1 || true' EXIT
say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
bm() { bash lab/lab.sh exec target --name "$NAME" -- "$PWD/bin/bm-migrate" "$@" --origin root@bm-origin; }

say "Two hosts: bm-origin (BlueMind in use, live writer running) and bm-target (a fresh install), scale $SCALE"
bash lab/lab.sh up --name "$NAME" --scale "$SCALE"
say "bm-migrate check"
bm check
say "bm-migrate hot-sync (the origin keeps serving), twice"
bm hot-sync
bm hot-sync -q
say "bm-migrate cold-sync --yes (the downtime)"
bm cold-sync --yes
say "bm-migrate verify"
bm verify
say "The lab's own comparison of the two hosts (an oracle independent of bm-migrate)"
for role in origin target; do
  bash lab/lab.sh exec "$role" --name "$NAME" -- "$TSX" "$PWD/lab/manifest.ts" --db bj,bj-data --out "/tmp/bm-demo-$NAME-$role.jsonl"
done
"$TSX" lab/compare.ts "/tmp/bm-demo-$NAME-origin.jsonl" "/tmp/bm-demo-$NAME-target.jsonl"
rm -f /tmp/bm-demo-"$NAME"-*.jsonl
say "bm-migrate swap --apply (the target takes the origin's address), then post"
bm swap --apply
bm post
say "bm-migrate status and report"
bm status
bm report
bash lab/lab.sh exec target --name "$NAME" -- bash -c 'grep "\"type\":\"downtime\"" /var/lib/bm-migrate/journal.jsonl | tail -1' \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(`\nDowntime (cold sync, services stopped to end of copy): ${(r.ms/1000).toFixed(1)} s`)})'
