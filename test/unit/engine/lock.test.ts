// The run lock: one run at a time, a stale lock taken over, and only its own children reaped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunLock, bootId, processStartTime } from "../../../src/engine/lock.js";
import { AlreadyRunning } from "../../../src/engine/errors.js";
import { tempDir } from "../../support/tmp.js";

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

/** A live process whose argv[0] is `name` (what the reaper used to check), in its own group. */
function bystander(name: string): ChildProcess {
  return spawn("bash", ["-c", `exec -a ${name} sleep 60`], { detached: true, stdio: "ignore" });
}

const alive = (pid: number): boolean => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

test("a stale lock.children kills nothing it did not start: pid reuse after a reboot, or another start time", async () => {
  const d = tempDir();
  const shell = bystander("bash");
  const other = bystander("rsync");
  const mine = bystander("psql");
  try {
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(d, "lock"), JSON.stringify({ pid: 999999, command: "x", started: "" }), {
      mode: 0o600,
    });
    writeFileSync(
      join(d, "lock.children"),
      [
        `+${shell.pid} bash`, // the format before boot ids: a login shell that got the pid after a reboot
        `+${other.pid} 00000000-dead-beef-0000-000000000000 ${processStartTime(other.pid!)} rsync`, // another boot
        `+${other.pid} ${bootId()} 1 rsync`, // this boot, but another process's start time
        `+${mine.pid} ${bootId()} ${processStartTime(mine.pid!)} psql`, // the very process a run started
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const lock = new RunLock(d);
    lock.acquire("bm-migrate cold-sync");
    lock.release();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(shell.pid!), "the login shell lives");
    assert.ok(alive(other.pid!), "the other rsync lives");
    assert.ok(!alive(mine.pid!), "the run's own child was stopped");
    assert.deepEqual(lock.reaped, [{ pid: mine.pid, command: "psql" }]);
  } finally {
    for (const c of [shell, other, mine]) c.kill("SIGKILL");
  }
});
