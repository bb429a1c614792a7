// The change journal's reading, fed seeded random logs shaped as the real watcher writes them
// (src/adapters/watcher.ts: `R`, `E`, `W`, `X` lines; inotifywait's --csv, a field quoted when it
// holds a comma, a quote or a newline, a name with a newline continued on the next E line), with
// warnings, overflows and unmounts at random places. Part of issue #25's invariant test: whatever
// the log holds, every event is either read back exactly or the log is untrusted. The seed is
// printed; BM_PROPERTY_SEED=S replays it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { changesFor, parseChangeLog, relativeTo } from "../../../src/phases/changeJournal.js";
import { seededRandom } from "../../../lab/seeded.js";

const SEED = Number(process.env["BM_PROPERTY_SEED"] ?? Date.now() % 1_000_000);
const ROUNDS = 300;
const DIRS = ["/var/spool/cyrus/data/u/", "/var/spool/cyrus/data/v w/", "/var/spool/sieve/"];
const EVENTS = ["CREATE", "MODIFY", "CLOSE_WRITE,CLOSE", "DELETE", "MOVED_FROM", "MOVED_TO", "ATTRIB"];
const CHARS = ["a", "b", "1", ".", "-", " ", ",", '"', "\n", "\xe9", "\t"];

interface Generated {
  lines: string[];
  /** Each event's path and its place in the log (the offset of its first line), as the reader keeps it. */
  events: { at: number; path: string }[];
}

const csvField = (s: string): string => (/[,"\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function generate(rng: () => number): Generated {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rng() * a.length)]!;
  let t = 1000 + rng();
  const lines = [`R ${t.toFixed(6)}`];
  let offset = lines[0]!.length + 1;
  const events: Generated["events"] = [];
  const n = 1 + Math.floor(rng() * 12);
  for (let i = 0; i < n; i++) {
    let name = "";
    while (name === "" || name === "." || name === "..")
      name = Array.from({ length: 1 + Math.floor(rng() * 8) }, () => pick(CHARS)).join("");
    const dir = pick(DIRS);
    t += rng();
    const record = `${csvField(dir)},${csvField(pick(EVENTS))},${csvField(name)}`;
    // The wrapper stamps each line of ssh's output as it arrives: a name's newline starts a new E line.
    events.push({ at: offset, path: `${dir}${name}` });
    for (const part of record.split("\n")) {
      const line = `E ${t.toFixed(6)} ${part}`;
      lines.push(line);
      offset += line.length + 1;
    }
  }
  return { lines, events };
}

const text = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join("");

test(`seeded logs (seed ${SEED}): every event read back exactly, names with commas, quotes and newlines`, (t) => {
  t.diagnostic(`seed ${SEED} (BM_PROPERTY_SEED=${SEED} replays it)`);
  const rng = seededRandom(SEED);
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(rng);
    const log = parseChangeLog(text(g.lines), DIRS);
    assert.equal(log.untrusted, undefined, `seed ${SEED} round ${i}: ${JSON.stringify(g.lines)}`);
    assert.deepEqual(
      log.events.map((e) => e.path),
      g.events.map((e) => e.path),
      `seed ${SEED} round ${i}`,
    );
  }
});

test(`seeded logs (seed ${SEED}): a warning, an overflow or an unmount anywhere makes the log untrusted`, () => {
  const rng = seededRandom(SEED + 1);
  const hostile = [
    (t: string) => `W ${t} Couldn't watch /var/spool/cyrus/data/u: No space left on device`,
    (t: string) => `W ${t} inotifywait: Q_OVERFLOW`,
    (t: string) => `E ${t} /var/spool/cyrus/data/u/,Q_OVERFLOW,`,
    (t: string) => `E ${t} /var/spool/cyrus/data/u/,UNMOUNT,`,
    (t: string) => `E ${t} /var/spool/sieve/,"UNMOUNT,ISDIR",x`,
  ];
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(rng);
    const at = 1 + Math.floor(rng() * g.lines.length);
    const line = hostile[Math.floor(rng() * hostile.length)]!("1500.000000");
    // Between two E lines of one name too: the wrapper writes stderr's lines as they come.
    const lines = [...g.lines.slice(0, at), line, ...g.lines.slice(at)];
    const log = parseChangeLog(text(lines), DIRS);
    assert.ok(
      log.untrusted,
      `seed ${SEED} round ${i}: trusted despite ${JSON.stringify(line)} in ${JSON.stringify(lines)}`,
    );
  }
});

test(`seeded logs (seed ${SEED}): every path logged at or after a place in the log is in its directory's changes`, () => {
  const rng = seededRandom(SEED + 2);
  for (let i = 0; i < ROUNDS; i++) {
    const g = generate(rng);
    const all = text(g.lines);
    const log = parseChangeLog(all, DIRS);
    // A place in the log (what a copy's start or the ahead's start now is), not a time.
    const since = Math.floor(rng() * (all.length + 1));
    for (const dir of DIRS) {
      const c = changesFor(dir, log.events, since);
      if (c.full) continue;
      for (const e of g.events.filter((x) => x.at >= since)) {
        const rel = relativeTo(dir, e.path);
        if (rel !== undefined)
          assert.ok(
            c.paths.has(rel),
            `seed ${SEED} round ${i}: ${JSON.stringify(e.path)} missing since ${since}`,
          );
      }
    }
  }
});
