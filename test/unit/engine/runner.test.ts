// The engine with fakes: the runner against an in-memory journal, the status fold, the lock,
// and the pure parsers the phases rely on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileJournal, MemoryJournal } from "../../../src/engine/journal.js";
import { runPlan, unfinishedPass } from "../../../src/engine/runner.js";
import { RecordingSink } from "../../../src/engine/events.js";
import type { Plan, Step } from "../../../src/engine/plan.js";
import { formatPlan } from "../../../src/engine/plan.js";
import { foldJournal } from "../../../src/engine/status.js";
import { RunLock } from "../../../src/engine/lock.js";
import { AlreadyRunning, StepFailed } from "../../../src/engine/errors.js";
import { parseProgressLine, parseStats } from "../../../src/adapters/rsync.js";
import { profileFor } from "../../../src/bluemind/profiles.js";
import { readBmIni } from "../../../src/bluemind/bmIni.js";
import { forecastFromPass } from "../../../src/phases/forecast.js";
import { grouping, differingKeys, parseHashes } from "../../../src/phases/databaseDelta.js";

function step(id: string, log: string[], fail = false): Step {
  return {
    id,
    title: `step ${id}`,
    host: "target",
    commands: [`do ${id}`],
    run() {
      log.push(id);
      if (fail) return Promise.reject(new Error(`${id} broke`));
      return Promise.resolve({ summary: `${id} ok`, data: { n: 1 } });
    },
  };
}

const opts = (journal: MemoryJournal) => ({
  journal,
  events: new RecordingSink(),
  signal: new AbortController().signal,
  runId: "r1",
});

test("a failed stage stops the plan; the resumed pass skips what is done and re-runs the rest", async () => {
  const journal = new MemoryJournal();
  const log: string[] = [];
  const broken: Plan = {
    phase: "cold-sync",
    stages: [
      { name: "one", steps: [step("a", log), step("b", log)] },
      { name: "two", steps: [step("c", log, true), step("d", log)] },
      { name: "three", steps: [step("e", log)] },
    ],
  };
  await assert.rejects(
    runPlan(broken, { ...opts(journal), pass: "p1" }),
    (e: unknown) => e instanceof StepFailed && e.stepId === "c",
  );
  assert.deepEqual(
    log.sort(),
    ["a", "b", "c", "d"],
    "the failing stage's siblings still ran; the next stage did not",
  );
  assert.equal(unfinishedPass(journal.records(), "cold-sync"), "p1");

  const fixed: Plan = {
    ...broken,
    stages: broken.stages.map((s) => ({
      ...s,
      steps: s.steps.map((x) => (x.id === "c" ? step("c", log) : x)),
    })),
  };
  log.length = 0;
  const out = await runPlan(fixed, { ...opts(journal), pass: "p1", resume: true });
  assert.deepEqual(log.sort(), ["c", "e"], "only the failed and the never-run steps run again");
  assert.equal(out.results["a"]?.skipped, true);
  assert.equal(unfinishedPass(journal.records(), "cold-sync"), undefined);
  const st = foldJournal(journal.records());
  assert.equal(st.passes[0]?.state, "finished");
  assert.match(st.next, /bm-migrate verify/);
});

test("a step that waits for an earlier one of its stage starts after it, and not at all when it failed", async () => {
  const order: string[] = [];
  // db ends once rsync has ended (or after 2 s, which then shows in the order): no race with the
  // machine's load, and rsync cannot have waited for db.
  let rsyncEnded: () => void = () => {};
  const slow = (id: string, ms: number, fail = false): Step => ({
    ...step(id, []),
    async run() {
      order.push(`${id} start`);
      if (id === "db")
        await Promise.race([
          new Promise<void>((r) => (rsyncEnded = r)),
          new Promise((r) => setTimeout(r, 2000)),
        ]);
      else await new Promise((r) => setTimeout(r, ms));
      order.push(`${id} end`);
      if (id === "rsync") rsyncEnded();
      if (fail) throw new Error(`${id} broke`);
      return { summary: `${id} ok` };
    },
  });
  const plan = (fail: boolean): Plan => ({
    phase: "hot-sync",
    stages: [
      {
        name: "copy",
        steps: [slow("journal", 30, fail), slow("db", 50), { ...slow("rsync", 1), waitFor: ["journal"] }],
      },
    ],
  });
  await runPlan(plan(false), { ...opts(new MemoryJournal()), pass: "p1" });
  assert.deepEqual(order, ["journal start", "db start", "journal end", "rsync start", "rsync end", "db end"]);

  order.length = 0;
  await assert.rejects(
    runPlan(plan(true), { ...opts(new MemoryJournal()), pass: "p2" }),
    (e: unknown) => e instanceof StepFailed && e.stepId === "journal",
  );
  assert.ok(!order.includes("rsync start"), "the waiting step did not run");
  assert.ok(order.includes("db end"), "the other steps of the stage did");

  // Done in an earlier run (skipped) counts as ended.
  const journal = new MemoryJournal();
  journal.append({ type: "step-done", pass: "p3", step: "journal", summary: "ok" });
  order.length = 0;
  await runPlan(plan(false), { ...opts(journal), pass: "p3", resume: true });
  assert.deepEqual(order.slice(0, 2), ["db start", "rsync start"]);

  // Only earlier steps of the same stage can be waited for (no step can hold a slot forever).
  const backwards: Plan = {
    phase: "hot-sync",
    stages: [{ name: "copy", steps: [{ ...slow("rsync", 1), waitFor: ["journal"] }, slow("journal", 1)] }],
  };
  await assert.rejects(
    runPlan(backwards, { ...opts(new MemoryJournal()), pass: "p4" }),
    /not an earlier step/,
  );
});

test("the plan prints every step with its host and commands, stage by stage", () => {
  const text = formatPlan({
    phase: "hot-sync",
    stages: [{ name: "Copy", steps: [step("x", []), step("y", [])] }],
  });
  assert.match(text, /Copy \(these run at the same time\)/);
  assert.match(text, /1\. \[x\] step x {2}\(on target\)\n\s+\$ do x/);
});

test("status tells the next command at each point of the migration", () => {
  const j = new MemoryJournal();
  assert.match(foldJournal(j.records()).next, /bm-migrate check, then bm-migrate hot-sync/);
  j.append({ type: "pass-started", phase: "hot-sync", pass: "h1" });
  assert.match(foldJournal(j.records()).next, /hot-sync \(resumes pass h1\)/);
  j.append({ type: "pass-finished", phase: "hot-sync", pass: "h1", durationMs: 5 });
  assert.match(foldJournal(j.records()).next, /cold-sync when ready/);
  j.append({ type: "pass-started", phase: "cold-sync", pass: "c1" });
  assert.match(foldJournal(j.records()).next, /cold-sync \(resumes pass c1.*rollback/);
  j.append({ type: "rollback" });
  j.append({ type: "pass-abandoned", phase: "cold-sync", pass: "c1" });
  assert.match(foldJournal(j.records()).next, /hot-sync again/);
});

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

test("the profile follows the BlueMind version", () => {
  assert.deepEqual(profileFor("3.5.14-2")?.databases, ["bj"]);
  assert.equal(profileFor("4.1.56")?.id, "4");
  assert.ok(profileFor("4.1.56")?.configFiles.some((c) => c.pattern === "/etc/imapd*"));
  assert.ok(!profileFor("5.1.2")?.configFiles.some((c) => c.pattern.startsWith("/etc/bm-hps")));
  assert.equal(profileFor("5.3.0-1")?.dbPasswordInIni, true);
  assert.equal(profileFor("2.9"), undefined);
  assert.equal(profileFor("not a version"), undefined);
});

test("bm.ini values may be quoted", () => {
  const ini = readBmIni('[global]\nexternal-url = mail.example.org\nhost = 10.0.0.5\npassword = "s3cr=t"\n');
  assert.equal(ini.externalUrl, "mail.example.org");
  assert.equal(ini.password, "s3cr=t");
});

test("the downtime forecast is the stop plus the slowest copy as the cold sync will make it", () => {
  const first = new MemoryJournal();
  const done = (j: MemoryJournal, pass: string, step: string, durationMs: number, data: object = {}) =>
    j.append({ type: "step-done", pass, step, durationMs, data });
  // A first pass with the change journal: the directories' listed copies cost little, the
  // database's delta is estimated from its size (111 MB at 250 MB/s, plus 300 ms).
  done(first, "h1", "stop-services:target", 80);
  done(first, "h1", "set-aside:/var/spool/cyrus", 30);
  done(first, "h1", "change-journal:start", 900, { watching: true });
  done(first, "h1", "rsync:/var/spool/cyrus", 9000, { files: 83000, method: "tar" });
  done(first, "h1", "database-staging:bj-data", 2700, { mode: "full", originBytes: 111_000_000 });
  let f = forecastFromPass(first.records(), "h1");
  assert.equal(f?.basis.slowestStep, "database:bj-data");
  assert.equal(f?.downtimeMs, 80 + 200 + 300 + 444);

  // The same without a change journal: the full walk of 83,000 entries is the slowest.
  const walk = new MemoryJournal();
  for (const r of first.records()) if (r["step"] !== "change-journal:start") walk.append(r);
  f = forecastFromPass(walk.records(), "h1");
  assert.equal(f?.basis.slowestStep, "rsync:/var/spool/cyrus");
  assert.equal(f?.downtimeMs, 80 + 200 + 1245);

  // A later pass: the delta as timed, the listed copy of about what this pass moved.
  const later = new MemoryJournal();
  done(later, "h2", "stop-services:target", 50);
  done(later, "h2", "change-journal:start", 5, { watching: true });
  done(later, "h2", "rsync:/var/spool/cyrus", 2500, { transferredFiles: 1000, transferredBytes: 5_000_000 });
  done(later, "h2", "database-staging:bj-data", 900, {
    mode: "delta",
    ms: { about: 100, compare: 200, copy: 150, sequences: 20 },
  });
  f = forecastFromPass(later.records(), "h2");
  assert.equal(f?.basis.slowestStep, "rsync:/var/spool/cyrus");
  assert.equal(f?.downtimeMs, 50 + 200 + 400 + 300 + 100);
  assert.match(f?.basis.how ?? "", /listed copy/);
});

test("database delta groups rows by integer key ranges, else by key hash, else the whole table", () => {
  const byRange = grouping({ ident: "public.t", pk: ["id"], pkType: "bigint" }, 100000);
  assert.equal(byRange.expr, "(r.id >> 9)");
  assert.equal(byRange.where([0, 2]), "(r.id >= 0 AND r.id < 512) OR (r.id >= 1024 AND r.id < 1536)");
  const byHash = grouping({ ident: "public.b", pk: ["guid"], pkType: "text" }, 100000);
  assert.equal(byHash.expr, "(hashtext(r.guid::text) & 8191)");
  assert.equal(grouping({ ident: "public.n", pk: [] }, 10).where([0]), "true");
  const a = parseHashes([
    ["1", "10", "abc"],
    ["2", "5", "def"],
  ]);
  const b = parseHashes([
    ["1", "10", "abc"],
    ["2", "5", "xyz"],
    ["3", "1", "q"],
  ]);
  assert.deepEqual(differingKeys(a, b), ["2", "3"]);
});

test("configuration booleans read as written: nice = false turns niceness off", async () => {
  const { loadSettings } = await import("../../../src/engine/settings.js");
  const dir = mkdtempSync(join(tmpdir(), "bm-conf-"));
  const f = join(dir, "bm.conf");
  writeFileSync(f, "origin = root@old.example.org\nnice = false\n");
  assert.equal(loadSettings({ flags: {}, configFile: f }).nice, false);
  writeFileSync(f, "nice = yes\n");
  assert.equal(loadSettings({ flags: {}, configFile: f }).nice, true);
  writeFileSync(f, "nice = maybe\n");
  assert.throws(() => loadSettings({ flags: {}, configFile: f }), /nice/);
});

test("the file journal writes each record at once and syncs it off the event loop; flush waits for it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-journal-"));
  try {
    const j = new FileJournal(dir);
    j.append({ type: "pass-started", pass: "p" });
    // Visible to a reader at once (status, report, a resumed run), before any fsync ended.
    assert.equal(new FileJournal(dir).records()[0]?.type, "pass-started");
    const flushes = Array.from({ length: 20 }, (_, i) => {
      j.append({ type: "step-done", pass: "p", step: `s${i}` });
      return j.flush();
    });
    await Promise.all(flushes);
    j.append({ type: "pass-finished", pass: "p" });
    j.close(); // pending records are synced before the file is closed
    const types = new FileJournal(dir).records().map((r) => r.step ?? r.type);
    assert.deepEqual(types, [
      "pass-started",
      ...Array.from({ length: 20 }, (_, i) => `s${i}`),
      "pass-finished",
    ]);
    assert.equal(readFileSync(join(dir, "journal.jsonl"), "utf8").split("\n").length, 23);
    await new MemoryJournal().flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the runner waits for the journal's records on disk at the end of each stage and of the pass", async () => {
  class FlushSpy extends MemoryJournal {
    marks: string[] = [];
    override append(r: Parameters<MemoryJournal["append"]>[0]): void {
      this.marks.push(`${r.type}${r.step ? `:${r.step}` : ""}`);
      super.append(r);
    }
    override flush(): Promise<void> {
      this.marks.push("flush");
      return super.flush();
    }
  }
  const journal = new FlushSpy();
  const log: string[] = [];
  const plan: Plan = {
    phase: "cold-sync",
    stages: [
      { name: "stop", steps: [step("a", log)] },
      { name: "copy", steps: [step("b", log)] },
    ],
  };
  await runPlan(plan, { ...opts(journal), pass: "p" });
  assert.deepEqual(journal.marks, [
    "pass-started",
    "step-started:a",
    "step-done:a",
    "flush",
    "step-started:b",
    "step-done:b",
    "flush",
    "pass-finished",
    "flush",
  ]);
});
