/**
 * Helpers for lab tests: a lab per test file, bm-migrate run inside the target (its JSON lines
 * parsed, the usual sequence of phases), the test oracle (lab/manifest.ts run inside a host,
 * lab/compare.ts), reading the journal and waiting for it to reach a step.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { compareManifests, readManifest, type CompareOptions, type Difference } from "../../lab/compare.js";
import { Lab, REPO, type Exec, type LabUpOptions, type Role } from "../../lab/lab.js";

const TSX = join(REPO, "node_modules", ".bin", "tsx");
const outDir = mkdtempSync(join(tmpdir(), "bm-oracle-"));
let n = 0;

/** The oracle's manifest of a host: data directories, configuration files and both databases. */
export function manifest(lab: Lab, role: Role, dbs = "bj,bj-data"): string {
  const out = join(outDir, `${lab.name}-${role}-${++n}.jsonl`);
  const r = lab.exec(role, [TSX, join(REPO, "lab", "manifest.ts"), "--db", dbs, "--out", out], {
    timeoutMs: 600_000,
  });
  if (r.code !== 0) throw new Error(`manifest of ${role} failed: ${r.stderr}`);
  return out;
}

export async function differences(a: string, b: string, opts: CompareOptions = {}): Promise<Difference[]> {
  return compareManifests(await readManifest(a), await readManifest(b), opts);
}

/** Compare both hosts now; returns the differences as sentences (empty when identical). */
export async function compareHosts(lab: Lab, opts: CompareOptions = {}): Promise<string[]> {
  const [o, t] = [manifest(lab, "origin"), manifest(lab, "target")];
  return (await differences(o, t, opts)).map((d) => d.message);
}

/** The journal lines on the target. */
export function journal(lab: Lab): Record<string, unknown>[] {
  const r = lab.sh("target", "cat /var/lib/bm-migrate/journal.jsonl 2>/dev/null || true");
  return r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** Wait until the journal holds a record matching `pred` (e.g. a step started). */
export async function waitForJournal(
  lab: Lab,
  pred: (r: Record<string, unknown>) => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (journal(lab).some(pred)) return;
    await sleep(100);
  }
  throw new Error("timed out waiting for the journal");
}

export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A call the lab's core stand-in answered (lab/standin/core.ts logs each, the key as a marker). */
export interface CoreCall {
  t: string;
  method: string;
  path: string;
  body?: unknown;
  apiKey?: string;
  status: number;
}

/** Every call the target's core stand-in has answered so far. */
export function coreCalls(lab: Lab): CoreCall[] {
  return lab
    .must("target", "cat /var/log/bm-lab-core.calls.jsonl 2>/dev/null || true")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as CoreCall);
}

/** Run bm-migrate in the lab and say how long it took. */
export function timedBm(lab: Lab, args: string[]): { code: number | null; out: string; seconds: number } {
  const t0 = Date.now();
  const r = lab.bm(args);
  const seconds = (Date.now() - t0) / 1000;
  process.stdout.write(
    `# [${lab.name}] bm-migrate ${args.join(" ")}: exit ${r.code} in ${seconds.toFixed(1)} s\n`,
  );
  return { code: r.code, out: r.stdout + r.stderr, seconds };
}

/** What every command on the target is told about the origin. */
export const ORIGIN: readonly string[] = ["--origin", "root@bm-origin"];

/**
 * The lab of a test file (or of the describe block this is called in): brought up before its
 * first test and given to `setUp` (keep it there; prepare the hosts there too), taken down after
 * its last test, `tearDown` first.
 */
export function labForTests(
  name: string,
  opts: LabUpOptions,
  setUp: (lab: Lab) => void,
  tearDown?: () => void,
): void {
  let lab: Lab | undefined;
  before(() => {
    lab = Lab.up(name, opts);
    setUp(lab);
  });
  after(() => {
    tearDown?.();
    lab?.down();
  });
}

/** Run bm-migrate inside the target with --json added; `lines` are its JSON lines, parsed. */
export function bmJson(
  lab: Lab,
  args: string[],
  opts: Parameters<Lab["bm"]>[1] = {},
): Exec & { lines: Record<string, unknown>[] } {
  const r = lab.bm([...args, "--json"], opts);
  return { ...r, lines: jsonLines(r.stdout) };
}

/** check, hot-sync, cold-sync --yes and verify against the lab's origin, in order, each timed and asserted to exit 0. */
export function migrateThroughVerify(lab: Lab): void {
  for (const args of [["check"], ["hot-sync"], ["cold-sync", "--yes"], ["verify"]]) {
    const r = timedBm(lab, [...args, ...ORIGIN]);
    assert.equal(r.code, 0, `${args.join(" ")}:\n${r.out}`);
  }
}
