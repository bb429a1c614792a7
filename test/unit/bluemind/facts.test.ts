import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFacts } from "../../../src/bluemind/facts.js";

test("the facts list BlueMind's installed packages", () => {
  const f = parseFacts(
    "hostname=x\npm=dpkg\nbm_version=4.1.56\nbmpkg=bm-core\nbmpkg=bm-plugin-core-ldap-import\nclock=1\n",
  );
  assert.deepEqual(f.bmPackages, ["bm-core", "bm-plugin-core-ldap-import"]);
});
