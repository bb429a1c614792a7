// The run lock: one run at a time, a stale lock taken over.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunLock } from "../../../src/engine/lock.js";
import { AlreadyRunning } from "../../../src/engine/errors.js";

test("a lock held by a live process refuses a second run, naming it; a stale lock is taken over", () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-lock-"));
  writeFileSync(
    join(dir, "lock"),
    JSON.stringify({ pid: process.ppid, command: "bm-migrate hot-sync", started: "then" }),
  );
  assert.throws(
    () => new RunLock(dir).acquire("bm-migrate cold-sync"),
    (e: unknown) => e instanceof AlreadyRunning && /pid \d+, `bm-migrate hot-sync`/.test(e.message),
  );
  writeFileSync(
    join(dir, "lock"),
    JSON.stringify({ pid: 2 ** 22 + 7, command: "bm-migrate hot-sync", started: "then" }),
  );
  const lock = new RunLock(dir);
  lock.acquire("bm-migrate cold-sync");
  assert.equal(lock.read()?.pid, process.pid);
  lock.release();
});
