// The administrator's SSH session drops during the downtime: the terminal of a running cold-sync,
// then of a running `run`, hangs up (SIGHUP). The run must go on to its end with its output in the
// log, and `status --follow` from a new session shows it live.
//
// The terminal is a pty of `script` (util-linux): killing `script` closes the pty's master side,
// and the kernel sends SIGHUP to the session on it, as sshd does when a connection drops.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Lab, REPO } from "../../lab/lab.js";
import { journal, waitForJournal } from "./support.js";

const ORIGIN = "--origin root@bm-origin";
let lab: Lab;

before(() => {
  lab = Lab.up("t-hup", { scale: 2 });
  for (let i = 0; i < 2; i++) {
    const r = lab.bm(["hot-sync", "--origin", "root@bm-origin", "-q"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
});
after(() => lab?.down());

/** Start bm-migrate ARGS on a pty of its own inside the target; returns the `script` process. */
function onTerminal(args: string) {
  const command = `${join(REPO, "bin", "bm-migrate")} ${args}`;
  const enter = ["-t", lab.pid("target"), "-m", "-n", "-u", "--", "env", "-C", "/root", "HOME=/root"];
  const child = spawn("nsenter", [...enter, "script", "-qfec", command, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  return { child, output: () => out };
}

async function hangUpWhen(args: string, when: (r: Record<string, unknown>) => boolean) {
  const t = onTerminal(args);
  const exited = new Promise<void>((res) => t.child.on("exit", () => res()));
  await waitForJournal(lab, when, 300_000).catch((err: unknown) => {
    t.child.kill("SIGKILL");
    throw new Error(`${String(err)}; what the command printed on its terminal:\n${t.output()}`);
  });
  t.child.kill("SIGKILL"); // the terminal goes away: its session gets SIGHUP
  await exited;
  // From a new session: follow it until it ends.
  const follow = lab.bm(["status", "--follow"], { timeoutMs: 600_000 });
  return { before: t.output(), follow };
}

test("cold-sync: the terminal hangs up once the downtime began; the cold sync finishes, status --follow shows it", async () => {
  const { follow } = await hangUpWhen(
    `cold-sync ${ORIGIN} --yes --catch-up-after never`,
    (r) => r["type"] === "step-started" && r["step"] === "stop-services:origin",
  );
  assert.equal(follow.code, 0, follow.stderr);
  // Followed while it ran (from its start): its output to the end; else it had ended already.
  if (/Following bm-migrate cold-sync/.test(follow.stdout))
    assert.match(follow.stdout, /== cold-sync finished in/, "the run's output, from the log");
  else assert.match(follow.stdout, /No run is going on now/);
  assert.match(follow.stdout, /cold-sync: 1 pass; last \S+ finished/);
  const log = lab.must("target", "cat /var/log/bm-migrate/bm-migrate.log");
  assert.match(log, /SIGHUP: the terminal hung up; the run goes on/);
  assert.match(
    log,
    /Cold sync done: BlueMind is stopped on both servers/,
    "what it printed is in the log too",
  );
  assert.ok(journal(lab).some((r) => r["type"] === "pass-finished" && r["phase"] === "cold-sync"));
});

test(
  "run: the terminal hangs up during the cold sync; verification and swap follow, the outage is measured",
  {
    // After a rollback the cold sync catches up first (it refuses --catch-up-after never without a
    // complete staging copy since issue 16's change): the run passed that flag in this session's two
    // runs and never reached its cold sync. Fixed, not run again before the deadline.
    todo: "not run since the fix above",
  },
  async () => {
    // A new cold sync is needed: roll back, then run from the hot phase's end.
    const rb = lab.bm(["rollback", "--origin", "root@bm-origin", "--yes"]);
    assert.equal(rb.code, 0, rb.stderr + rb.stdout);
    const hot = lab.bm(["hot-sync", "--origin", "root@bm-origin", "-q"]);
    assert.equal(hot.code, 0, hot.stderr + hot.stdout);
    // The new cold sync's pass (the rolled-back one is in the journal too).
    const earlier = new Set(
      journal(lab)
        .filter((r) => r["type"] === "pass-started" && r["phase"] === "cold-sync")
        .map((r) => r["pass"]),
    );
    const { follow } = await hangUpWhen(
      `run ${ORIGIN} --yes --stop-after swap`,
      (r) => r["type"] === "pass-started" && r["phase"] === "cold-sync" && !earlier.has(r["pass"]),
    );
    assert.equal(follow.code, 0, follow.stderr);
    if (/Following bm-migrate run/.test(follow.stdout)) {
      assert.match(follow.stdout, /== swap finished in/);
      assert.match(follow.stdout, /Outage: [\d.]+ (ms|s) from the origin's stop/);
    }
    assert.match(
      follow.stdout,
      /outage: [\d.]+ (ms|s) from the origin's stop .* stop .*, copy .*, verification .*, swap .*, start /,
    );
    const j = journal(lab);
    assert.ok(j.some((r) => r["type"] === "pass-finished" && r["phase"] === "swap"));
    assert.ok(j.some((r) => r["type"] === "verify-result" && r["ok"] === true));
  },
);
