/**
 * The swap as a plan of idempotent steps (phase `swap`), built from facts read beforehand:
 * stop the origin for good, then either move its address onto the target (default) or apply
 * BlueMind's address-change steps on the target (`--keep-target-ip`), then start BlueMind on the
 * target and check that it answers. Every step can run again after a crash: each one first looks
 * whether its work is already done.
 */
import { SERVICE_STATE_SCRIPT, parseServiceState } from "../bluemind/serviceState.js";
import { FENCEABLE, liftFence } from "./fenceSteps.js";
import { FENCE_LIFTED } from "../engine/records.js";
import { sleep } from "../engine/sleep.js";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  statSync,
  chmodSync,
} from "node:fs";
import { dirname } from "node:path";
import type { Host } from "../adapters/host.js";
import { failure, shellQuote, type ProcessResult } from "../adapters/process.js";
import { psqlAsPostgres } from "../adapters/postgres.js";
import {
  disableAtBootScript,
  ensurePostgresScript,
  startBlueMindScript,
  stopBlueMindScript,
} from "../bluemind/services.js";
import { StepFailed } from "../engine/errors.js";
import type { Plan, Stage, Step, StepResult } from "../engine/plan.js";
import { editNetworkConfig, type FlavourChoice, type NetworkEdit } from "../network/config.js";
import {
  ADDRESS_TABLES,
  BM_INI,
  CYRUS_REPLICATION,
  existingTablesSql,
  ipChangeSql,
  parseIpChangeCounts,
  setCoreSyncHost,
  setIniValues,
} from "../network/ipChange.js";
import { statePaths } from "../engine/paths.js";

export type SwapMode = "takeover" | "keep-target-ip";

/** Everything the plan is built from (journaled as the `swap` record, so a resume has it). */
export interface SwapFacts {
  mode: SwapMode;
  originIp: string;
  targetIp: string;
  prefix: number;
  /** The target's interface on the origin's network. */
  iface: string;
  /** The origin's interface carrying its address. */
  originIface: string;
  originPower: "off" | "keep";
  releaseAddress: boolean;
  /** Takeover: how the target keeps addresses across reboots. */
  network?: FlavourChoice & { nmRunning: boolean };
  externalUrl?: string;
}

/** BlueMind's ports, checked after the start: which listen is reported, the core's is awaited. */
export const BLUEMIND_PORTS: { port: number; what: string }[] = [
  { port: 25, what: "smtp" },
  { port: 587, what: "submission" },
  { port: 143, what: "imap" },
  { port: 993, what: "imaps" },
  { port: 80, what: "http" },
  { port: 443, what: "https" },
  { port: 8090, what: "bm-core" },
];
export const CORE_PORT = 8090;

export interface SwapDeps {
  /** The origin, connected on first use (a resumed swap may find it already gone). */
  origin: () => Promise<Host>;
  /** Close the SSH master: done before the address moves. */
  closeOrigin: () => Promise<void>;
  target: Host;
  stateDir: string;
  /** Files of the target (this machine). */
  readFile: (path: string) => string | undefined;
  writeFile: (path: string, text: string) => void;
  /** How long the origin's address may keep answering once told to go (ms). */
  goneTimeoutMs: number;
  /** How long BlueMind may take to answer after its start (ms). */
  startTimeoutMs: number;
  pollMs?: number;
  /** Steps once the target runs (BlueMind's repairs, the carried postfix queue): the last stage. */
  afterStart?: Step[];
}

export function readLocalFile(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

/** Write a file keeping its mode (a new one gets 0600: netplan wants no more). */
export function writeLocalFile(path: string, text: string): void {
  const mode = existsSync(path) ? statSync(path).mode & 0o777 : 0o600;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

/** The target's network configuration edit for the facts, computed from the files as they are now. */
export function networkEdit(
  f: SwapFacts,
  read: (p: string) => string | undefined,
): NetworkEdit | { problem: string } {
  if (!f.network) return { problem: "no network configuration form was found on the target" };
  const files: Record<string, string | undefined> = {};
  for (const p of f.network.files) files[p] = read(p);
  return editNetworkConfig(f.network, files, f.iface, f.originIp, f.prefix, f.network.nmRunning);
}

/**
 * The shell lines that find the sshd process serving this session (the first ancestor named sshd):
 * it ends when the target closes its connection, which is the moment the address may go.
 */
const SESSION_SSHD = `p=$$; while [ "$p" -gt 1 ]; do case "$(cat /proc/$p/comm 2>/dev/null)" in sshd*) break ;; esac; p=$(cut -d' ' -f4 /proc/$p/stat 2>/dev/null || echo 1); done`;

/**
 * The script that takes the origin off the network, detached: the session must not wait on it.
 * No fixed wait: the detached part waits until the sshd process of this session has ended (the
 * target closes its connection as soon as this script returns), then releases the address at
 * once (in takeover, always: the address is free when it is removed, not when a power-off gets
 * round to the network), then powers off. Without an sshd ancestor (not run over SSH): 1 s.
 */
export function originOffScript(f: SwapFacts): string {
  const actions: string[] = [];
  if (f.releaseAddress || f.mode === "takeover")
    actions.push(`ip addr del ${f.originIp}/${f.prefix} dev ${shellQuote(f.originIface)}`);
  if (f.originPower === "off") actions.push("poweroff");
  const wait = `if [ "$0" -gt 1 ]; then i=0; while kill -0 "$0" 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.02; i=$((i + 1)); done; else sleep 1; fi`;
  return `${SESSION_SSHD}\nsetsid sh -c ${shellQuote(`${wait}; ${actions.join("; ")}`)} "$p" >/dev/null 2>&1 </dev/null &`;
}

/** Connect timeout of one probe of the origin's address: a host on the same link answers in well under it. */
export const PROBE_TIMEOUT_S = 0.1;
/** Consecutive silent probes before the address counts as free. */
export const SILENT_PROBES = 2;

/**
 * Does anything answer on ADDR:PORT, seen from the target? A refusal is an answer too. A released
 * address does not answer at all: the probe then ends after its timeout.
 */
export async function addressAnswers(
  target: Host,
  ip: string,
  signal?: AbortSignal,
  timeoutS = 2,
  port = 22,
): Promise<boolean> {
  const r = await target.sh(`timeout ${timeoutS} bash -c ${shellQuote(`exec 3<>/dev/tcp/${ip}/${port}`)}`, {
    timeoutMs: 10_000,
    ...(signal ? { signal } : {}),
  });
  return r.exitCode === 0 || /refused/i.test(r.stderr);
}

function must(host: Host, r: ProcessResult, hint: string): void {
  if (r.exitCode !== 0) throw failure(host.label, r, hint);
}

/** Keep the file as it was before the swap's first change, under <stateDir>/swap-before/. */
function backup(stateDir: string, path: string, read: (p: string) => string | undefined): string | undefined {
  const to = statePaths(stateDir).swapBefore(path);
  if (existsSync(to)) return to;
  const current = read(path);
  if (current === undefined) return undefined;
  mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
  if (existsSync(path)) copyFileSync(path, to);
  else writeFileSync(to, current);
  return to;
}

// ---------------------------------------------------------------------------------------------
// Origin

function stopOriginStep(f: SwapFacts, d: SwapDeps): Step {
  return {
    id: "origin:disable",
    title: "Keep BlueMind and postfix stopped on the origin, also at boot",
    host: "origin",
    commands: [
      "bmctl stop; service postfix stop",
      "systemctl disable bluemind.target postfix (or update-rc.d ... disable)",
      `ALTER DATABASE <each of ${FENCEABLE.join(", ")} there> RESET default_transaction_read_only  (the cold sync's fence, as postgres)`,
    ],
    async run(ctx) {
      if (!(await addressAnswers(d.target, f.originIp, ctx.signal)))
        return { summary: `the origin no longer answers at ${f.originIp}: already done` };
      const origin = await d.origin();
      // One round trip: the stop (set -e), then the boot configuration.
      ctx.logCommand(origin.label, "bmctl stop; svc postfix stop; systemctl disable bluemind.target postfix");
      const r = await origin.sh(`${stopBlueMindScript}\nset +e\n${disableAtBootScript}`, {
        signal: ctx.signal,
        timeoutMs: 15 * 60_000,
      });
      must(
        origin,
        r,
        "stop BlueMind and postfix on the origin by hand and disable them at boot, then run: bm-migrate swap --apply",
      );
      // The cold sync's fence goes with the origin's service: its databases are its own again
      // (were it ever started, BlueMind could write), never left read-only behind the swap.
      // Never in the swap's way (the origin is leaving): a failure is said, with what to run.
      const lifted = await liftFence(origin, FENCEABLE, ctx.signal).then(
        () => true,
        (err: unknown) => {
          ctx.events.emit({
            type: "warning",
            step: "origin:disable",
            message: `the origin's databases may still be read-only (the cold sync's fence): ${err instanceof Error ? err.message : String(err)}; before the origin ever serves again, as postgres there: ALTER DATABASE <each of ${FENCEABLE.join(", ")}> RESET default_transaction_read_only`,
          });
          return false;
        },
      );
      return {
        summary: `BlueMind and postfix stopped and disabled at boot on the origin${lifted ? ", the fence lifted" : ""}`,
        ...(lifted ? { data: { [FENCE_LIFTED]: FENCEABLE } } : {}),
      };
    },
  };
}

function originOffStep(f: SwapFacts, d: SwapDeps): Step {
  const what = [f.releaseAddress ? `release ${f.originIp}` : "", f.originPower === "off" ? "power off" : ""]
    .filter(Boolean)
    .join(", then ");
  return {
    id: "origin:off",
    title: `Take the origin off the network (${what})`,
    host: "origin",
    commands: [originOffScript(f)],
    async run(ctx) {
      if (!(await addressAnswers(d.target, f.originIp, ctx.signal))) {
        await d.closeOrigin();
        return { summary: `the origin no longer answers at ${f.originIp}: already done` };
      }
      const origin = await d.origin();
      const script = originOffScript(f);
      ctx.logCommand(origin.label, script);
      const r = await origin.sh(script, { signal: ctx.signal, timeoutMs: 30_000 });
      must(origin, r, `take the origin off the network by hand (${what}), then run: bm-migrate swap --apply`);
      // Nothing more goes to the origin: close the master before its address goes away.
      await d.closeOrigin();
      return { summary: `told the origin to ${what} (detached); SSH connection closed` };
    },
  };
}

function originGoneStep(f: SwapFacts, d: SwapDeps): Step {
  return {
    id: "origin:gone",
    title: `Wait until nothing answers at ${f.originIp} any more`,
    host: "target",
    commands: [
      `until ${SILENT_PROBES} probes in a row of ${f.originIp}:22 get no answer within ${PROBE_TIMEOUT_S * 1000} ms (a refusal is an answer); no sleep between probes`,
    ],
    async run(ctx) {
      const t0 = Date.now();
      let silent = 0;
      let probes = 0;
      for (;;) {
        probes++;
        const answers = await addressAnswers(d.target, f.originIp, ctx.signal, PROBE_TIMEOUT_S);
        if (ctx.signal.aborted) throw new StepFailed("origin:gone", "interrupted");
        silent = answers ? 0 : silent + 1;
        if (silent >= SILENT_PROBES)
          return {
            summary: `${f.originIp} is free after ${((Date.now() - t0) / 1000).toFixed(2)} s (${probes} probes)`,
            data: { ms: Date.now() - t0, probes },
          };
        if (Date.now() - t0 > d.goneTimeoutMs)
          throw new StepFailed(
            "origin:gone",
            `${f.originIp} still answers ${Math.round(d.goneTimeoutMs / 1000)} s after the origin was told to go: adding it on the target now would duplicate it`,
            {
              hint: `switch the origin off (or remove ${f.originIp} from its ${f.originIface}) by hand, then run: bm-migrate swap --apply`,
            },
          );
        // An answer (a refusal comes back at once): probe again soon, not in a busy loop.
        if (answers) await sleep(d.pollMs ?? 50, ctx.signal);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Takeover

function addressLiveStep(f: SwapFacts, d: SwapDeps): Step {
  const cidr = `${f.originIp}/${f.prefix}`;
  return {
    id: "address:live",
    title: `Add ${cidr} to the target's ${f.iface}`,
    host: "target",
    commands: [`ip addr add ${cidr} dev ${f.iface}`],
    async run(ctx) {
      const shown = await d.target.run(["ip", "-o", "-4", "addr", "show", "dev", f.iface], {
        signal: ctx.signal,
      });
      must(d.target, shown, `check the interface ${f.iface} on the target`);
      if (!shown.stdout.includes(` ${cidr} `) && !shown.stdout.includes(` ${cidr}\n`)) {
        ctx.logCommand(d.target.label, `ip addr add ${cidr} dev ${f.iface}`);
        const r = await d.target.run(["ip", "addr", "add", cidr, "dev", f.iface], { signal: ctx.signal });
        if (r.exitCode !== 0 && !/File exists/.test(r.stderr))
          throw failure(
            d.target.label,
            r,
            `add the address by hand (ip addr add ${cidr} dev ${f.iface}), then run: bm-migrate swap --apply`,
          );
      }
      return { summary: `${cidr} is on ${f.iface}` };
    },
  };
}

/**
 * A gratuitous ARP from the interface that now has the address, without iputils' arping: one
 * request whose sender and target are the address, broadcast (what `arping -U` sends).
 * Python 3 is on every current Debian, Ubuntu and RHEL; a raw packet socket needs root.
 */
export const GARP_PY = `import socket, struct, sys
iface, ip = sys.argv[1], socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
mac = s.getsockname()[4]
s.send(b"\\xff" * 6 + mac + b"\\x08\\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\\x00" * 6 + ip)
print("sent")`;

/** The announcement script: arping -U when installed (its later repeats detached), else Python. */
export function announceScript(iface: string, ip: string): string {
  return `if command -v arping >/dev/null 2>&1; then
  arping -q -c 1 -U -I ${shellQuote(iface)} ${ip} >/dev/null 2>&1 && echo arping
  setsid arping -q -c 2 -U -I ${shellQuote(iface)} ${ip} >/dev/null 2>&1 </dev/null &
elif command -v python3 >/dev/null 2>&1; then
  python3 -c ${shellQuote(GARP_PY)} ${shellQuote(iface)} ${ip} 2>&1 | sed 's/^sent$/python3/'
else
  echo none
fi`;
}

function announceStep(f: SwapFacts, d: SwapDeps): Step {
  return {
    id: "address:announce",
    title: `Announce ${f.originIp} from the target (gratuitous ARP)`,
    host: "target",
    commands: [`arping -U -I ${f.iface} ${f.originIp} (or the same packet from python3)`],
    async run(ctx) {
      // Neighbours (the gateway, clients) still map the address to the origin's hardware address.
      const r = await d.target.sh(announceScript(f.iface, f.originIp), {
        signal: ctx.signal,
        timeoutMs: 15_000,
      });
      const how = r.stdout.trim().split("\n")[0] ?? "";
      if (how === "arping" || how === "python3")
        return { summary: `gratuitous ARP sent (${how})`, data: { tool: how } };
      ctx.events.emit({
        type: "warning",
        step: "address:announce",
        message: `no gratuitous ARP sent from the target (${how === "none" ? "neither arping nor python3 is installed" : how.slice(0, 200)}): neighbours learn the new place of ${f.originIp} when their ARP entry expires (install iputils-arping to announce it at once)`,
      });
      return { summary: "not announced (no tool)", data: { tool: "none" } };
    },
  };
}

function addressPersistentStep(f: SwapFacts, d: SwapDeps): Step {
  const path = f.network?.files[0] ?? "(none)";
  return {
    id: "address:persistent",
    title: `Keep ${f.originIp}/${f.prefix} on ${f.iface} across reboots (${f.network?.flavour ?? "?"})`,
    host: "target",
    commands: [`edit ${path} (the diff shown by bm-migrate swap), backup in <state-dir>/swap-before/`],
    async run(ctx) {
      const edit = networkEdit(f, d.readFile);
      if ("problem" in edit)
        throw new StepFailed("address:persistent", edit.problem, {
          hint: `add ${f.originIp}/${f.prefix} to ${f.iface} in the system's network configuration by hand`,
        });
      if (edit.before === edit.after) return { summary: `${edit.path} already has the address` };
      const saved = backup(d.stateDir, edit.path, d.readFile);
      ctx.logCommand(d.target.label, `write ${edit.path}`);
      d.writeFile(edit.path, edit.after);
      for (const argv of edit.reload) {
        ctx.logCommand(d.target.label, argv.join(" "));
        const r = await d.target.run(argv, { signal: ctx.signal, timeoutMs: 120_000 });
        if (r.exitCode !== 0) {
          if (saved) d.writeFile(edit.path, readFileSync(saved, "utf8"));
          throw failure(
            d.target.label,
            r,
            `${edit.path} was put back as it was; fix the cause, then run: bm-migrate swap --apply`,
          );
        }
      }
      return {
        summary: `${edit.path} (${edit.flavour}) now has ${f.originIp}/${f.prefix}${saved ? `; before: ${saved}` : ""}`,
        data: { path: edit.path, flavour: edit.flavour, ...(saved ? { backup: saved } : {}) },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Keep the target's address: BlueMind's own IP-change steps

function ipChangeFilesStep(f: SwapFacts, d: SwapDeps): Step {
  return {
    id: "ip-change:files",
    title: `Tell bm.ini and Cyrus the server's address is ${f.targetIp}`,
    host: "target",
    commands: [
      `${BM_INI}: host = ${f.targetIp}, hz-member-address = ${f.targetIp}`,
      `${CYRUS_REPLICATION}: core_sync_host: ${f.targetIp} (when the file exists)`,
    ],
    run(ctx) {
      return Promise.resolve(editIpFiles(f, d, (h, c) => ctx.logCommand(h, c)));
    },
  };
}

/** bm.ini and cyrus-replication with the target's address (each kept first under swap-before/). */
function editIpFiles(
  f: SwapFacts,
  d: SwapDeps,
  logCommand: (host: string, command: string) => void,
): StepResult {
  const done: string[] = [];
  const ini = d.readFile(BM_INI);
  if (ini === undefined) throw new StepFailed("ip-change:files", `${BM_INI} is missing on the target`);
  const edited = setIniValues(ini, "global", { host: f.targetIp, "hz-member-address": f.targetIp });
  if (edited.text !== ini) {
    backup(d.stateDir, BM_INI, d.readFile);
    logCommand(d.target.label, `write ${BM_INI}`);
    d.writeFile(BM_INI, edited.text);
    done.push(`bm.ini ${edited.changed.join(", ")}`);
  }
  const cyrus = d.readFile(CYRUS_REPLICATION);
  if (cyrus !== undefined) {
    const after = setCoreSyncHost(cyrus, f.targetIp);
    if (after !== cyrus) {
      backup(d.stateDir, CYRUS_REPLICATION, d.readFile);
      logCommand(d.target.label, `write ${CYRUS_REPLICATION}`);
      d.writeFile(CYRUS_REPLICATION, after);
      done.push("core_sync_host");
    }
  }
  return { summary: done.length ? `set to ${f.targetIp}: ${done.join("; ")}` : "already set" };
}

function ipChangeDatabaseStep(f: SwapFacts, d: SwapDeps): Step {
  return {
    id: "ip-change:database",
    title: `Replace ${f.originIp} by ${f.targetIp} in BlueMind's databases`,
    host: "target",
    commands: Object.entries(ADDRESS_TABLES).map(
      ([db, tables]) => `psql -d ${db}: ${tables.join(", ")} where they hold ${f.originIp} (as postgres)`,
    ),
    async run(ctx) {
      const pg = await d.target.sh(ensurePostgresScript, { signal: ctx.signal, timeoutMs: 120_000 });
      must(
        d.target,
        pg,
        "start PostgreSQL on the target (service postgresql start), then run: bm-migrate swap --apply",
      );
      const counts: Record<string, number> = {};
      for (const [db, tables] of Object.entries(ADDRESS_TABLES)) {
        const present = await psqlAsPostgres(existingTablesSql(tables), db, ctx.signal);
        if (present.exitCode !== 0) {
          if (/does not exist/.test(present.stderr)) continue; // 3.5 has no bj-data
          throw failure(
            d.target.label,
            present,
            "check PostgreSQL on the target, then run: bm-migrate swap --apply",
          );
        }
        const found = present.stdout.trim().split(",").filter(Boolean);
        if (!found.length) continue;
        ctx.logCommand(d.target.label, `psql -d ${db} (update ${found.join(", ")})`);
        const r = await psqlAsPostgres(ipChangeSql(found, f.originIp, f.targetIp), db, ctx.signal);
        must(d.target, r, "fix the cause, then run: bm-migrate swap --apply");
        for (const [k, n] of Object.entries(parseIpChangeCounts(r.stdout))) counts[`${db}:${k}`] = n;
      }
      const list = Object.entries(counts).map(([k, n]) => `${k} ${n}`);
      return {
        summary: list.length ? `rows changed: ${list.join(", ")}` : "no address table found",
        data: { counts },
      };
    },
  };
}

function reconfigureStep(d: SwapDeps): Step {
  return {
    id: "ip-change:reconfigure",
    title: "Let BlueMind regenerate its configuration (bm-cli tick reconfigure)",
    host: "target",
    commands: ["bm-cli tick reconfigure (when bm-cli is installed)"],
    async run(ctx) {
      const r = await d.target.sh(
        "if command -v bm-cli >/dev/null 2>&1; then bm-cli tick reconfigure && echo ran; else echo absent; fi",
        { signal: ctx.signal, timeoutMs: 15 * 60_000 },
      );
      must(d.target, r, "run bm-cli tick reconfigure by hand");
      return {
        summary: r.stdout.includes("ran")
          ? "bm-cli tick reconfigure done"
          : "bm-cli is not installed here: skipped",
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Target services

function startTargetStep(d: SwapDeps): Step {
  return {
    id: "start:target",
    title: "Start postfix and BlueMind on the target",
    host: "target",
    commands: ["service postfix start (or systemctl)", "bmctl start"],
    async run(ctx) {
      for (const script of [ensurePostgresScript, startBlueMindScript]) {
        const r = await d.target.sh(script, { signal: ctx.signal, timeoutMs: 15 * 60_000 });
        must(
          d.target,
          r,
          "start BlueMind by hand (service postfix start; bmctl start), then run: bm-migrate swap --apply",
        );
      }
      return { summary: "postfix and BlueMind started", data: { startedAt: new Date().toISOString() } };
    },
  };
}

/** `ss -ltnH` output to the listening TCP ports. */
export function listeningPorts(ssOut: string): Set<number> {
  const ports = new Set<number>();
  for (const line of ssOut.split("\n")) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m) ports.add(Number(m[1]));
  }
  return ports;
}

/** How often the target is asked whether BlueMind answers, while it starts. */
const CHECK_POLL_MS = 100;

/**
 * BlueMind answers when its core accepts a connection at the address users reach (the origin's, in
 * a takeover), bmctl reports it running and postfix runs. The moment it first does is the end of
 * the outage (`answeringAt`, journaled).
 */
function checkTargetStep(f: SwapFacts, d: SwapDeps): Step {
  const ip = f.mode === "takeover" ? f.originIp : f.targetIp;
  return {
    id: "check:target",
    title: `Check that BlueMind answers at ${ip} and postfix runs on the target`,
    host: "target",
    commands: [
      `connect to ${ip}:${CORE_PORT} (the core), every ${CHECK_POLL_MS} ms until it answers`,
      "systemctl is-active bluemind.target bm-core postfix (or: bm-core's process, service postfix status)",
      "ss -ltnH (ports 25, 587, 143, 993, 80, 443, 8090)",
    ],
    async run(ctx) {
      const t0 = Date.now();
      let last = "";
      for (;;) {
        const r = await d.target.sh(
          `timeout 1 bash -c ${shellQuote(`exec 3<>/dev/tcp/${ip}/${CORE_PORT}`)} 2>/dev/null && echo core=ok\n${SERVICE_STATE_SCRIPT}\necho ---; ss -ltnH`,
          { signal: ctx.signal, timeoutMs: 60_000 },
        );
        const at = new Date().toISOString();
        const [head = "", ss = ""] = r.stdout.split("---\n");
        const ports = listeningPorts(ss);
        const core = head.includes("core=ok");
        const state = parseServiceState(head);
        const bm = state.bluemind === "running";
        const postfix = state.postfix === "running";
        last = `BlueMind ${state.bluemind} (${state.bluemindEvidence}), postfix ${state.postfix}, the core ${core ? "answers" : "does not answer"} at ${ip}:${CORE_PORT}`;
        if (bm && postfix && core) {
          const up = BLUEMIND_PORTS.filter((p) => ports.has(p.port));
          const down = BLUEMIND_PORTS.filter((p) => !ports.has(p.port));
          if (down.length)
            ctx.events.emit({
              type: "warning",
              step: "check:target",
              message: `not listening on the target: ${down.map((p) => `${p.port} (${p.what})`).join(", ")}`,
            });
          return {
            summary: `BlueMind answers at ${ip}:${CORE_PORT} ${((Date.now() - t0) / 1000).toFixed(2)} s after the check began, postfix runs; listening: ${up.map((p) => `${p.port} (${p.what})`).join(", ")}`,
            data: {
              answeringAt: at,
              address: ip,
              listening: up.map((p) => p.port),
              notListening: down.map((p) => p.port),
            },
          };
        }
        if (ctx.signal.aborted) throw new StepFailed("check:target", "interrupted");
        if (Date.now() - t0 > d.startTimeoutMs)
          throw new StepFailed(
            "check:target",
            `BlueMind does not answer ${Math.round(d.startTimeoutMs / 1000)} s after its start: ${last}`,
            {
              hint: "look at /var/log/bm/core.log and systemctl status bluemind.target (or bmctl status) on the target, then run: bm-migrate swap --apply",
            },
          );
        await sleep(d.pollMs ?? CHECK_POLL_MS, ctx.signal);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

export function swapPlan(f: SwapFacts, d: SwapDeps): Plan {
  const originOff = f.originPower === "off" || f.releaseAddress;
  const stages: Stage[] = [{ name: "Stop the origin for good", steps: [stopOriginStep(f, d)] }];
  if (originOff) stages.push({ name: "Take the origin off the network", steps: [originOffStep(f, d)] });
  if (f.mode === "takeover") {
    stages.push(
      { name: "Make sure the origin's address is free", steps: [originGoneStep(f, d)] },
      { name: `Give the target ${f.originIp}`, steps: [addressLiveStep(f, d)] },
      {
        // BlueMind starts as soon as the address is here; the rest overlaps its start.
        name: "Start BlueMind on the target and check it answers; announce and keep the address",
        steps: [
          startTargetStep(d),
          announceStep(f, d),
          addressPersistentStep(f, d),
          { ...checkTargetStep(f, d), waitFor: ["start:target"] },
        ],
      },
    );
  } else {
    stages.push(
      {
        name: `BlueMind's address change to ${f.targetIp}`,
        steps: [ipChangeFilesStep(f, d), ipChangeDatabaseStep(f, d)],
      },
      { name: "Start BlueMind on the target", steps: [startTargetStep(d)] },
      { name: "Check the target", steps: [checkTargetStep(f, d)] },
      { name: "Reconfigure BlueMind", steps: [reconfigureStep(d)] },
    );
  }
  if (d.afterStart?.length)
    stages.push({ name: "Repairs and the carried mail on the running target", steps: d.afterStart });
  return { phase: "swap", stages };
}
