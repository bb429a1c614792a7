/**
 * Stopping and starting BlueMind's services, as the procedure does: `bmctl` for BlueMind,
 * the init system for postfix and PostgreSQL (systemctl where systemd runs, service otherwise).
 * bmctl does not stop postfix, and on some versions not PostgreSQL. Whether they run is decided by
 * serviceState.ts, never by bmctl's exit code.
 */

/** A shell function that drives a service with whichever init system the host runs. */
const SVC = `svc() { if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl "$2" "$1"; else service "$1" "$2"; fi; }`;

export const stopBlueMindScript = `${SVC}
set -e
bmctl stop
svc postfix stop`;

export const startBlueMindScript = `${SVC}
set -e
svc postfix start
bmctl start`;

/** Start PostgreSQL when it is not running (pg_dump and the restore need it). */
export const ensurePostgresScript = `${SVC}
if ! svc postgresql status >/dev/null 2>&1; then svc postgresql start; fi
for i in $(seq 1 60); do pg_isready -q -h localhost && exit 0; sleep 0.5; done
echo "PostgreSQL does not answer on localhost:5432" >&2; exit 1`;

/** Keep BlueMind and postfix from starting at boot (after the swap the origin must stay quiet). */
export const disableAtBootScript = `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable bluemind.target postfix 2>/dev/null || systemctl disable postfix
else
  for s in postfix bm-core bluemind; do [ -e /etc/init.d/$s ] && update-rc.d $s disable 2>/dev/null; done; true
fi`;
