// Issue #25's invariant, a short seeded run (the long one: npm run soak): a migration interleaved
// with hostile events (lab/hostile.ts), each round on a fresh lab, then the one invariant: either
// the swap was refused with a reason, or the lab's oracle finds the target equal to the origin.
// The round without events checks the harness itself: it must end equal. The seeded rounds broke
// the invariant on the code before issue #25's fixes (seed 11: stale rows and message).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { formatRound, planRound, runRound } from "../../lab/invariant.js";
import { releaseHostileClock } from "../../lab/hostile.js";
import { compareHosts } from "./support.js";

async function round(seed: number, events: number): Promise<ReturnType<typeof formatRound>> {
  const plan = planRound(seed, events);
  const lab = Lab.up("inv", { scale: 1 });
  try {
    const r = await runRound(lab, plan, compareHosts, (l) => process.stdout.write(`${l}\n`));
    const text = formatRound(r, `npm run soak -- --seed ${seed} --rounds 1 --events ${events}`);
    process.stdout.write(`# ${text.replace(/\n/g, "\n# ")}\n`);
    assert.notEqual(r.outcome, "BROKEN", text);
    if (events === 0) assert.equal(r.outcome, "equal", text);
    return text;
  } finally {
    releaseHostileClock(lab);
    lab.down();
  }
}

test("a round without hostile events ends with the target equal to the origin (the harness is right)", async () => {
  await round(1, 0);
});

// Seed 11: bigint keys, an open transaction and a hard-link alias after the ahead (holes 6, 7, 4).
for (const seed of [11])
  test(`seeded round ${seed}: the swap is refused, or the target equals the origin`, async () => {
    await round(seed, 3);
  });
