/**
 * Stopping and starting BlueMind's services, as the procedure does: `bmctl` for BlueMind,
 * the init system for postfix and PostgreSQL (systemctl where systemd runs, service otherwise).
 * bmctl does not stop postfix, and on some versions not PostgreSQL.
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

/** Prints one line per service: name state. */
export const serviceStateScript = `${SVC}
st() { if "$@" >/dev/null 2>&1; then echo running; else echo stopped; fi; }
echo "bluemind $(st bmctl status)"
echo "postfix $(st svc postfix status)"
echo "postgresql $(st svc postgresql status)"
if [ -d /run/systemd/system ]; then echo "init systemd"; else echo "init sysv"; fi`;

/** Keep BlueMind and postfix from starting at boot (after the swap the origin must stay quiet). */
export const disableAtBootScript = `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl disable bluemind.target postfix 2>/dev/null || systemctl disable postfix
else
  for s in postfix bm-core bluemind; do [ -e /etc/init.d/$s ] && update-rc.d $s disable 2>/dev/null; done; true
fi`;
