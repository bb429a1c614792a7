import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deletedPaths, mirrorDirsScript, parseExpansion } from "../../../src/phases/configSteps.js";

test("the mirror's set-aside list comes from rsync's itemized deletions", () => {
  assert.deepEqual(
    deletedPaths([
      "Number of files: 3",
      "*deleting   fresh-install.properties",
      ">f+++++++++ bm.ini",
      "*deleting   local/extra dir/x.xml",
    ]),
    ["fresh-install.properties", "local/extra dir/x.xml"],
  );
});

test("the mirror patterns expand to directories only (a real bash over a temp tree)", () => {
  const root = mkdtempSync(join(tmpdir(), "bm-mirror-"));
  for (const d of ["etc/bm", "etc/bm-hps", "etc/postfix"]) mkdirSync(join(root, d), { recursive: true });
  const script = mirrorDirsScript([
    { pattern: `${root}/etc/bm*` },
    { pattern: `${root}/etc/postfix` },
    { pattern: `${root}/etc/nothere`, optional: true },
  ]);
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  const e = parseExpansion(r.stdout, "DIR:");
  assert.deepEqual(e.found, [`${root}/etc/bm`, `${root}/etc/bm-hps`, `${root}/etc/postfix`]);
  assert.deepEqual(e.missing, [`${root}/etc/nothere`]);
});
