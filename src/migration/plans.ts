/**
 * Every phase's plan, from the facts of both servers (`bm-migrate plan`, a phase's `--dry-run`):
 * with step ids, hosts and commands. Reads only: no lock, nothing journaled, nothing written on
 * either server. Every phase's plan is built by the very function its run executes (check: the
 * preflight's plan; the copying phases; verify's full comparison; the swap; post; rollback).
 */
import type { App } from "../engine/app.js";
import { LocalHost } from "../adapters/host.js";
import type { Role } from "../engine/plan.js";
import { gatherFacts, type HostFacts } from "../bluemind/facts.js";
import { ConfigError } from "../engine/errors.js";
import { viewOf, type PlanView } from "../engine/planView.js";
import { newPassId, unfinishedPass } from "../engine/runner.js";
import { foldJournal } from "../engine/status.js";
import type { PlanPhase } from "../engine/records.js";
import type { JournalRecord } from "../engine/journal.js";
import { PREFLIGHT_NOTES, preflightPlan } from "../check/preflight.js";
import { postOutline } from "../phases/post.js";
import { coldSyncPlan, hotSyncPlan } from "../phases/plans.js";
import { finishMigration, originDatabase, prepareMigration } from "../phases/prepare.js";
import type { MigrationContext } from "../phases/context.js";
import { readFacts, type SwapFlags } from "../phases/swap.js";
import { swapPlan, readLocalFile } from "../phases/swapPlan.js";
import { gateProblem, latestVerification } from "../verify/gate.js";
import { ROLLBACK_NOTES, rollbackPlan } from "../phases/rollback.js";
import { newFound, VERIFY_NOTES, verifyPlan } from "../verify/run.js";
import { DifferenceLog } from "../verify/compare.js";

// ---------------------------------------------------------------------------------------------
// Plans built from the facts

function passNote(records: JournalRecord[], phase: string): { pass: string; notes: string[] } {
  const open = unfinishedPass(records, phase);
  return open
    ? { pass: open, notes: [`Resumes the unfinished pass ${open}: steps already done are skipped.`] }
    : { pass: newPassId(), notes: [] };
}

async function swapView(
  app: App,
  mc: MigrationContext,
  records: JournalRecord[],
  flags: SwapFlags,
): Promise<PlanView> {
  const st = foldJournal(records);
  if (st.swappedAt) return { phase: "swap", stages: [], notes: [`The swap was done at ${st.swappedAt}.`] };
  try {
    const facts = await readFacts(mc.origin, mc.target, flags, app.signal);
    const plan = swapPlan(facts, {
      origin: () => Promise.resolve(mc.origin),
      closeOrigin: () => Promise.resolve(),
      target: mc.target,
      stateDir: app.settings.stateDir,
      readFile: readLocalFile,
      writeFile: () => {
        throw new ConfigError("the plan writes nothing");
      },
      goneTimeoutMs: flags.goneTimeoutMs,
      startTimeoutMs: flags.startTimeoutMs,
    });
    const closed = gateProblem(latestVerification(records));
    return viewOf(plan, [
      `Default mode: the target takes over ${facts.originIp} (${facts.iface}); --keep-target-ip keeps ${facts.targetIp} and applies BlueMind's address change instead. bm-migrate swap shows the network-configuration diff.`,
      ...(closed ? [`swap --apply would be refused now: ${closed}.`] : []),
    ]);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return {
      phase: "swap",
      stages: [],
      notes: [`No swap plan can be made now: ${err.message}${err.hint ? ` (next: ${err.hint})` : ""}`],
    };
  }
}

async function viewFor(
  phase: PlanPhase,
  swap: SwapFlags,
  app: App,
  mc: MigrationContext | undefined,
  targetFacts: HostFacts | undefined,
): Promise<PlanView> {
  const records = app.journal.records();
  if (phase === "post") return postOutline(targetFacts?.bmVersion);
  if (phase === "rollback")
    return viewOf(
      rollbackPlan(() => Promise.reject(new ConfigError("the plan runs nothing"))),
      ROLLBACK_NOTES,
    );
  if (!mc) throw new ConfigError(`the ${phase} plan needs the origin`);
  switch (phase) {
    case "check":
      return viewOf(
        preflightPlan(
          app,
          { origin: mc.origin, target: mc.target, ssh: mc.ssh },
          { skip: [], forceOverwriteTarget: false },
          {},
        ),
        PREFLIGHT_NOTES,
      );
    case "hot-sync": {
      const { pass, notes } = passNote(records, phase);
      const plan = hotSyncPlan(mc, records, { originDb: originDatabase(mc).get, pass });
      return viewOf(plan, notes);
    }
    case "cold-sync": {
      const { pass, notes } = passNote(records, phase);
      const plan = coldSyncPlan(mc, records, { originDb: originDatabase(mc).get, pass });
      return viewOf(plan, [
        ...notes,
        "Downtime: from the first step until the swap has started BlueMind on the target.",
      ]);
    }
    case "verify":
      return viewOf(
        verifyPlan(
          mc,
          {
            port: () => {
              throw new ConfigError("the plan runs nothing");
            },
          },
          { app, log: new DifferenceLog(0), found: newFound() },
        ),
        VERIFY_NOTES,
      );
    case "swap":
      return swapView(app, mc, records, swap);
  }
}

/** The plans of the phases asked for, and what to say of the servers they were read from. */
export interface MigrationPlans {
  views: PlanView[];
  /** The names beside the roles. */
  hosts: Partial<Record<Role, string>>;
  /** The profile chosen, when the origin was read. */
  profile?: string;
  /** One line: from which server to which, the profile. */
  heading: string;
}

/**
 * The plans of `phases`, from both servers' facts. Only the origin's side is read through SSH;
 * post and rollback alone need no connection (after the swap the origin is gone). `swap`: the
 * swap's options its plan is made with.
 */
export async function migrationPlans(
  app: App,
  phases: readonly PlanPhase[],
  swap: SwapFlags,
): Promise<MigrationPlans> {
  const needsOrigin = phases.some((p) => p !== "post" && p !== "rollback");
  const mc = needsOrigin ? await prepareMigration(app, { lock: false }) : undefined;
  try {
    const targetFacts = mc?.targetFacts ?? (await gatherFacts(new LocalHost("target"), app.signal)).facts;
    const views: PlanView[] = [];
    for (const phase of phases) views.push(await viewFor(phase, swap, app, mc, targetFacts));
    const hosts = {
      ...(mc ? { origin: mc.ssh.destination } : {}),
      ...(targetFacts ? { target: targetFacts.hostname } : {}),
    };
    const heading = mc
      ? `Plans from ${mc.ssh.destination} (${describe(mc.originFacts)}) to ${mc.targetFacts.hostname} (${describe(mc.targetFacts)}); profile ${mc.profile.id}: ${mc.profile.description}.`
      : `Plans on ${targetFacts?.hostname ?? "this server"}.`;
    return { views, hosts, ...(mc ? { profile: mc.profile.id } : {}), heading };
  } finally {
    if (mc) await finishMigration(app, mc, { lock: false });
  }
}

function describe(f: HostFacts): string {
  return `${f.osPrettyName}, BlueMind ${f.bmVersion ?? "not installed"}`;
}
