// The plan as JSON data: what `plan --json` and --dry-run --json print.
import { test } from "node:test";
import assert from "node:assert/strict";
import { viewOf } from "../../../src/engine/planView.js";
import { fakePlan } from "../../support/plan.js";

test("viewOf: the JSON plan keeps id, title, host, readable commands, and the full ssh apart", () => {
  const v = viewOf(fakePlan(), ["a note"]);
  const json = JSON.parse(JSON.stringify(v)) as typeof v;
  assert.equal(json.phase, "hot-sync");
  assert.deepEqual(
    json.stages.map((s) => s.name),
    ["Stop", "Copy", "Databases"],
  );
  const step = json.stages[1]!.steps[0]!;
  assert.deepEqual(Object.keys(step).sort(), ["commands", "host", "id", "title"]);
  assert.equal(step.id, "rsync:/a");
  assert.match(step.commands[0]!, / -e ssh root@bm-origin:\/a\/ \/a\/$/);
  assert.match(json.ssh ?? "", /^ssh -o BatchMode=yes .* -o ControlPath=/);
  assert.deepEqual(json.notes, ["a note"]);
});
