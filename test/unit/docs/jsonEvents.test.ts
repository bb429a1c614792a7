// docs/json-events.md against the code: every event type documented, with an example that parses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

test("docs/json-events.md documents every event type, with an example line that parses", () => {
  const events = readFileSync(new URL("../../../src/engine/events.ts", import.meta.url), "utf8");
  const doc = readFileSync(new URL("../../../docs/json-events.md", import.meta.url), "utf8");
  const types = [...events.matchAll(/type: "([a-z-]+)"/g)].map((m) => m[1]!);
  assert.ok(types.length >= 9, `types: ${types.join(", ")}`);
  const documented = [...types, "error", "finding", "check-result", "status", "plan", "config-written"];
  for (const t of documented) {
    assert.match(doc, new RegExp(`^### \`${t}\``, "m"), `${t} has a section`);
    const example = doc.split(new RegExp(`^### \`${t}\``, "m"))[1]!.split(/^### /m)[0]!;
    const line = /^\{"ts":.*\}$/m.exec(example)?.[0];
    assert.ok(line, `${t} has an example line`);
    const o = JSON.parse(line) as Record<string, unknown>;
    assert.equal(o["type"], t);
  }
});
