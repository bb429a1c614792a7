// lab/schema/assemble.ts: BlueMind's schema files, ordered as SchemaDescriptors orders them, and the
// committed lab/schema/bluemind-{4,5}.sql regenerated exactly from the source mirror (skipped without it).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import {
  assemble,
  DEFAULT_MIRROR,
  javaHash,
  javaHashMapOrder,
  parsePluginXml,
  runOrder,
  schemaFile,
} from "../../../lab/schema/assemble.js";

test("javaHash is Java's String.hashCode", () => {
  // Values of "".hashCode(), "a".hashCode(), "item-store".hashCode() in Java.
  assert.equal(javaHash(""), 0);
  assert.equal(javaHash("a"), 97);
  assert.equal(javaHash("hello"), 99162322);
  assert.equal(javaHash("polygenelubricants"), -2147483648);
});

test("a HashMap's iteration order follows the buckets, not the insertion", () => {
  assert.deepEqual(javaHashMapOrder(["b", "a", "c"]), ["a", "b", "c"]);
  // 13 keys exceed 16 * 0.75: the table doubles to 32 buckets.
  const keys = Array.from({ length: 13 }, (_, i) => `k${i}`);
  assert.deepEqual([...javaHashMapOrder(keys)].sort(), [...keys].sort());
});

test("plugin.xml schemas: names, resources, ignoreErrors, and required schemas first", () => {
  const xml = `<plugin><extension-point id="x" name="schema" schema="s.exsd"/>
    <extension point="net.bluemind.core.jdbc.schema">
      <schema name="child" resource="sql/child.sql" ignoreErrors="true"><compose id="parent"></compose></schema>
      <schema name="parent" resource="sql/parent.sql"/>
    </extension>
    <extension point="other.point"><schema name="no" resource="sql/no.sql"/></extension></plugin>`;
  const entries = parsePluginXml(xml, "bundle", "4.1.0");
  assert.deepEqual(
    entries.map((e) => [e.name, e.path, e.ignoreErrors, e.requires]),
    [
      ["child", "bundle/sql/child.sql", true, ["parent"]],
      ["parent", "bundle/sql/parent.sql", false, []],
    ],
  );
  assert.deepEqual(
    runOrder(entries).map((e) => e.name),
    ["parent", "child"],
  );
});

const mirror = existsSync(DEFAULT_MIRROR);
for (const version of ["4", "5"] as const) {
  test(
    `lab/schema/bluemind-${version}.sql is what the source mirror gives`,
    { skip: !mirror && "no mirror" },
    () => {
      const committed = readFileSync(schemaFile(version), "utf8");
      assert.ok(
        assemble(DEFAULT_MIRROR, version) === committed,
        "run: node --import tsx lab/schema/assemble.ts",
      );
    },
  );
}
