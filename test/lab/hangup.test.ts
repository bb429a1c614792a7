// The administrator's SSH session drops during the downtime: the terminal of a running cold-sync,
// then of a running `run`, hangs up (SIGHUP). The run must go on to its end with its output in the
// log, and `status --follow` from a new session shows it live.
//
// The terminal is a pty of `script` (util-linux): killing `script` closes the pty's master side,
// and the kernel sends SIGHUP to the session on it, as sshd does when a connection drops. What
// follows the hang-up must be seen: each test's final copy carries a file the origin wrote just
// before, at a limited pace, so that the follower always comes while the run still goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Lab } from "../../lab/lab.js";
import { BIN } from "../support/cli.js";
import { journal, labForTests, waitForJournal } from "./support.js";

const ORIGIN = "--origin root@bm-origin";
/**
 * The downtime's copy of a file written on the origin just before (see fileToCarry) takes some 8 s
 * at this pace: the run is still going on when the follower comes, however loaded the machine.
 */
const SLOW = "--bwlimit 1024";
let lab: Lab;

labForTests("t-hup", { scale: 2 }, (l) => {
  lab = l;
  for (let i = 0; i < 2; i++) {
    const r = lab.bm(["hot-sync", "--origin", "root@bm-origin", "-q"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
});

/** 8 MiB of new data on the origin, which the next cold sync's final copy carries. */
function fileToCarry(name: string): void {
  lab.must("origin", `head -c 8M /dev/urandom > /var/spool/bm-hsm/${name}`);
}

/** Start bm-migrate ARGS on a pty of its own inside the target; returns the `script` process. */
function onTerminal(args: string) {
  const command = `${BIN} ${args}`;
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

/** The run's log on the target: each line's time and event. */
function logEvents(): { t: string; e: Record<string, unknown> }[] {
  return lab
    .must("target", "cat /var/log/bm-migrate/bm-migrate.log")
    .split("\n")
    .flatMap((line) => {
      const sp = line.indexOf(" ");
      try {
        return [{ t: line.slice(0, sp), e: JSON.parse(line.slice(sp + 1)) as Record<string, unknown> }];
      } catch {
        return [];
      }
    });
}

/** When the run said it hung up (the last such line: each test's run writes one). */
function hangUpLogged(): string {
  const hup = logEvents().filter(
    (l) =>
      l.e["type"] === "warning" &&
      /^SIGHUP: the terminal hung up; the run goes on/.test(String(l.e["message"])),
  );
  assert.ok(hup.length, "the run logged the hang-up");
  return hup.at(-1)!.t;
}

/** What both outputs show, for a failed assertion. */
const shown = (before: string, follow: { stdout: string; stderr: string }): string =>
  `on its terminal before the hang-up:\n${before}\nstatus --follow:\n${follow.stdout}${follow.stderr}`;

test("cold-sync: the terminal hangs up once the downtime began; the cold sync finishes, status --follow shows it", async () => {
  fileToCarry("hangup-1.bin");
  const { before, follow } = await hangUpWhen(
    `cold-sync ${ORIGIN} --yes --catch-up-after never ${SLOW}`,
    (r) => r["type"] === "step-started" && r["step"] === "stop-services:origin",
  );
  const why = shown(before, follow);
  assert.equal(follow.code, 0, why);
  assert.doesNotMatch(before, /Cold sync done/, `the terminal hung up before the end: ${why}`);
  // Followed from a new session while it ran: from its start, through the hang-up, to its end.
  assert.match(follow.stdout, /Following bm-migrate cold-sync \(pid \d+\)/, why);
  assert.match(follow.stdout, /warning: SIGHUP: the terminal hung up; the run goes on/, why);
  assert.match(follow.stdout, /ok Final copy of \/var\/spool\/bm-hsm: .*moved 1 files, 8\.0 MiB/, why);
  assert.match(follow.stdout, /== cold-sync finished in/, why);
  assert.match(follow.stdout, /Cold sync done: BlueMind is stopped on both servers/, why);
  assert.match(follow.stdout, /cold-sync: 1 pass; last \S+ finished/, why);
  // Its output went on in the log after the hang-up.
  const hup = hangUpLogged();
  assert.match(
    follow.stdout,
    new RegExp(`\\n${hup.slice(11, 19)} warning: SIGHUP`),
    "shown with its own time",
  );
  const done = logEvents().find((l) => /^Cold sync done: BlueMind is stopped/.test(String(l.e["message"])));
  assert.ok(done && done.t > hup, `what it printed after the hang-up is in the log (hang-up ${hup})`);
  const finished = journal(lab).filter((r) => r["type"] === "pass-finished" && r["phase"] === "cold-sync");
  assert.equal(finished.length, 1);
  assert.ok(String(finished[0]!["t"]) > hup, "the cold sync finished after the hang-up");
});

test("run: the terminal hangs up during the cold sync; verification and swap follow, the outage is measured", async () => {
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
  const isNewCold = (r: Record<string, unknown>): boolean =>
    r["type"] === "pass-started" && r["phase"] === "cold-sync" && !earlier.has(r["pass"]);
  fileToCarry("hangup-2.bin");
  const { before, follow } = await hangUpWhen(`run ${ORIGIN} --yes --stop-after swap ${SLOW}`, isNewCold);
  const why = shown(before, follow);
  assert.equal(follow.code, 0, why);
  assert.doesNotMatch(before, /== swap/, `the terminal hung up before the swap: ${why}`);
  // Followed live from a new session to the run's end: the swap and the outage with its make-up.
  assert.match(follow.stdout, /Following bm-migrate run \(pid \d+\)/, why);
  assert.match(follow.stdout, /warning: SIGHUP: the terminal hung up; the run goes on/, why);
  assert.match(follow.stdout, /ok Final copy of \/var\/spool\/bm-hsm: .*moved 1 files, 8\.0 MiB/, why);
  assert.match(follow.stdout, /== swap finished in/, why);
  const parts =
    /stop [\d.]+ (ms|s), copy [\d.]+ (ms|s), verification [\d.]+ (ms|s), swap [\d.]+ (ms|s), start [\d.]+ (ms|s)/;
  assert.match(
    follow.stdout,
    new RegExp(
      `Outage: [\\d.]+ (ms|s) from the origin's stop .* until BlueMind answered on the target .*: ${parts.source}`,
    ),
    why,
  );
  assert.match(follow.stdout, /Stopped after swap, as asked/, why);
  // The status printed at the end of the follow: the outage measured, from the journal.
  assert.match(
    follow.stdout,
    new RegExp(
      `\\noutage: [\\d.]+ (ms|s) from the origin's stop .* until BlueMind answered on the target .*: ${parts.source}`,
    ),
    why,
  );
  // After the hang-up: the cold sync's verification of what changed passed, then the swap ran.
  const hup = hangUpLogged();
  assert.match(
    follow.stdout,
    new RegExp(`\\n${hup.slice(11, 19)} warning: SIGHUP`),
    "shown with its own time",
  );
  const j = journal(lab);
  const cold = j.find(isNewCold)!;
  assert.ok(String(cold["t"]) <= hup, "the hang-up came during the new cold sync");
  assert.ok(
    j.some(
      (r) =>
        r["type"] === "verify-result" && r["ok"] === true && r["scope"] === "changed" && String(r["t"]) > hup,
    ),
    "the verification of what changed passed after the hang-up",
  );
  const swapStart = j.find((r) => r["type"] === "pass-started" && r["phase"] === "swap");
  assert.ok(swapStart && String(swapStart["t"]) > hup, "the swap began after the hang-up");
  assert.ok(j.some((r) => r["type"] === "pass-finished" && r["pass"] === swapStart["pass"]));
});
