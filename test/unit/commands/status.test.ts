import { test } from "node:test";
import assert from "node:assert/strict";
import { cli, runCli } from "../../support/cli.js";
import { tempDir } from "../../support/tmp.js";
import { mkdtempSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { runGoingOn } from "../../../src/commands/status.js";
import { HumanSink } from "../../../src/cli/output.js";

/** A cold sync pass started and never ended: a run killed in its downtime, or one going on. */
const openColdPass: JournalRecord[] = [
  { t: "2026-12-05T00:00:00.000Z", type: "pass-started", phase: "cold-sync", pass: "c1" },
  { t: "2026-12-05T00:00:01.000Z", type: "step-started", phase: "cold-sync", pass: "c1", step: "copy" },
];
const lock = { pid: 4242, command: "bm-migrate run", started: "2026-12-05T00:00:00.000Z" };

test("follow: a live lock holder is the run going on, followed from the lock's start", () => {
  const r = runGoingOn({ lock, self: 1, alive: () => true, records: () => [], journalAgeMs: 60_000 });
  assert.deepEqual(r, { what: "bm-migrate run (pid 4242)", since: lock.started });
});

test("follow: an unfinished pass counts only while the journal moves (a killed run's never ends)", () => {
  const base = { lock, self: 1, alive: () => false, records: () => openColdPass };
  assert.deepEqual(runGoingOn({ ...base, journalAgeMs: 500 }), {
    what: "bm-migrate cold-sync (pass c1)",
    since: "2026-12-05T00:00:00.000Z",
  });
  assert.equal(runGoingOn({ ...base, journalAgeMs: 10 * 60_000 }), undefined);
  assert.equal(runGoingOn({ ...base, journalAgeMs: undefined }), undefined);
  assert.equal(runGoingOn({ ...base, records: () => [], journalAgeMs: 500 }), undefined);
});

test("status --follow after a run killed mid-pass says no run is going on, and ends", () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-follow-"));
  const [state, log] = [join(dir, "state"), join(dir, "log")];
  mkdirSync(state, { mode: 0o700 });
  mkdirSync(log, { mode: 0o700 });
  const journal = join(state, "journal.jsonl");
  writeFileSync(journal, openColdPass.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(journal, old, old);
  const t0 = Date.now();
  const r = runCli(["status", "--follow", "--state-dir", state, "--log-dir", log], { timeoutMs: 30_000 });
  // Killed at 30 s it would still exit 0 (SIGTERM stops it cleanly): the time tells.
  assert.ok(Date.now() - t0 < 20_000, `it ended by itself (${Date.now() - t0} ms)`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /No run is going on now/);
  assert.doesNotMatch(r.stdout, /Following bm-migrate cold-sync/);
  assert.match(r.stdout, /cold-sync: 1 pass; last c1 unfinished/);
});

test("follow: a log's line is shown with the time it was logged, not the time it is shown", () => {
  const out: string[] = [];
  const stream = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
  const sink = new HumanSink({ json: false, quiet: false, tty: false, color: false, stream });
  sink.emitAt(
    { type: "info", message: "Cold sync pass c1: the downtime starts now" },
    "2026-12-05T01:02:03.456Z",
  );
  sink.emitAt(
    { type: "outage", startedAt: "2026-12-05T01:02:00.000Z", ongoing: true, parts: [] },
    "2026-12-05T01:02:05.000Z",
  );
  assert.deepEqual(out, [
    "01:02:03 Cold sync pass c1: the downtime starts now\n",
    "01:02:05 Outage so far: 5.0 s (since 01:02:00 UTC; it ends when BlueMind answers on the target)\n",
  ]);
});

test("status --json prints one line with ts and type", () => {
  const dir = tempDir();
  const r = cli("status", "--json", "--state-dir", dir, "--log-dir", join(dir, "log"));
  assert.equal(r.code, 0, r.err);
  const lines = r.out.split("\n").filter(Boolean);
  assert.equal(lines.length, 1);
  const o = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(o["type"], "status");
  assert.ok(typeof o["ts"] === "string" && !Number.isNaN(Date.parse(o["ts"])), `ts: ${String(o["ts"])}`);
});
