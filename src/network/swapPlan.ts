/**
 * The swap as a plan of idempotent steps (phase `swap`), built from facts read beforehand:
 * stop the origin for good, then either move its address onto the target (default) or apply
 * BlueMind's address-change steps on the target (`--keep-target-ip`), then start BlueMind on the
 * target and check that it answers. Every step can run again after a crash: each one first looks
 * whether its work is already done.
 */
import { SERVICE_STATE_SCRIPT, parseServiceState } from "../bluemind/serviceState.js";
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
import { dirname, join } from "node:path";
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
import { editNetworkConfig, type FlavourChoice, type NetworkEdit } from "./config.js";
import {
  ADDRESS_TABLES,
  BM_INI,
  CYRUS_REPLICATION,
  existingTablesSql,
  ipChangeSql,
  parseIpChangeCounts,
  setCoreSyncHost,
  setIniValues,
} from "./ipChange.js";

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

/** The script that takes the origin off the network, detached: the session must not wait on it. */
export function originOffScript(f: SwapFacts): string {
  const actions: string[] = [];
  if (f.releaseAddress)
    actions.push(`ip addr del ${f.originIp}/${f.prefix} dev ${shellQuote(f.originIface)}`);
  if (f.originPower === "off") actions.push("poweroff");
  return `setsid sh -c ${shellQuote(`sleep 1; ${actions.join("; ")}`)} >/dev/null 2>&1 </dev/null &`;
}

/** Does anything answer on ADDR:22, seen from the target? A refusal is an answer too. */
export async function addressAnswers(target: Host, ip: string, signal?: AbortSignal): Promise<boolean> {
  const r = await target.sh(`timeout 2 bash -c ${shellQuote(`exec 3<>/dev/tcp/${ip}/22`)}`, {
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
  const to = join(stateDir, "swap-before", path);
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
    ],
    async run(ctx) {
      if (!(await addressAnswers(d.target, f.originIp, ctx.signal)))
        return { summary: `the origin no longer answers at ${f.originIp}: already done` };
      const origin = await d.origin();
      for (const script of [stopBlueMindScript, disableAtBootScript]) {
        ctx.logCommand(origin.label, script.split("\n").at(-1) ?? script);
        const r = await origin.sh(script, { signal: ctx.signal, timeoutMs: 15 * 60_000 });
        must(
          origin,
          r,
          "stop BlueMind and postfix on the origin by hand and disable them at boot, then run: bm-migrate swap --apply",
        );
      }
      return { summary: "BlueMind and postfix stopped and disabled at boot on the origin" };
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
    commands: [`until ! timeout 2 bash -c '</dev/tcp/${f.originIp}/22'; do sleep 1; done`],
    async run(ctx) {
      const t0 = Date.now();
      for (;;) {
        if (!(await addressAnswers(d.target, f.originIp, ctx.signal)))
          return {
            summary: `${f.originIp} is free after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
            data: { ms: Date.now() - t0 },
          };
        if (ctx.signal.aborted) throw new StepFailed("origin:gone", "interrupted");
        if (Date.now() - t0 > d.goneTimeoutMs)
          throw new StepFailed(
            "origin:gone",
            `${f.originIp} still answers ${Math.round(d.goneTimeoutMs / 1000)} s after the origin was told to go: adding it on the target now would duplicate it`,
            {
              hint: `switch the origin off (or remove ${f.originIp} from its ${f.originIface}) by hand, then run: bm-migrate swap --apply`,
            },
          );
        await sleep(d.pollMs ?? 1000, ctx.signal);
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
    commands: [
      `ip addr add ${cidr} dev ${f.iface}`,
      `arping -c 2 -U -I ${f.iface} ${f.originIp} (when installed)`,
    ],
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
      // Tell the neighbours at once that the address now lives here (their caches still name the origin).
      const garp = await d.target.sh(
        `if command -v arping >/dev/null 2>&1; then arping -q -c 2 -U -I ${shellQuote(f.iface)} ${f.originIp} >/dev/null 2>&1 || true; echo sent; fi`,
        { signal: ctx.signal, timeoutMs: 15_000 },
      );
      const announced = garp.stdout.includes("sent") ? "; announced by gratuitous ARP" : "";
      return { summary: `${cidr} is on ${f.iface}${announced}` };
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
      return { summary: "postfix and BlueMind started" };
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

function checkTargetStep(d: SwapDeps): Step {
  return {
    id: "check:target",
    title: "Check that BlueMind and postfix answer on the target",
    host: "target",
    commands: [
      "systemctl is-active bluemind.target bm-core postfix (or: bm-core's process, service postfix status)",
      "ss -ltnH (ports 25, 587, 143, 993, 80, 443, 8090)",
    ],
    async run(ctx) {
      const t0 = Date.now();
      let last = "";
      for (;;) {
        const r = await d.target.sh(`${SERVICE_STATE_SCRIPT}\necho ---; ss -ltnH`, {
          signal: ctx.signal,
          timeoutMs: 60_000,
        });
        const [head = "", ss = ""] = r.stdout.split("---\n");
        const ports = listeningPorts(ss);
        const state = parseServiceState(head);
        const bm = state.bluemind === "running";
        const postfix = state.postfix === "running";
        last = `BlueMind ${state.bluemind} (${state.bluemindEvidence}), postfix ${state.postfix}`;
        if (bm && postfix && ports.has(CORE_PORT)) {
          const up = BLUEMIND_PORTS.filter((p) => ports.has(p.port));
          const down = BLUEMIND_PORTS.filter((p) => !ports.has(p.port));
          if (down.length)
            ctx.events.emit({
              type: "warning",
              step: "check:target",
              message: `not listening on the target: ${down.map((p) => `${p.port} (${p.what})`).join(", ")}`,
            });
          return {
            summary: `BlueMind and postfix run; listening: ${up.map((p) => `${p.port} (${p.what})`).join(", ")}`,
            data: { listening: up.map((p) => p.port), notListening: down.map((p) => p.port) },
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
        await sleep(d.pollMs ?? 1000, ctx.signal);
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
      {
        name: `Give the target ${f.originIp}`,
        steps: [addressLiveStep(f, d), addressPersistentStep(f, d)],
      },
      { name: "Start BlueMind on the target", steps: [startTargetStep(d)] },
      { name: "Check the target", steps: [checkTargetStep(d)] },
    );
  } else {
    stages.push(
      {
        name: `BlueMind's address change to ${f.targetIp}`,
        steps: [ipChangeFilesStep(f, d), ipChangeDatabaseStep(f, d)],
      },
      { name: "Start BlueMind on the target", steps: [startTargetStep(d)] },
      { name: "Check the target", steps: [checkTargetStep(d)] },
      { name: "Reconfigure BlueMind", steps: [reconfigureStep(d)] },
    );
  }
  if (d.afterStart?.length)
    stages.push({ name: "Repairs and the carried mail on the running target", steps: d.afterStart });
  return { phase: "swap", stages };
}
