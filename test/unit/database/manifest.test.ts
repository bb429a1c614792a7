// The database manifest's parser (psql's NUL-separated output).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseDbManifest } from "../../../src/database/manifest.js";

void test("psql's NUL-separated output parses into the manifest", () => {
  const out =
    'table\x1fpublic."odd name"\x1f{"owner" : "bj"}\0\nrows\x1fpublic.t\x1f{"rows" : 3, "hash" : "42"}\0';
  const m = parseDbManifest(out);
  assert.deepEqual(m.get('table\x1fpublic."odd name"'), { owner: "bj" });
  assert.deepEqual(m.get("rows\x1fpublic.t"), { rows: 3, hash: "42" });
});
