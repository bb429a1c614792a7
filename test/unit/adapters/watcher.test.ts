// The watcher's remote command run for real on this machine (inotifywait from inotify-tools): what
// it prints on an overflow, and the barrier that proves every earlier event has been read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { barrierCommand, remoteWatchCommand } from "../../../src/adapters/watcher.js";
import { parseChangeLog } from "../../../src/phases/changeJournal.js";

const haveInotifywait = spawnSync("sh", ["-c", "command -v inotifywait"]).status === 0;

/** Run the remote command locally; its stdout lines become the log the wrapper would write. */
function watch(dirs: string[], scratch: string) {
  const child = spawn("sh", ["-c", remoteWatchCommand(dirs, scratch)], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("latin1").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("latin1").on("data", (d: string) => (err += d));
  const log = (): string =>
    [
      "R 1",
      ...out
        .split("\n")
        .slice(0, -1)
        .map((l) => `E 2 ${l}`),
      "",
    ].join("\n");
  return { child, log, stderr: () => err };
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!what()) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await sleep(10);
  }
}

test(
  "a burst past the kernel's queue while inotifywait is stopped is reported, and a barrier comes after it",
  { skip: !haveInotifywait && "inotifywait is not installed here" },
  async () => {
    const root = mkdtempSync(join(tmpdir(), "bm-watch-"));
    const data = join(root, "data");
    const scratch = join(root, "scratch");
    mkdirSync(join(data, "sub"), { recursive: true });
    const w = watch([data], scratch);
    try {
      await until(() => w.stderr().includes("Watches established"));
      // A barrier: made and removed in the scratch directory, seen as a mark, never as a change.
      const b1 = spawnSync("sh", ["-c", barrierCommand(scratch, "barrier-1")], { encoding: "utf8" });
      assert.equal(b1.status, 0, b1.stderr);
      assert.match(b1.stdout, / \/ /, "the origin's mounts come with it");
      writeFileSync(join(data, "sub", "before"), "x");
      await until(() => parseChangeLog(w.log(), [data], { scratch }).marks?.has("barrier-1") ?? false);
      // The watcher stopped (a starved or stopped reader) while more events than
      // fs.inotify.max_queued_events (16,384 by default) are made: 10,000 files, 20,000 events.
      // Its pid: the inotifywait watching this test's own scratch directory (a unique path).
      const iw = spawnSync("pgrep", ["-f", `^inotifywait .* ${scratch}$`], { encoding: "utf8" })
        .stdout.trim()
        .split("\n")[0]!;
      assert.match(iw, /^\d+$/);
      const limit = Number(
        spawnSync("cat", ["/proc/sys/fs/inotify/max_queued_events"], { encoding: "utf8" }).stdout,
      );
      process.kill(Number(iw), "SIGSTOP");
      const n = Math.ceil((limit + 1000) / 2);
      spawnSync("sh", [
        "-c",
        `cd '${join(data, "sub")}' && i=0; while [ $i -lt ${n} ]; do : > f$i; i=$((i+1)); done`,
      ]);
      process.kill(Number(iw), "SIGCONT");
      const b2 = spawnSync("sh", ["-c", barrierCommand(scratch, "barrier-2")], { encoding: "utf8" });
      assert.equal(b2.status, 0, b2.stderr);
      await until(
        () => parseChangeLog(w.log(), [data], { scratch }).marks?.has("barrier-2") ?? false,
        30_000,
      );
      const log = parseChangeLog(w.log(), [data], { scratch });
      assert.match(log.untrusted ?? "", /overflowed/, "the loss is reported, not silent");
      assert.ok(log.events.some((e) => e.path === join(data, "sub", "before")));
    } finally {
      w.child.stdin.end(); // as ssh's channel closing: the remote command ends inotifywait
      await until(() => w.child.exitCode !== null || w.child.signalCode !== null).catch(() => w.child.kill());
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test(
  "the remote command makes its scratch directory and removes it when its channel closes",
  { skip: !haveInotifywait && "inotifywait is not installed here" },
  async () => {
    const root = mkdtempSync(join(tmpdir(), "bm-watch-"));
    const scratch = join(root, "scratch");
    const w = watch([root], scratch);
    try {
      await until(() => w.stderr().includes("Watches established"));
      assert.equal(spawnSync("test", ["-d", scratch]).status, 0);
      w.child.stdin.end();
      await until(() => w.child.exitCode !== null);
      assert.notEqual(spawnSync("test", ["-e", scratch]).status, 0, "removed");
    } finally {
      w.child.kill();
      rmSync(root, { recursive: true, force: true });
    }
  },
);
