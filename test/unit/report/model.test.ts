import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../../support/cli.js";
import { existsSync, mkdtempSync, readFileSync, copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { defaultReportPath } from "../../../src/commands/report.js";
import { esc } from "../../../src/report/escape.js";
import { deviation, renderReport } from "../../../src/report/html.js";
import {
  buildReportModel,
  commandsFromLog,
  mergeCommands,
  redactSecrets,
  type ReportModel,
} from "../../../src/report/model.js";
import { buildTimeAxis, clusters, shares } from "../../../src/report/timeAxis.js";

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
const NOW = Date.parse("2025-06-14T20:12:00Z");

function fixtureRecords(): JournalRecord[] {
  return readFileSync(join(FIXTURES, "journal-sample.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as JournalRecord);
}
function fixtureModel(): ReportModel {
  const logCommands = commandsFromLog(readFileSync(join(FIXTURES, "log-sample.log"), "utf8"));
  return buildReportModel(fixtureRecords(), { now: NOW, logCommands });
}
const at = (hms: string) => `2025-06-14T${hms}.000Z`;
/** Like assert.match on a page, without printing the whole page when it fails. */
const has = (html: string, re: RegExp, what?: string) => assert.ok(re.test(html), what ?? `expected ${re}`);
const hasNot = (html: string, re: RegExp, what?: string) =>
  assert.ok(!re.test(html), what ?? `unexpected ${re}`);

// ---- model ----

test("passes: two hot passes, the cold pass and verify, in order, labelled per phase", () => {
  const m = fixtureModel();
  assert.deepEqual(
    m.passes.map((p) => [p.label, p.status]),
    [
      ["hot-sync #1", "finished"],
      ["hot-sync #2", "finished"],
      ["cold-sync", "finished"],
      ["verify", "finished"],
    ],
  );
  assert.deepEqual(
    m.phases.map((p) => [p.phase, p.status, p.passes]),
    [
      ["hot-sync", "finished", 2],
      ["cold-sync", "finished", 1],
      ["verify", "finished", 1],
      ["swap", "not run yet", 0],
      ["post", "not run yet", 0],
    ],
  );
  assert.equal(m.runs.length, 6, "the check, two hot runs (one resumed), cold and verify");
  const verify = m.passes[3]!;
  assert.equal(verify.workMs, 94520, "verify's pass is its result record, timed by its duration");
});

test("a pass interrupted then resumed has two segments and keeps the earlier failure as a note", () => {
  const hot1 = fixtureModel().passes[0]!;
  assert.deepEqual(
    hot1.segments.map((s) => s.outcome),
    ["failed", "finished"],
  );
  assert.equal(hot1.error, undefined, "a finished pass does not stand failed");
  assert.equal(hot1.earlierFailures.length, 1);
  assert.match(hot1.earlierFailures[0]!, /interrupted/);
  // Working time excludes the 16 minutes between the interruption and the resume.
  assert.ok(hot1.workMs < hot1.end - hot1.start - 15 * 60_000);
  const cyrus = hot1.steps.find((s) => s.step === "rsync:/var/spool/cyrus")!;
  assert.equal(cyrus.status, "done", "the step re-run on resume replaces its failure");
});

test("directories: one row per directory and pass, grouped by directory", () => {
  const m = fixtureModel();
  assert.equal(m.directories.length, 21);
  const cyrus = m.directories.filter((d) => d.dir === "/var/spool/cyrus");
  assert.deepEqual(
    cyrus.map((d) => d.passLabel),
    ["hot-sync #1", "hot-sync #2", "cold-sync"],
  );
  assert.equal(cyrus[2]!.transferredFiles, 318);
  assert.equal(cyrus[2]!.files, 412530, "regular files, not entries");
  assert.equal(cyrus[2]!.bytes, Math.trunc(38.2 * 1024 ** 3), "rsync's totalBytes");
  const dirsInOrder = [...new Set(m.directories.map((d) => d.dir))];
  assert.equal(dirsInOrder.length, 7);
  for (let i = 1; i < m.directories.length; i++) {
    const prev = dirsInOrder.indexOf(m.directories[i - 1]!.dir);
    assert.ok(dirsInOrder.indexOf(m.directories[i]!.dir) >= prev, "rows of a directory stay together");
  }
});

test("databases: the one-step copy of the cold sync, per database", () => {
  const dbs = fixtureModel().databases;
  assert.deepEqual(
    dbs.map((d) => d.db),
    ["bj", "bj-data"],
  );
  const bj = dbs[0]!;
  assert.equal(bj.bytes, Math.trunc(1.6 * 1024 ** 3));
  assert.equal(bj.originBytes, Math.trunc(2.3 * 1024 ** 3));
  assert.equal(bj.tables, 412);
  assert.equal(bj.copyMs, 259137);
  assert.equal(bj.passLabel, "cold-sync");
});

test("databases: a dump and a restore of one pass are joined; a later pass replaces them", () => {
  const step = (hms: string, pass: string, id: string, data: Record<string, unknown>): JournalRecord => ({
    t: at(hms),
    type: "step-done",
    phase: "cold-sync",
    pass,
    step: id,
    durationMs: 1000,
    data,
  });
  const recs = [
    { t: at("09:00:00"), type: "pass-started", phase: "cold-sync", pass: "a" },
    step("09:01:00", "a", "dump:bj", { db: "bj", bytes: 500, tables: 3 }),
    step("09:02:00", "a", "restore:bj", { db: "bj", tables: 3, rows: 42 }),
    { t: at("09:03:00"), type: "pass-failed", phase: "cold-sync", pass: "a" },
    { t: at("10:00:00"), type: "pass-started", phase: "cold-sync", pass: "b" },
    step("10:01:00", "b", "dump:bj", { db: "bj", bytes: 600, tables: 3 }),
  ];
  const first = buildReportModel(recs.slice(0, 4), { now: NOW }).databases;
  assert.deepEqual(first, [
    { db: "bj", passLabel: "cold-sync", bytes: 500, tables: 3, rows: 42, dumpMs: 1000, restoreMs: 1000 },
  ]);
  const later = buildReportModel(recs, { now: NOW }).databases;
  assert.deepEqual(later, [{ db: "bj", passLabel: "cold-sync #2", bytes: 600, tables: 3, dumpMs: 1000 }]);
});

test("post runs as a phase of the runner: a failed invocation and a later one are two passes, with their steps", () => {
  const post = { phase: "post" };
  const recs: JournalRecord[] = [
    { t: at("21:00:00"), type: "pass-started", run: "r1", ...post, pass: "post-1" },
    { t: at("21:00:00"), type: "step-started", run: "r1", ...post, pass: "post-1", step: "firewall" },
    {
      t: at("21:00:02"),
      type: "step-failed",
      run: "r1",
      ...post,
      pass: "post-1",
      step: "firewall",
      error: "401",
      durationMs: 2000,
    },
    {
      t: at("21:00:02"),
      type: "pass-failed",
      run: "r1",
      ...post,
      pass: "post-1",
      step: "firewall",
      error: "401",
    },
    { t: at("21:05:00"), type: "pass-started", run: "r2", ...post, pass: "post-2" },
    { t: at("21:05:00"), type: "step-started", run: "r2", ...post, pass: "post-2", step: "firewall" },
    {
      t: at("21:05:03"),
      type: "step-done",
      run: "r2",
      ...post,
      pass: "post-2",
      step: "firewall",
      summary: "rules regenerated",
      durationMs: 3000,
    },
    { t: at("21:05:04"), type: "pass-finished", run: "r2", ...post, pass: "post-2", durationMs: 4000 },
  ];
  const m = buildReportModel(recs, { now: NOW });
  assert.deepEqual(
    m.passes.map((p) => [p.label, p.status, p.error]),
    [
      ["post #1", "failed", "401"],
      ["post #2", "finished", undefined],
    ],
  );
  assert.equal(m.passes[1]!.steps[0]!.summary, "rules regenerated");
  assert.equal(m.phases.find((p) => p.phase === "post")?.status, "finished");
});

test("downtime, forecast, preflight and verification are read from their records", () => {
  const m = fixtureModel();
  assert.equal(m.downtime?.ms, 290890);
  assert.equal(m.forecast?.downtimeMs, 372000);
  assert.match(m.forecast?.basis ?? "", /last hot pass/);
  assert.equal(deviation(m.downtime.ms, m.forecast.downtimeMs), "22 % under");
  assert.equal(deviation(410_000, 372_000), "10 % over");
  assert.deepEqual(m.check?.counts, { blocker: 0, warning: 2, info: 4 });
  assert.equal(m.check?.findings[0]!.severity, "warning", "most severe first");
  assert.match(m.check.findings[0].detail ?? "", /PostgreSQL 15/);
  assert.equal(m.verify?.ok, true);
  assert.equal(m.verify?.differenceCount, 0);
  assert.deepEqual(m.verify?.countColumns, ["value"]);
  assert.equal(m.verify?.counts.find((c) => c.name === "rows")?.values["value"], "10,517,531");
  assert.equal(m.verify?.counts.find((c) => c.name === "bytes")?.values["value"], "64.3 GiB");
});

test("the forecast judged is the last one made before the downtime, else the cold pass's own", () => {
  const base: JournalRecord[] = [
    { t: at("10:00:00"), type: "forecast", downtimeMs: 100_000 },
    {
      t: at("12:00:00"),
      type: "pass-started",
      phase: "cold-sync",
      pass: "c",
      forecast: { downtimeMs: 200_000 },
    },
    { t: at("12:00:01"), type: "downtime", startedAt: at("12:00:01"), endedAt: at("12:05:00"), ms: 299_000 },
    { t: at("12:06:00"), type: "forecast", downtimeMs: 999_000 },
  ];
  assert.equal(buildReportModel(base, { now: NOW }).forecast?.downtimeMs, 100_000);
  const noForecastRecord = base.filter((r) => r.type !== "forecast");
  const f = buildReportModel(noForecastRecord, { now: NOW }).forecast;
  assert.equal(f?.downtimeMs, 200_000);
  assert.equal(buildReportModel(noForecastRecord, { now: NOW }).downtime?.ms, 299_000);

  // A hot pass's basis reads as words, not as its JSON.
  const withBasis = base.map((r) =>
    r.t === at("10:00:00")
      ? {
          ...r,
          basis: { stopMs: 80, copyMs: 744, slowestStep: "database:bj-data", how: "delta over 111 MB" },
        }
      : r,
  );
  assert.equal(
    buildReportModel(withBasis, { now: NOW }).forecast?.basis,
    "stop 80 ms, then the slowest copy: database:bj-data 744 ms (delta over 111 MB)",
  );
});

test("a pass still running ends at its last record; a failed pass keeps its error", () => {
  const recs: JournalRecord[] = [
    { t: at("09:00:00"), type: "pass-started", phase: "hot-sync", pass: "p1" },
    {
      t: at("09:00:05"),
      type: "step-started",
      phase: "hot-sync",
      pass: "p1",
      step: "rsync:/a",
      title: "copy /a",
    },
    { t: at("09:10:00"), type: "pass-started", phase: "cold-sync", pass: "p2" },
    {
      t: at("09:11:00"),
      type: "step-failed",
      phase: "cold-sync",
      pass: "p2",
      step: "dump:bj",
      error: "pg_dump: boom",
    },
    {
      t: at("09:11:01"),
      type: "pass-failed",
      phase: "cold-sync",
      pass: "p2",
      error: "dump bj: pg_dump: boom",
    },
  ];
  const m = buildReportModel(recs, { now: NOW });
  const [hot, cold] = m.passes;
  assert.equal(hot?.status, "running");
  assert.equal(hot?.end, Date.parse(at("09:00:05")));
  assert.equal(hot?.steps[0]?.status, "started");
  assert.equal(cold?.status, "failed");
  assert.equal(cold?.error, "dump bj: pg_dump: boom");
  assert.equal(cold?.steps[0]?.status, "failed");
  assert.equal(m.phases.find((p) => p.phase === "cold-sync")?.status, "failed");
});

test("records without time, phase or with fields of the wrong type are tolerated", () => {
  const recs = [
    { type: "pass-started", phase: "hot-sync", pass: "x" },
    { t: "not a date", type: "check", findings: [] },
    {
      t: at("09:00:00"),
      type: "check",
      findings: [{ severity: "fatal", title: "odd" }, { id: "no-title" }, 3],
    },
    { t: at("09:00:01"), type: "verify-result", ok: "yes" },
    { t: at("09:00:02"), type: "downtime", startedAt: "?", endedAt: at("09:00:03") },
    {
      t: at("09:00:03"),
      type: "step-done",
      phase: "hot-sync",
      pass: "y",
      step: "rsync:/d",
      data: { dir: 7 },
    },
  ] as unknown as JournalRecord[];
  const m = buildReportModel(recs, { now: NOW });
  assert.deepEqual(m.check?.counts, { blocker: 0, warning: 0, info: 1 }, "unknown severity counts as info");
  assert.equal(m.verify, undefined);
  assert.equal(m.downtime, undefined);
  assert.equal(m.directories.length, 0);
  assert.equal(m.passes.length, 1);
});

// ---- commands ----

test("commands come from the log's command lines only, with the time of the line", () => {
  const cmds = commandsFromLog(readFileSync(join(FIXTURES, "log-sample.log"), "utf8"));
  assert.equal(cmds.length, 10);
  assert.equal(cmds[0]?.host, "origin");
  assert.equal(cmds[0]?.at, Date.parse("2025-06-14T08:41:03.005Z"));
  assert.deepEqual(commandsFromLog("garbage\n2025 {not json\n"), []);
});

test("a command in both journal and log is listed once; secrets are masked", () => {
  const log = commandsFromLog(
    `${at("10:00:00")} {"type":"command","host":"origin","command":"PGPASSWORD=bj pg_dump -U bj bj"}\n`,
  );
  const recs: JournalRecord[] = [
    {
      t: "2025-06-14T10:00:00.004Z",
      type: "command",
      host: "origin",
      command: "PGPASSWORD=bj pg_dump -U bj bj",
    },
    { t: at("11:00:00"), type: "command", host: "origin", command: "PGPASSWORD=bj pg_dump -U bj bj" },
  ];
  const merged = mergeCommands(recs, log);
  assert.equal(merged.length, 2, "the twin within 2 s is dropped, the later run is kept");
  for (const c of merged) assert.equal(c.command, "PGPASSWORD=*** pg_dump -U bj bj");
  assert.equal(
    redactSecrets("psql postgres://bj:secret@localhost/bj"),
    "psql postgres://bj:***@localhost/bj",
  );
  assert.equal(redactSecrets("x --password 'p w' y"), "x --password *** y");
});

// ---- time axis ----

test("the time axis collapses idle gaps and keeps every cluster readable", () => {
  const H = 3_600_000;
  const iv = [
    { start: 0, end: 2 * H },
    { start: 6 * H, end: 6 * H + 10 * 60_000 },
    { start: 6 * H + 12 * 60_000, end: 6 * H + 14 * 60_000 },
  ];
  const cl = clusters(iv, 0.25);
  assert.equal(cl.length, 2, "the 4 h gap is collapsed, the 2 min gap is kept to scale");
  const axis = buildTimeAxis(iv, { x0: 100, x1: 900, breakWidth: 20, minShare: 0.2 });
  assert.deepEqual(
    axis.pieces.map((p) => p.kind),
    ["span", "break", "span"],
  );
  assert.equal(axis.pieces[1]!.idleMs, 4 * H);
  const short = axis.pieces[2]!;
  assert.ok(short.x1 - short.x0 >= 0.2 * (800 - 20) - 0.001, "the short cluster gets its minimum share");
  let last = -Infinity;
  for (let t = -H; t <= 7 * H; t += 60_000) {
    const x = axis.x(t);
    assert.ok(x >= last && x >= 100 && x <= 900, "x grows with t and stays in the plot");
    last = x;
  }
  assert.ok(axis.ticks.length >= 3);
  assert.ok(axis.ticks.every((t) => /^\d\d:\d\d(:\d\d)?$/.test(t.label)));
  assert.deepEqual(shares([1, 1], 0.2), [0.5, 0.5]);
  const s = shares([98, 1, 1], 0.2);
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.deepEqual(s.slice(1), [0.2, 0.2]);
});

// ---- HTML ----

test("the HTML has the chart, the downtime window, the tables and nothing from the network", () => {
  const html = renderReport(fixtureModel());
  assert.equal((html.match(/<rect class="bar"/g) ?? []).length, 5, "4 passes, the first in two segments");
  has(html, /class="downtime-window"/);
  // Plain includes: a failed match would print the whole page.
  assert.ok(html.includes("cold phase 4 min 51 s"));
  assert.ok(html.includes("forecast 6 min 12 s"));
  assert.ok(html.includes("@media print"));
  hasNot(html, /<script|<link|@import|src="http/i);
  assert.deepEqual(
    [...html.matchAll(/https?:\/\/[^"'\s<]+/g)].map((m) => m[0]),
    ["http://www.w3.org/2000/svg"],
    "the only URL is the SVG namespace",
  );
  for (const id of [
    "timeline",
    "downtime",
    "phases",
    "directories",
    "databases",
    "preflight",
    "verification",
    "commands",
  ])
    has(html, new RegExp(`<section id="${id}">`));
  has(html, /rsync -aHS --delete/);
  hasNot(html, /not run yet<\/p>/, "every section of a full journal has content");
});

test("every part missing from an empty journal says 'not run yet'", () => {
  const html = renderReport(buildReportModel([], { now: NOW }));
  const sections = [...html.matchAll(/<section id="([a-z]+)">([\s\S]*?)<\/section>/g)];
  assert.equal(sections.length, 10);
  for (const [, id, body] of sections) {
    if (id === "timeline") assert.match(body!, /no phase has run yet/);
    else assert.match(body!, /not run yet/, `section ${id}`);
  }
  hasNot(html, /<rect class="bar"/);
  hasNot(html, /NaN|undefined/);
});

test("text from the journal and the log is escaped everywhere", () => {
  const evil = `<script>alert("x")</script>&'`;
  const recs: JournalRecord[] = [
    {
      t: at("08:00:00"),
      type: "check",
      findings: [{ id: evil, severity: "blocker", title: evil, remedy: evil }],
    },
    { t: at("09:00:00"), type: "pass-started", phase: "hot-sync", pass: `p"><img src=x onerror=alert(1)>` },
    {
      t: at("09:01:00"),
      type: "step-done",
      phase: "hot-sync",
      pass: `p"><img src=x onerror=alert(1)>`,
      step: "rsync:x",
      title: evil,
      durationMs: 1000,
      summary: evil,
      data: { dir: `/var/<b>spool`, bytes: 1, files: 1 },
    },
    {
      t: at("09:02:00"),
      type: "verify-result",
      ok: false,
      differences: [evil, { table: evil }],
      counts: { [evil]: 1 },
    },
    { t: at("09:03:00"), type: "command", host: evil, command: `echo ${evil}` },
  ];
  const html = renderReport(buildReportModel(recs, { now: NOW }));
  hasNot(html, /<script|<img|<b>spool|onerror=alert\(1\)>/);
  has(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;&amp;&#39;/);
  has(html, /\/var\/&lt;b&gt;spool/);
  assert.equal(esc(`a<b>&"'`), "a&lt;b&gt;&amp;&quot;&#39;");
});

test("a failed verification lists its differences", () => {
  const recs: JournalRecord[] = [
    {
      t: at("09:00:00"),
      type: "verify-result",
      ok: false,
      differences: ["bj: table t_mailbox 10 rows vs 9"],
      counts: {},
    },
  ];
  const html = renderReport(buildReportModel(recs, { now: NOW }));
  has(html, /1 difference\(s\)/);
  has(html, /<li>bj: table t_mailbox 10 rows vs 9<\/li>/);
});

test("a verification across PostgreSQL versions says what it accepted", () => {
  const recs: JournalRecord[] = [
    {
      t: at("09:00:00"),
      type: "verify-result",
      ok: true,
      differences: [],
      normalised: ["bj: schema public: owner postgres … on PostgreSQL 13, pg_database_owner … on 15"],
      counts: {},
    },
  ];
  const html = renderReport(buildReportModel(recs, { now: NOW }));
  has(html, /Accepted as what the change of PostgreSQL major version implies/);
  has(html, /<li>bj: schema public: owner postgres … on PostgreSQL 13, pg_database_owner … on 15<\/li>/);
});

test("a verification of what changed says how it was proven: ahead, refreshed, then in the outage", () => {
  const recs: JournalRecord[] = [
    { t: at("09:01:00"), type: "verify-ahead", startedAt: at("09:00:00"), durationMs: 60_000 },
    {
      t: at("09:01:10"),
      type: "verify-ahead",
      startedAt: at("09:01:08"),
      durationMs: 2_000,
      refreshOf: at("09:00:00"),
    },
    {
      t: at("09:02:00"),
      type: "verify-result",
      ok: true,
      scope: "changed",
      aheadAt: at("09:01:08"),
      durationMs: 900,
      differences: [],
      counts: {},
    },
  ];
  const html = renderReport(buildReportModel(recs, { now: NOW }));
  has(html, /every file and row compared ahead while the origin served \([^)]*09:00:00 UTC, 1 min 0 s\)/);
  has(html, /refreshed after a last hot pass[^;]*09:01:08 UTC, 2\.0 s\)/);
  has(html, /in the outage, only what could have changed since, 900 ms/);
  // A full verification says nothing of the kind.
  const full = renderReport(buildReportModel([{ ...recs[2]!, scope: "full" }], { now: NOW }));
  hasNot(full, /How it was proven/);
});

// ---- the command ----

test("the default report path is under the state dir, named by time", () => {
  assert.equal(
    defaultReportPath("/var/lib/bm-migrate", new Date("2025-06-14T20:07:31.123Z")),
    "/var/lib/bm-migrate/reports/migration-report-20250614T200731Z.html",
  );
});

test("bm-migrate report writes the file from the journal and prints its path", () => {
  const tmp = mkdtempSync(join(tmpdir(), "bm-report-"));
  const state = join(tmp, "state");
  mkdirSync(state);
  copyFileSync(join(FIXTURES, "journal-sample.jsonl"), join(state, "journal.jsonl"));
  const run = (...args: string[]) =>
    runCli(["report", "--state-dir", state, "--log-dir", join(tmp, "log"), ...args]);
  const out = join(tmp, "r.html");
  const r = run("--out", out);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), out);
  assert.match(readFileSync(out, "utf8"), /BlueMind migration report/);
  assert.ok(!existsSync(`${out}.partial`));

  const d = run();
  assert.equal(d.code, 0, d.stderr);
  const written = readdirSync(join(state, "reports"));
  assert.equal(written.length, 1);
  assert.match(written[0]!, /^migration-report-\d{8}T\d{6}Z\.html$/);
  assert.equal(d.stdout.trim(), join(state, "reports", written[0]!));
});

test("the report lists what was set aside, the queue's counts and the repairs, from the journal", async () => {
  const { carriedView } = await import("../../../src/report/model.js");
  const rec = (step: string, data: Record<string, unknown>, summary = "") => ({
    t: "2026-12-04T22:00:00.000Z",
    type: "step-done",
    phase: "cold-sync",
    pass: "p1",
    step,
    summary,
    data,
  });
  const c = carriedView([
    { t: "2026-12-04T21:59:00.000Z", type: "postfix-flush", before: 7, after: 5 },
    rec("config", {
      setAside: ["/etc/bm/bm-fresh-install.properties"],
      backupDir: "/var/lib/bm-migrate/config-before/p1",
    }),
    rec("target-leftovers", { setAside: ["/var/cache/bm-core/tasks-queues"], backupDir: "/x" }),
    rec("postfix-queue:origin", { queued: 5 }),
    rec("postfix-queue:target", { requeued: 5, leftQueue: 5, stillQueued: 0 }),
    rec("repair:domains", {}, "hollow.directory repaired on 1 domain(s): bluemind.lab"),
  ]);
  assert.deepEqual(
    c.setAside.map((s) => s.path),
    ["/etc/bm/bm-fresh-install.properties", "/var/cache/bm-core/tasks-queues"],
  );
  assert.deepEqual(c.queue, {
    beforeFlush: 7,
    afterFlush: 5,
    atStop: 5,
    requeued: 5,
    leftQueue: 5,
    stillQueued: 0,
  });
  assert.match(c.repairs ?? "", /hollow\.directory/);
});
