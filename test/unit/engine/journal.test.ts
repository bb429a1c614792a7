// The file journal: each record written at once, synced off the event loop; a torn last line lost no later record.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileJournal, MemoryJournal } from "../../../src/engine/journal.js";
import { tempDir } from "../../support/tmp.js";

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

test("a torn last journal line loses no later record, and is reported", () => {
  const d = tempDir();
  const j1 = new FileJournal(d);
  j1.append({ type: "step-done", step: "a" });
  j1.close();
  // A power cut in the middle of the next record.
  appendFileSync(join(d, "journal.jsonl"), '{"t":"2026-12-04T00:00:00Z","type":"step-sta');
  const torn: string[] = [];
  const j2 = new FileJournal(d, (p) => torn.push(p));
  j2.append({ type: "verify-result", ok: true });
  j2.close();
  assert.deepEqual(
    j2.records().map((r) => r.type),
    ["step-done", "verify-result"],
  );
  assert.deepEqual(torn, [join(d, "journal.jsonl")]);
  // A journal that ends well is not reported.
  const j3 = new FileJournal(d, (p) => torn.push(p));
  j3.append({ type: "x" });
  j3.close();
  assert.equal(torn.length, 1);
});
