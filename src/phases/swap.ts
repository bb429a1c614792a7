/**
 * The swap phase (`bm-migrate swap`): the gate, the facts of both servers, the plan (printed, or run
 * through the runner as phase `swap`, journaled and resumable) and the outage it ends. The command
 * parses the flags and hands the gate down: a passing verification is the verification's to judge.
 *
 * Default mode: the origin is stopped for good and leaves the network (powered off, or its address
 * released), the target takes its address live and in its network configuration, then BlueMind
 * starts there. `--keep-target-ip`: the target keeps its own address and BlueMind's address-change
 * steps are applied; the DNS records to change are printed.
 */
import { isIPv4 } from "node:net";
import type { App } from "../engine/app.js";
import { LocalHost, RemoteHost, type Host } from "../adapters/host.js";
import { SshConnection, classifySshFailure } from "../adapters/ssh.js";
import { stderrTail } from "../adapters/process.js";
import { readBmIni } from "../bluemind/bmIni.js";
import { BmError, ConfigError, ExitCode, StepFailed } from "../engine/errors.js";
import type { JournalRecord } from "../engine/journal.js";
import { formatPlan } from "../engine/plan.js";
import { newPassId, runPhase, unfinishedPass } from "../engine/runner.js";
import { foldJournal, outageOf } from "../engine/status.js";
import { formatDuration } from "../engine/format.js";
import { swapAddresses } from "../network/addresses.js";
import { chooseFlavour, networkProbeScript, parseNetworkProbe } from "../network/config.js";
import { unifiedDiff } from "../network/diff.js";
import {
  BM_INI,
  CYRUS_REPLICATION,
  dnsRecordsToChange,
  setCoreSyncHost,
  setIniValues,
} from "../network/ipChange.js";
import {
  networkEdit,
  readLocalFile,
  swapPlan,
  writeLocalFile,
  type SwapDeps,
  type SwapFacts,
  type SwapMode,
} from "./swapPlan.js";
import { OriginUnreachable, requireOrigin } from "./connect.js";
import { PROFILES, profileFor } from "../bluemind/profiles.js";
import { repairStep } from "./repairSteps.js";
import { queueDeliverStep } from "./queueSteps.js";
import { isRecord } from "../engine/records.js";

/**
 * Once the target runs: BlueMind's repairs of the profile the cold sync used, and the delivery of
 * the postfix queue it carried (the profile from the last cold-sync pass's journal record).
 */
function afterStartSteps(records: JournalRecord[], target: Host) {
  const started = records.filter((r) => isRecord(r, "pass-started") && r.phase === "cold-sync").at(-1);
  const id = typeof started?.profile === "string" ? started.profile : undefined;
  const version = typeof started?.originVersion === "string" ? started.originVersion : undefined;
  const profile = (id ? PROFILES[id] : undefined) ?? (version ? profileFor(version) : undefined);
  if (!profile) return [];
  return [
    ...(profile.repairs.length ? [repairStep({ ops: profile.repairs })] : []),
    queueDeliverStep(target, profile.postfixQueue),
  ];
}

/** The swap's options, parsed and checked (see the command's parseSwapFlags). */
export interface SwapFlags {
  apply: boolean;
  force: boolean;
  mode: SwapMode;
  originPower: "off" | "keep";
  releaseAddress: boolean;
  goneTimeoutMs: number;
  startTimeoutMs: number;
}

/** What the swap needs from above it. */
export interface SwapNeeds {
  /** Why the gate is closed now (no passing verification newer than the cold sync), or undefined. */
  gate: (records: JournalRecord[]) => string | undefined;
  /**
   * `run`'s own, after its cold sync and verification: the origin's connection already open, the
   * facts read while the origin still served, the lock already held.
   */
  session?: { ssh: SshConnection; facts?: SwapFacts; locked: boolean };
}

/** The swap would switch the origin off without proof that the target holds everything. */
export class SwapRefused extends BmError {
  readonly exitCode = ExitCode.stepFailed;
}

// ---------------------------------------------------------------------------------------------
// Facts

/** The `swap` journal record of a pass: the facts its plan was built from. */
function journaledFacts(records: JournalRecord[], pass: string): SwapFacts | undefined {
  const r = records.filter((x) => isRecord(x, "swap") && x.pass === pass).at(-1);
  return r && typeof r.facts === "object" && r.facts !== null ? (r.facts as SwapFacts) : undefined;
}

export async function readFacts(
  origin: Host,
  target: Host,
  flags: SwapFlags,
  signal: AbortSignal,
): Promise<SwapFacts> {
  const o = await origin.sh('echo "$SSH_CONNECTION"; echo ---; ip -o -4 addr show', {
    signal,
    timeoutMs: 60_000,
  });
  if (o.exitCode !== 0)
    throw new StepFailed(
      "facts",
      `cannot read the origin's addresses (${origin.label}): ${stderrTail(o.stderr)}`,
    );
  const [sshConnection = "", addrShow = ""] = o.stdout.split("---\n");
  const originIp = sshConnection.trim().split(/\s+/)[2] ?? "";
  const route = isIPv4(originIp)
    ? await target.run(["ip", "-o", "route", "get", originIp], { signal, timeoutMs: 30_000 })
    : undefined;
  const a = swapAddresses(sshConnection, addrShow, route?.stdout ?? "");
  if (!a.ok) {
    throw new ConfigError(`cannot plan the swap: ${a.problem}`, {
      hint:
        flags.mode === "takeover"
          ? "use --keep-target-ip (the target keeps its address; change DNS instead)"
          : "check the network between the servers",
    });
  }
  const ini = readLocalFile(BM_INI);
  const externalUrl = ini ? readBmIni(ini).externalUrl : undefined;
  const facts: SwapFacts = {
    mode: flags.mode,
    ...a.value,
    originPower: flags.originPower,
    releaseAddress: flags.releaseAddress,
    ...(externalUrl ? { externalUrl } : {}),
  };
  if (flags.mode === "takeover") {
    const p = await target.sh(networkProbeScript(a.value.iface), { signal, timeoutMs: 30_000 });
    const probe = parseNetworkProbe(p.stdout);
    const choice = chooseFlavour(probe);
    if ("problem" in choice)
      throw new ConfigError(
        `cannot keep ${a.value.originIp} on the target across reboots: ${choice.problem}`,
        {
          hint: "configure the network in the distribution's usual form first, or use --keep-target-ip",
        },
      );
    facts.network = { ...choice, nmRunning: probe.nmRunning };
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------
// Text

function changesText(f: SwapFacts): string {
  const lines: string[] = [];
  if (f.mode === "takeover") {
    const edit = networkEdit(f, readLocalFile);
    if ("problem" in edit) lines.push(`Network configuration: ${edit.problem}`);
    else {
      lines.push(
        `Network configuration (${edit.flavour}): ${edit.path}${edit.note ? ` (${edit.note})` : ""}`,
        edit.before === edit.after
          ? "  (already has the address: unchanged)"
          : unifiedDiff(edit.path, edit.before, edit.after).trimEnd(),
      );
    }
  } else {
    const ini = readLocalFile(BM_INI);
    if (ini !== undefined) {
      const after = setIniValues(ini, "global", { host: f.targetIp, "hz-member-address": f.targetIp }).text;
      lines.push(after === ini ? `${BM_INI}: unchanged` : unifiedDiff(BM_INI, ini, after).trimEnd());
    }
    const cyrus = readLocalFile(CYRUS_REPLICATION);
    if (cyrus !== undefined) {
      const after = setCoreSyncHost(cyrus, f.targetIp);
      lines.push(
        after === cyrus
          ? `${CYRUS_REPLICATION}: unchanged`
          : unifiedDiff(CYRUS_REPLICATION, cyrus, after).trimEnd(),
      );
    }
    lines.push(
      "DNS records to change (by hand, in your zone):",
      ...dnsRecordsToChange(f.externalUrl, f.originIp, f.targetIp).map((l) => `  ${l}`),
    );
  }
  return lines.join("\n");
}

function describeFacts(f: SwapFacts): string {
  const off = [
    f.releaseAddress ? "its address released" : "",
    f.originPower === "off" ? "powered off" : "left running",
  ]
    .filter(Boolean)
    .join(", ");
  return f.mode === "takeover"
    ? `Swap (take over the address): the origin ${f.originIp}/${f.prefix} (${f.originIface}) is stopped for good (${off}); the target (${f.targetIp}) takes ${f.originIp} on ${f.iface} and keeps its own address.`
    : `Swap (keep the target's address): the origin ${f.originIp} is stopped for good (${off}); BlueMind on the target moves to ${f.targetIp}.`;
}

/** What `post` needs after this swap: the server's addresses now. */
function nextCommand(f: SwapFacts): string {
  return f.mode === "takeover"
    ? "bm-migrate post   (the server kept its address: mynetworks stays as it is)"
    : `bm-migrate post   (mynetworks: ${f.originIp} becomes ${f.targetIp})`;
}

// ---------------------------------------------------------------------------------------------
// The command

/** The outage as the journal measured it (cold sync's stop to BlueMind answering), as an event. */
export function emitOutage(app: App): void {
  const records = app.journal.records();
  const o = outageOf(records);
  if (!o) return;
  const downtime = records.filter((r) => isRecord(r, "downtime")).at(-1);
  app.events.emit({
    type: "outage",
    startedAt: o.startedAt,
    ...(o.endedAt ? { endedAt: o.endedAt } : {}),
    ...(o.ms !== undefined ? { ms: o.ms } : {}),
    ongoing: o.ongoing,
    parts: o.parts,
    ...(typeof downtime?.["ms"] === "number" ? { coldSyncMs: downtime["ms"] } : {}),
  });
}

/**
 * `session`: run's own, after its cold sync and verification: the origin's connection already
 * open, the facts read while the origin still served, the lock already held.
 */
export async function swapPhase(app: App, flags: SwapFlags, needs: SwapNeeds): Promise<number> {
  const session = needs.session;
  const records = app.journal.records();
  const st = foldJournal(records);
  if (st.swappedAt) {
    app.print(`The swap was done at ${st.swappedAt}. Next: bm-migrate post`);
    return ExitCode.ok;
  }
  const open = unfinishedPass(records, "swap");
  const resumedFacts = open ? journaledFacts(records, open) : undefined;
  if (resumedFacts && resumedFacts.mode !== flags.mode)
    throw new ConfigError(`swap pass ${open} was started in mode ${resumedFacts.mode} and is unfinished`, {
      hint: `run it again the same way: bm-migrate swap --apply${resumedFacts.mode === "keep-target-ip" ? " --keep-target-ip" : ""}`,
    });

  const closed = resumedFacts ? undefined : needs.gate(records);
  if (closed && flags.apply && !flags.force)
    throw new SwapRefused(
      `swap refused: ${closed}; the origin is switched off only once the target is proven to hold everything`,
      {
        hint: "run bm-migrate verify (after the cold sync), then bm-migrate swap --apply; or --force to swap anyway",
      },
    );

  requireOrigin(app);
  const lock = flags.apply && !session?.locked;
  if (lock) app.lock.acquire(`bm-migrate swap`);
  const target = new LocalHost("target");
  const ssh = session?.ssh ?? new SshConnection(requireOrigin(app));
  let opened = Boolean(session);
  const origin = async (): Promise<Host> => {
    if (!opened) {
      const failed = await ssh.open();
      if (failed)
        throw new OriginUnreachable(
          ssh.destination,
          classifySshFailure(failed.stderr),
          stderrTail(failed.stderr, 3),
        );
      opened = true;
      app.logCommand("target", `ssh -M ${ssh.destination} (master connection)`);
    }
    return new RemoteHost("origin", ssh);
  };
  const closeOrigin = async (): Promise<void> => {
    if (opened) await ssh.close();
    opened = false;
  };
  try {
    const facts =
      resumedFacts ?? session?.facts ?? (await readFacts(await origin(), target, flags, app.signal));
    const deps: SwapDeps = {
      origin,
      closeOrigin,
      target,
      stateDir: app.settings.stateDir,
      readFile: readLocalFile,
      writeFile: writeLocalFile,
      goneTimeoutMs: flags.goneTimeoutMs,
      startTimeoutMs: flags.startTimeoutMs,
      afterStart: afterStartSteps(records, target),
    };
    const plan = swapPlan(facts, deps);
    if (!flags.apply) {
      const warn = closed
        ? `\nNote: --apply would be refused now: ${closed} (run bm-migrate verify first, or add --force).`
        : "";
      app.print(
        `${describeFacts(facts)}\n\n${formatPlan(plan)}\n\n${changesText(facts)}\n\nNothing was changed. To do it: bm-migrate swap --apply${flags.mode === "keep-target-ip" ? " --keep-target-ip" : ""}${warn}`,
      );
      return ExitCode.ok;
    }
    const pass = open ?? newPassId();
    if (!open) {
      if (closed)
        app.journal.append({ type: "swap-forced", run: app.runId, phase: "swap", pass, reason: closed });
      app.journal.append({
        type: "swap",
        run: app.runId,
        phase: "swap",
        pass,
        mode: facts.mode,
        originIp: facts.originIp,
        targetIp: facts.targetIp,
        prefix: facts.prefix,
        iface: facts.iface,
        facts,
      });
      // What a rollback needs to undo the swap is on disk before anything changes.
      await app.journal.flush();
      app.print(`${describeFacts(facts)}\n${changesText(facts)}`);
    }
    const outcome = await runPhase(app, plan, pass, Boolean(open), {
      mode: facts.mode,
      ...(closed ? { forced: true } : {}),
    });
    const where =
      facts.mode === "takeover"
        ? `the target now answers at ${facts.originIp} (and ${facts.targetIp})`
        : `BlueMind now runs at ${facts.targetIp}; change the DNS records shown above`;
    emitOutage(app);
    app.print(
      `Swap done in ${formatDuration(outcome.durationMs)}: ${where}. BlueMind runs on the target.\nNext: ${nextCommand(facts)}`,
    );
    return ExitCode.ok;
  } finally {
    await closeOrigin();
    if (lock) app.lock.release();
  }
}
