/**
 * The invariant of issue #25, checked over seeded rounds: whatever hostile events (lab/hostile.ts)
 * happen between and during the commands, either the swap is refused (with a reason) or the lab's
 * independent comparison (lab/manifest.ts + lab/compare.ts, not `verify`) finds the target equal to
 * the origin: files, owners, hard links and every row, once the origin's late transactions have
 * been resolved.
 *
 * A round, on a fresh lab (6 s at scale 1): the events' common preparation, `hot-sync`, events,
 * `hot-sync`, events, then `run --stop-after verify` on a terminal (script(1)): it verifies ahead and
 * asks before the downtime; the events "after the ahead" happen while it asks, then it is answered
 * yes; events "in the downtime" happen once the journal shows the origin's services stopped (skipped
 * when the downtime was over first: they would be writes after the proof). Then the late
 * transactions are resolved and the outcome judged: the run's exit code and the swap's own gate
 * read from the journal (`swapGate`), else the comparison.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { swapGate } from "../src/verify/gate.js";
import type { JournalRecord } from "../src/engine/journal.js";
import {
  hostileClockEnv,
  HOSTILE_CLOCK_FILE,
  HOSTILE_EVENTS,
  MOMENTS,
  prepareHostileLab,
  type EventRecord,
  type HostileEvent,
  type Moment,
  type Resolution,
} from "./hostile.js";
import type { Lab } from "./lab.js";
import { seededRandom } from "./seeded.js";
import { BIN } from "../test/support/cli.js";

export interface PlannedEvent {
  event: HostileEvent;
  moment: Moment;
}

export interface RoundPlan {
  seed: number;
  events: PlannedEvent[];
  /** run's hidden --refresh-ahead-after: 15 s (its default) or an hour (no refresh). */
  refreshAheadAfter: number;
}

/** K events chosen by the seed, each at one of its moments; the same seed gives the same plan. */
export function planRound(seed: number, k: number, only?: readonly string[]): RoundPlan {
  const rng = seededRandom(seed);
  const pool = HOSTILE_EVENTS.filter((e) => !only || only.includes(e.id));
  if (pool.length === 0) throw new Error(`no hostile event named ${only?.join(", ")}`);
  const events: PlannedEvent[] = [];
  for (let i = 0; i < k; i++) {
    const event = pool[Math.floor(rng() * pool.length)]!;
    events.push({ event, moment: event.moments[Math.floor(rng() * event.moments.length)]! });
  }
  events.sort((a, b) => MOMENTS.indexOf(a.moment) - MOMENTS.indexOf(b.moment));
  return { seed, events, refreshAheadAfter: rng() < 0.5 ? 15 : 3600 };
}

export function describePlan(p: RoundPlan): string {
  const list = p.events.map((e) => `${e.event.id}@${e.moment}`).join(", ") || "no events";
  return `seed ${p.seed}: ${list}; --refresh-ahead-after ${p.refreshAheadAfter}`;
}

export type Outcome = "refused" | "equal" | "BROKEN";

export interface RoundResult {
  plan: RoundPlan;
  outcome: Outcome;
  /** Why the swap was refused, or the differences found (BROKEN). */
  detail: string[];
  events: EventRecord[];
  resolutions: string[];
  seconds: number;
}

/** The comparison of both hosts (test/lab/support.ts's compareHosts): sentences, empty when equal. */
export type CompareHosts = (lab: Lab) => Promise<string[]>;

const ORIGIN = ["--origin", "root@bm-origin"];

/** The journal on the target, parsed (unparsable lines left out). */
function journalOf(lab: Lab): JournalRecord[] {
  const text = lab.sh("target", "cat /var/lib/bm-migrate/journal.jsonl 2>/dev/null || true").stdout;
  return text.split("\n").flatMap((l) => {
    try {
      return l.trim() ? [JSON.parse(l) as JournalRecord] : [];
    } catch {
      return [];
    }
  });
}

/** bm-migrate on the target with the round's clock; the exit code and its output. */
function bm(lab: Lab, args: string[]): { code: number | null; out: string } {
  const r = lab.bm([...args, ...ORIGIN], { env: hostileClockEnv(lab), timeoutMs: 900_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

const tail = (s: string, n: number): string[] =>
  s
    // The terminal's colour and cursor sequences (ESC [ ... letter) left out.
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, "g"), "")
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-n);

/**
 * `run --stop-after verify` on a terminal, so that it asks before the downtime: `atPrompt` runs
 * while it asks (the ahead done), `inDowntime` once the origin's services are stopped.
 */
async function runOnTerminal(
  lab: Lab,
  refreshAheadAfter: number,
  atPrompt: () => void,
  inDowntime: () => boolean,
): Promise<{ code: number | null; out: string; downtimeEvents: boolean }> {
  const cmd = [
    BIN,
    "run",
    ...ORIGIN,
    "--stop-after",
    "verify",
    "--refresh-ahead-after",
    String(refreshAheadAfter),
  ];
  // script(1) gives it a terminal: run asks only there.
  const child = lab.spawn("target", ["script", "-qfec", cmd.join(" "), "/dev/null"], hostileClockEnv(lab));
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  let ended = false;
  void exited.then(() => (ended = true));
  let asked = false;
  let downtimeEvents = false;
  const deadline = Date.now() + 900_000;
  while (!ended && Date.now() < deadline) {
    if (!asked && /Go on\?/.test(out)) {
      asked = true;
      atPrompt();
      child.stdin.write("y\n");
    }
    if (asked && !downtimeEvents) {
      const stopped = journalOf(lab).some(
        (r) => r.type === "step-done" && (r as { step?: string }).step === "stop-services:origin",
      );
      if (stopped) downtimeEvents = inDowntime();
    }
    await sleep(asked ? 50 : 200);
  }
  if (!ended) child.kill("SIGKILL");
  const code = await exited;
  return { code, out, downtimeEvents };
}

/** One round on a fresh lab: the plan's events interleaved with the commands, then the judgement. */
export async function runRound(
  lab: Lab,
  plan: RoundPlan,
  compareHosts: CompareHosts,
  log: (line: string) => void = () => {},
): Promise<RoundResult> {
  const t0 = Date.now();
  const rng = seededRandom(plan.seed ^ 0x5eed);
  const records: EventRecord[] = [];
  const resolutions: Resolution[] = [];
  let n = 0;
  const fire = (moment: Moment): void => {
    for (const p of plan.events.filter((e) => e.moment === moment)) {
      const tag = `s${plan.seed}e${++n}`;
      const did = p.event.act({ lab, tag, rng, resolveLater: (r) => resolutions.push(r) });
      records.push({ event: p.event.id, moment, did });
      log(`# [seed ${plan.seed}] ${p.event.id}@${moment}: ${did}`);
    }
  };
  const result = (outcome: Outcome, detail: string[], resolved: string[]): RoundResult => ({
    plan,
    outcome,
    detail,
    events: records,
    resolutions: resolved,
    seconds: (Date.now() - t0) / 1000,
  });

  lab.must("target", `echo +0 > ${HOSTILE_CLOCK_FILE}`);
  prepareHostileLab(lab);
  for (const [i, moment] of (["between-hot", "before-run"] as const).entries()) {
    const r = bm(lab, ["hot-sync"]);
    log(`# [seed ${plan.seed}] hot-sync ${i + 1}: exit ${r.code}`);
    if (r.code !== 0)
      throw new Error(
        `hot-sync ${i + 1} failed before any verdict (seed ${plan.seed}):\n${tail(r.out, 40).join("\n")}`,
      );
    fire(moment);
  }
  const run = await runOnTerminal(
    lab,
    plan.refreshAheadAfter,
    () => fire("after-ahead"),
    () => {
      fire("in-downtime");
      return true;
    },
  );
  log(`# [seed ${plan.seed}] run --stop-after verify: exit ${run.code}`);
  for (const p of plan.events.filter((e) => e.moment === "in-downtime" && !run.downtimeEvents))
    records.push({
      event: p.event.id,
      moment: "in-downtime",
      did: "skipped: the downtime was over before it could happen",
    });
  const resolved = resolutions.map((r) => r());
  for (const r of resolved) log(`# [seed ${plan.seed}] resolved: ${r}`);

  const gate = swapGate(journalOf(lab));
  if (run.code !== 0 || gate !== undefined) {
    const reason = [...(gate ? [`gate: ${gate}`] : []), ...tail(run.out, 6)];
    if (reason.length === 0)
      return result("BROKEN", ["the swap was refused without a reason printed"], resolved);
    return result("refused", reason, resolved);
  }
  const differences = await compareHosts(lab);
  return differences.length ? result("BROKEN", differences, resolved) : result("equal", [], resolved);
}

/** A round's outcome in a few lines, the seed first (so that it replays). */
export function formatRound(r: RoundResult, replay: string): string {
  const head = `${r.outcome === "BROKEN" ? "INVARIANT BROKEN" : r.outcome} — ${describePlan(r.plan)} (${r.seconds.toFixed(0)} s); replay: ${replay}`;
  const lines = [
    head,
    ...r.events.map((e) => `  event ${e.event}@${e.moment}: ${e.did}`),
    ...r.resolutions.map((x) => `  resolved: ${x}`),
    ...r.detail.slice(0, 20).map((d) => `  ${r.outcome === "BROKEN" ? "difference" : "reason"}: ${d}`),
  ];
  if (r.detail.length > 20) lines.push(`  ... and ${r.detail.length - 20} more`);
  return lines.join("\n");
}
