// The plan as printed: every step with its host and commands, stage by stage.
import { step } from "../../support/plan.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatPlan } from "../../../src/engine/plan.js";

test("the plan prints every step with its host and commands, stage by stage", () => {
  const text = formatPlan({
    phase: "hot-sync",
    stages: [{ name: "Copy", steps: [step("x", []), step("y", [])] }],
  });
  assert.match(text, /Copy \(these run at the same time\)/);
  assert.match(text, /1\. \[x\] step x {2}\(on target\)\n\s+\$ do x/);
});
