// The swap gate: a passing verification newer than the last cold sync, and its refusals in words.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSwapFlags } from "../../../src/commands/swap.js";
import { gateProblem, latestVerification } from "../../../src/verify/gate.js";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { ConfigError } from "../../../src/engine/errors.js";

void test("gate and flags: refusal reasons in words; takeover needs the origin off the network", () => {
  const rec = (type: string, extra: Record<string, unknown> = {}): JournalRecord => ({
    t: `t${type}`,
    type,
    ...extra,
  });
  const cold = rec("pass-finished", { phase: "cold-sync", pass: "cold-1" });
  assert.match(gateProblem(latestVerification([])) ?? "", /no cold sync/);
  assert.match(gateProblem(latestVerification([cold])) ?? "", /no verification/);
  const ok = rec("verify-result", { ok: true, differences: [], counts: {}, durationMs: 1 });
  const bad = rec("verify-result", {
    ok: false,
    differences: [{}, {}],
    differenceCount: 7,
    counts: {},
    durationMs: 1,
  });
  assert.match(gateProblem(latestVerification([ok, cold])) ?? "", /older than the last cold sync/);
  assert.match(gateProblem(latestVerification([cold, bad])) ?? "", /found 7 difference/);
  assert.equal(gateProblem(latestVerification([cold, ok])), undefined);

  assert.deepEqual(parseSwapFlags({ apply: true }), {
    apply: true,
    force: false,
    mode: "takeover",
    originPower: "off",
    releaseAddress: false,
    goneTimeoutMs: 60_000,
    startTimeoutMs: 600_000,
  });
  assert.throws(
    () => parseSwapFlags({ originPower: "keep" }),
    (e: unknown) => e instanceof ConfigError && /--release-address/.test(e.message),
  );
  assert.equal(parseSwapFlags({ originPower: "keep", keepTargetIp: true }).mode, "keep-target-ip");
  assert.throws(() => parseSwapFlags({ goneTimeout: "soon" }), /--gone-timeout takes a whole number/);
});

void test("the swap gate: a passing verification newer than the last finished cold sync", () => {
  let t = 0;
  const rec = (r: Record<string, unknown>): JournalRecord =>
    ({ t: new Date(1_700_000_000_000 + t++ * 1000).toISOString(), ...r }) as JournalRecord;
  const coldDone = rec({ type: "pass-finished", phase: "cold-sync", pass: "cold-1" });
  const hotDone = rec({ type: "pass-finished", phase: "hot-sync", pass: "hot-1" });
  const pass = rec({ type: "verify-result", ok: true, differences: [], counts: {}, durationMs: 1 });
  const fail = rec({ type: "verify-result", ok: false, differences: [], counts: {}, durationMs: 1 });

  assert.equal(latestVerification([]).passing, false);
  assert.equal(latestVerification([pass]).newerThanColdSync, false, "no cold sync yet");
  const good = latestVerification([coldDone, pass, hotDone]);
  assert.equal(good.passing, true);
  assert.equal(good.latest, pass);
  assert.equal(good.coldSync, coldDone);
  assert.equal(latestVerification([pass, coldDone]).newerThanColdSync, false, "cold sync ran again since");
  assert.equal(latestVerification([coldDone, pass, fail]).passing, false, "the newest verification counts");
  assert.equal(latestVerification([coldDone, fail, pass]).passing, true);
  assert.equal(latestVerification([coldDone, { ...pass, type: "pass-finished" }]).latest, undefined);
});
