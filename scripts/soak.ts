/**
 * The soak of issue #25's invariant: seeded rounds of a migration interleaved with hostile events
 * (lab/invariant.ts, lab/hostile.ts), each on a fresh lab, each judged by the one invariant: the
 * swap refused with a reason, or the lab's oracle finds the target equal to the origin.
 *
 *   npm run soak -- [--seed S] [--rounds N] [--events K] [--only id,id] [--scale N]
 *
 * Round r uses seed S + r; a failure prints `npm run soak -- --seed S+r --rounds 1 --events K`,
 * which replays it. Exit 1 when a round broke the invariant. Needs root (the lab) and a build.
 */
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.js";
import { releaseHostileClock } from "../lab/hostile.js";
import { describePlan, formatRound, planRound, runRound, type RoundResult } from "../lab/invariant.js";
import { compareHosts } from "../test/lab/support.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    rounds: { type: "string", default: "10" },
    events: { type: "string", default: "3" },
    only: { type: "string" },
    scale: { type: "string", default: "1" },
  },
});
const whole = (name: string, v: string | undefined): number => {
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`--${name} takes a whole number, not '${v}'`);
  return Number(v);
};
const seed = values.seed === undefined ? Date.now() % 1_000_000 : whole("seed", values.seed);
const rounds = whole("rounds", values.rounds);
const k = whole("events", values.events);
const scale = whole("scale", values.scale);
const only = values.only?.split(",").filter(Boolean);
const replay = (s: number): string =>
  `npm run soak -- --seed ${s} --rounds 1 --events ${k}${only ? ` --only ${only.join(",")}` : ""}${scale !== 1 ? ` --scale ${scale}` : ""}`;

console.log(
  `# soak: seed ${seed}, ${rounds} round(s) of ${k} event(s), scale ${scale} (round r uses seed ${seed} + r)`,
);
const results: RoundResult[] = [];
for (let r = 0; r < rounds; r++) {
  const plan = planRound(seed + r, k, only);
  console.log(`# round ${r + 1}/${rounds}: ${describePlan(plan)}`);
  const lab = Lab.up("soak", { scale });
  try {
    const res = await runRound(lab, plan, compareHosts, (l) => console.log(l));
    results.push(res);
    console.log(formatRound(res, replay(plan.seed)));
  } catch (err) {
    console.log(
      `round ${r + 1} (seed ${plan.seed}) could not be judged: ${String(err)}\n  replay: ${replay(plan.seed)}`,
    );
    process.exitCode = 1;
  } finally {
    releaseHostileClock(lab);
    lab.down();
  }
}

const broken = results.filter((r) => r.outcome === "BROKEN");
const injected = results.reduce((n, r) => n + r.events.filter((e) => !e.did.startsWith("skipped")).length, 0);
const byEvent = new Map<string, number>();
for (const r of broken)
  for (const e of new Set(r.events.map((x) => x.event))) byEvent.set(e, (byEvent.get(e) ?? 0) + 1);
const mean = results.reduce((s, r) => s + r.seconds, 0) / Math.max(1, results.length);
console.log(
  `# soak done: ${results.length} round(s) judged, ${injected} event(s) injected, ` +
    `${results.filter((r) => r.outcome === "refused").length} refused, ${results.filter((r) => r.outcome === "equal").length} equal, ` +
    `${broken.length} broke the invariant${broken.length ? ` (seeds ${broken.map((r) => r.plan.seed).join(", ")})` : ""}; ` +
    `a round takes ${mean.toFixed(0)} s on average`,
);
if (byEvent.size)
  console.log(
    `# events present in the broken rounds: ${[...byEvent].map(([e, n]) => `${e} ×${n}`).join(", ")}`,
  );
if (broken.length) process.exitCode = 1;
