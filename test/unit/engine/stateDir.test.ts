// The state and log directories: refused when others could change them or when a file in them
// is a symbolic link.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogFileSink } from "../../../src/cli/output.js";
import { FileJournal } from "../../../src/engine/journal.js";
import { RunLock } from "../../../src/engine/lock.js";
import { UnsafeStateDir } from "../../../src/engine/stateDir.js";
import { tempDir } from "../../support/tmp.js";

test("state and log directories others could change, and symlinks for the journal, lock or log, are refused", () => {
  const d = tempDir();
  const foreign = join(d, "foreign");
  mkdirSync(foreign, { mode: 0o700 });
  chownSync(foreign, 1000, 1000);
  assert.throws(
    () => new RunLock(foreign).acquire("x"),
    (e: unknown) =>
      e instanceof UnsafeStateDir &&
      /owned by uid 1000/.test(e.message) &&
      /chown root:root/.test(e.hint ?? ""),
  );
  const open = join(d, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.throws(() => new FileJournal(open).append({ type: "x" }), /writable by every user/);
  const linked = join(d, "linked");
  symlinkSync(open, linked);
  assert.throws(() => new RunLock(linked).acquire("x"), /is a symbolic link/);
  // Files: the journal and the log are never written through a symlink.
  const good = join(d, "good");
  mkdirSync(good, { mode: 0o700 });
  const victim = join(d, "victim");
  writeFileSync(victim, "");
  symlinkSync(victim, join(good, "journal.jsonl"));
  assert.throws(() => new FileJournal(good).append({ type: "x" }), /symbolic link/);
  symlinkSync(victim, join(good, "bm-migrate.log"));
  const said: string[] = [];
  new LogFileSink(good, (w) => said.push(w)).emit({ type: "info", message: "hello" });
  assert.equal(readFileSync(victim, "utf8"), "", "nothing written through the links");
  assert.match(said[0] ?? "", /cannot write the log .*symbolic link/);
});
