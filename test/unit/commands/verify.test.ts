// verify's options as parsed at the command's edge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSample } from "../../../src/commands/verify.js";

void test("--sample takes a percentage", () => {
  assert.equal(parseSample(undefined), undefined);
  assert.equal(parseSample("10%"), 10);
  assert.equal(parseSample("2.5"), 2.5);
  assert.throws(() => parseSample("0"), /--sample/);
  assert.throws(() => parseSample("150%"), /--sample/);
  assert.throws(() => parseSample("ten"), /--sample/);
});
