// init: the configuration file written once, kept unless --force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli } from "../../support/cli.js";
import { tempDir } from "../../support/tmp.js";

const tmp = (): string => tempDir("bm-init-");

test("init keeps an existing file unless --force, before connecting anywhere", () => {
  const dir = tmp();
  const f = join(dir, "bm.conf");
  writeFileSync(f, "# mine\n");
  const r = cli("init", "--origin", "root@nowhere.invalid", "--out", f, "--state-dir", dir, "--log-dir", dir);
  assert.equal(r.code, 2);
  assert.match(r.err, /bm\.conf exists; it was kept as it is\nnext: add --force/);
  assert.equal(readFileSync(f, "utf8"), "# mine\n");
});
