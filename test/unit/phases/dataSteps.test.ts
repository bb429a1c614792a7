// The data steps' guard: rsync --delete only into a profile's data directories.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalHost } from "../../../src/adapters/host.js";
import { SshConnection } from "../../../src/adapters/ssh.js";
import { DATA_DIRS_4, PROFILES } from "../../../src/bluemind/profiles.js";
import { assertDataDestination, rsyncStep } from "../../../src/phases/dataSteps.js";

const ssh = new SshConnection(
  { user: "root", host: "bm-origin" },
  { socketDir: mkdtempSync(join(tmpdir(), "bm-ssh-")) },
);
const target = new LocalHost();
const opts = { hot: true, nice: false, bwlimitKiB: 0 };

test("rsync --delete is refused into / and anything that is not a profile's data directory", () => {
  for (const dir of [
    "/",
    "//",
    "",
    "var/spool/cyrus",
    "/etc",
    "/var/spool",
    "/var/spool/cyrus/../..",
    "/root",
  ]) {
    assert.throws(
      () => rsyncStep(ssh, target, dir, opts),
      /refusing rsync --delete into/,
      `destination '${dir}'`,
    );
  }
  assert.throws(() => assertDataDestination("/"), /the destination must not be \//);
  assert.throws(() => assertDataDestination("/etc"), /not one of the profile's data directories/);
});

test("every profile's data directory is accepted, and the step's command deletes only there", () => {
  for (const p of Object.values(PROFILES))
    for (const dir of p.dataDirs) {
      const step = rsyncStep(ssh, target, dir, opts);
      const cmd = step.commands.find((c) => c.startsWith("rsync ")) ?? "";
      assert.match(cmd, /--delete/);
      assert.ok(cmd.endsWith(` ${dir}/`), `${cmd} ends in its destination ${dir}/`);
      // A hot pass's first copy may be a tar stream: it extracts only into the same directory.
      for (const c of step.commands.filter((x) => x.includes("tar --extract")))
        assert.match(c, new RegExp(`--directory=${dir.replace(/\//g, "\\/")}  `));
    }
  assert.ok(DATA_DIRS_4.length >= 7);
});
