// The unified diff shown before the swap changes a network file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { unifiedDiff } from "../../../src/network/diff.js";

void test("unified diff: hunks with context, equal texts give nothing", () => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
  const b = a.replace("line 2\n", "line two\n").replace("line 18\n", "");
  assert.equal(unifiedDiff("/f", a, a), "");
  assert.equal(
    unifiedDiff("/f", a, b),
    "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n line 3\n line 4\n line 5\n@@ -15,6 +15,5 @@\n line 15\n line 16\n line 17\n-line 18\n line 19\n line 20\n",
  );
});
