/**
 * Whether BlueMind, postfix and PostgreSQL run on a host, decided from the system itself. The one
 * place every command asks (check, hot and cold sync, verify, swap, rollback, status).
 *
 * Never from bmctl's exit code: since bm-conf's systemd version (2020-01, about 4.2), `bmctl status`
 * exits 0 when BlueMind is cleanly stopped as well as when it runs, and 1 only when a unit's state
 * disagrees with bluemind.target's (mdhender/bluemindfork packaging/bm-conf/ROOT/usr/bin/bmctl,
 * status_bm_stopped / status_bm_started). So:
 * - where systemd runs: `systemctl is-active` of bluemind.target (what `bmctl start|stop` drive,
 *   packaging/bm-conf/debian/bm-conf.bluemind.target) and of bm-core;
 * - otherwise (4.1 and older use `service bm-core ...`, packaging/bm-conf/ROOT/usr/bin/bmctl at
 *   2019-07): the core's port 8090, on which bm-core listens on every interface, and bm-core's
 *   process by its pid file (/var/run/bm-core.pid: the init script's usual place, not read from
 *   BlueMind's source; the port alone decides when there is none).
 * Either way the core's port is reported: a core that answers is a BlueMind that runs.
 * postfix and PostgreSQL keep their init system's status (their init scripts answer LSB codes).
 */

/** BlueMind's core listens here on every interface. */
export const CORE_PORT = 8090;

export type RunState = "running" | "stopped";

export interface ServiceState {
  init: "systemd" | "other";
  bluemind: RunState;
  /** What the decision rests on, for messages: "bluemind.target active, core port 8090 listening". */
  bluemindEvidence: string;
  corePortListening: boolean;
  postfix: RunState;
  postgresql: RunState;
}

/**
 * Prints `key=value` lines: init, bluemind, bluemind_evidence, core_port, postfix, postgresql.
 * Reads only; POSIX sh with ss (iproute2) or bash's /dev/tcp as a fallback.
 */
export const SERVICE_STATE_SCRIPT = String.raw`
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
if command -v ss >/dev/null 2>&1; then
  if ss -ltnH 2>/dev/null | awk '{print $4}' | grep -Eq '[:.]${CORE_PORT}$'; then port=1; else port=0; fi
else
  if bash -c 'exec 3<>/dev/tcp/127.0.0.1/${CORE_PORT}' 2>/dev/null; then port=1; else port=0; fi
fi
echo "core_port=$port"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo init=systemd
  t="$(systemctl is-active bluemind.target 2>/dev/null)"; c="$(systemctl is-active bm-core 2>/dev/null)"
  echo "bluemind_evidence=bluemind.target $t, bm-core $c"
  if [ "$t" = active ] || [ "$c" = active ] || [ "$c" = activating ] || [ "$port" = 1 ]; then echo bluemind=running; else echo bluemind=stopped; fi
  for s in postfix postgresql; do
    if systemctl is-active --quiet "$s"; then echo "$s=running"; else echo "$s=stopped"; fi
  done
else
  echo init=other
  pid=""; for f in /run/bm-core.pid /var/run/bm-core.pid; do [ -r "$f" ] && pid="$(cat "$f" 2>/dev/null)" && break; done
  if [ -n "$pid" ] && alive "$pid"; then proc="bm-core process $pid alive"; p=1; else proc="no bm-core process"; p=0; fi
  echo "bluemind_evidence=$proc"
  if [ "$p" = 1 ] || [ "$port" = 1 ]; then echo bluemind=running; else echo bluemind=stopped; fi
  for s in postfix postgresql; do
    if service "$s" status >/dev/null 2>&1; then echo "$s=running"; else echo "$s=stopped"; fi
  done
fi
`;

/** Parse what SERVICE_STATE_SCRIPT printed (other lines are ignored). */
export function parseServiceState(out: string): ServiceState {
  const kv: Record<string, string> = {};
  for (const line of out.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const state = (k: string): RunState => (kv[k] === "running" ? "running" : "stopped");
  const port = kv["core_port"] === "1";
  const evidence = kv["bluemind_evidence"] ?? "unknown";
  return {
    init: kv["init"] === "systemd" ? "systemd" : "other",
    bluemind: state("bluemind"),
    bluemindEvidence: `${evidence}, core port ${CORE_PORT} ${port ? "listening" : "not listening"}`,
    corePortListening: port,
    postfix: state("postfix"),
    postgresql: state("postgresql"),
  };
}

/** One line for people: "BlueMind running (bluemind.target active, ...), postfix stopped". */
export function describeServiceState(s: ServiceState): string {
  return `BlueMind ${s.bluemind} (${s.bluemindEvidence}), postfix ${s.postfix}, PostgreSQL ${s.postgresql}`;
}

/** A host that can run a shell script (the Host adapter). */
export interface ScriptRunner {
  sh(
    script: string,
    opts?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }>;
}

/** Read a host's service state; a host that cannot be asked is an error naming it. */
export async function readServiceState(
  host: ScriptRunner & { label: string },
  signal?: AbortSignal,
): Promise<ServiceState> {
  const r = await host.sh(SERVICE_STATE_SCRIPT, { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0 && !r.stdout.includes("bluemind="))
    throw new Error(
      `could not read the service state on ${host.label}: ${r.stderr.trim().split("\n").at(-1) ?? `exit ${r.exitCode}`}`,
    );
  return parseServiceState(r.stdout);
}
