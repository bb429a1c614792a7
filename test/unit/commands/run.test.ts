// run's flags (src/commands/run.ts): every phase's flags are parsed into one typed object, and a bad
// one is reported, naming the flag, before the first phase starts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRunOptions } from "../../../src/commands/run.js";
import { ConfigError } from "../../../src/engine/errors.js";
import { REFRESH_AHEAD_AFTER_MS } from "../../../src/migration/run.js";

test("run's options: the swap applied and never forced, defaults where no flag says", () => {
  const o = parseRunOptions({ sample: "10%", stopAfter: "verify", keepTargetIp: true, oldIp: "10.0.0.1" });
  assert.equal(o.swap.apply, true);
  assert.equal(o.swap.force, false);
  assert.equal(o.swap.mode, "keep-target-ip");
  assert.deepEqual(o.verify, { samplePercent: 10 });
  assert.deepEqual(o.post, { oldIp: "10.0.0.1" });
  assert.deepEqual(o.preflight, { skip: [], forceOverwriteTarget: false });
  assert.equal(o.stopAfter, "verify");
  assert.equal(o.refreshAheadAfterMs, REFRESH_AHEAD_AFTER_MS);
});

test("a bad flag of any phase is a ConfigError naming it, before anything runs", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ refreshAheadAfter: "soon" }, /--refresh-ahead-after/],
    [{ sample: "0" }, /--sample/],
    [{ goneTimeout: "x" }, /--gone-timeout/],
    [{ skipCheck: ["no-such-check"] }, /--skip-check/],
    [{ stopAfter: "post" }, /--stop-after/],
  ];
  for (const [opts, flag] of bad)
    assert.throws(
      () => parseRunOptions(opts),
      (err: unknown) => err instanceof ConfigError && flag.test(err.message),
      flag.source,
    );
});
