// rsync's adapter: reading its output, and never following a symlink out of a data directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProgressLine, parseStats, rsyncArgs } from "../../../src/adapters/rsync.js";
import { rsyncListedArgs } from "../../../src/adapters/rsyncListed.js";
import { SshConnection } from "../../../src/adapters/ssh.js";
import { tempDir } from "../../support/tmp.js";

test("rsync's progress and statistics lines are read, with or without digit grouping", () => {
  const p = parseProgressLine("    12,345,678  45%   12.34MB/s    0:01:02 (xfr#12, ir-chk=1000/2000)");
  assert.deepEqual(p, {
    bytes: 12345678,
    percent: 45,
    rateBytesPerSec: 12340000,
    etaSec: 62,
    transferred: 12,
    toCheck: 1000,
    totalToCheck: 2000,
  });
  const s = parseStats(
    "Number of files: 5,123 (reg: 4,900, dir: 223)\nNumber of regular files transferred: 12\nTotal file size: 1234567 bytes\nTotal transferred file size: 1,234 bytes\nNumber of deleted files: 3",
  );
  assert.equal(s.files, 5123);
  assert.equal(s.regularFiles, 4900);
  assert.equal(s.dirs, 223);
  assert.equal(s.transferredFiles, 12);
  assert.equal(s.totalBytes, 1234567);
  assert.equal(s.transferredBytes, 1234);
  assert.equal(s.deletedFiles, 3);
});

test("no rsync of the tool follows a symlink out of the data directories", () => {
  const ssh = new SshConnection({ user: "root", host: "origin" }, { socketDir: tempDir() });
  const args = [
    ...rsyncListedArgs({ ssh, dir: "/var/spool/cyrus", paths: [".", "a", "a/b"] }),
    ...rsyncArgs({ ssh, source: "/var/spool/cyrus", dest: "/var/spool/cyrus" }),
  ];
  for (const a of args)
    assert.ok(
      !/^(?:-[a-zA-Z]*[LkK]|--copy-links|--copy-unsafe-links|--copy-dirlinks|--keep-dirlinks|--safe-links)$/.test(
        a,
      ),
      a,
    );
});

test("extended attributes travel with the files: rsync -X, and tar's --xattrs on both ends of the first copy", async () => {
  const ssh = new SshConnection({ user: "root", host: "origin" }, { socketDir: tempDir() });
  assert.ok(rsyncArgs({ ssh, source: "/var/spool/cyrus", dest: "/var/spool/cyrus" }).includes("--xattrs"));
  assert.ok(rsyncListedArgs({ ssh, dir: "/var/spool/cyrus", paths: ["a"] }).includes("--xattrs"));
  const { tarPullCommand } = await import("../../../src/adapters/tarStream.js");
  const line = tarPullCommand({ ssh, source: "/var/spool/cyrus", dest: "/var/spool/cyrus" }, true);
  const [create = "", extract = ""] = line.split(" | tar --extract");
  assert.match(create, /tar --create .*--xattrs --xattrs-include=/);
  assert.match(extract, /--xattrs --xattrs-include='\*'/);
});
