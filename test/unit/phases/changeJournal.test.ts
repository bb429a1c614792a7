// The change journal's pure parts: reading the watcher's log, turning events into the list rsync
// is given (with parents and hard-link names), and the rule for when the journal can be trusted.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  changesFor,
  incompleteLinkGroups,
  lastCopyStart,
  namesFromFindOutput,
  parseChangeLog,
  mountChange,
  mountsFor,
  outsideLinked,
  outsideLinksIn,
  relativeTo,
  trustFor,
  withParents,
  type ChangeLog,
} from "../../../src/phases/changeJournal.js";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { filterLiteral, topLevelFilters } from "../../../src/adapters/rsyncListed.js";
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const D = "/var/spool/cyrus";

test("the log is read: ready time, events, and what makes it untrusted", () => {
  const log = parseChangeLog(
    [
      "R 100.5",
      `E 101.0 ${D}/data/u/,CREATE,1.`,
      `E 102.0 ${D}/data/u/,"CLOSE_WRITE,CLOSE",a b.`,
      `E 103.0 ${D}/data/,"CREATE,ISDIR",new`,
      `E 104.0 ${D}/,ATTRIB,`,
      "",
    ].join("\n"),
  );
  assert.equal(log.readyAt, 100.5);
  assert.equal(log.untrusted, undefined);
  assert.equal(log.ended, undefined);
  assert.deepEqual(
    log.events.map((e) => [e.time, e.events.join(","), e.path]),
    [
      [101, "CREATE", `${D}/data/u/1.`],
      [102, "CLOSE_WRITE,CLOSE", `${D}/data/u/a b.`],
      [103, "CREATE,ISDIR", `${D}/data/new`],
      [104, "ATTRIB", D],
    ],
  );
  assert.match(parseChangeLog("R 1\nE 2 Q_OVERFLOW,\n").untrusted ?? "", /overflow/);
  assert.match(
    parseChangeLog("R 1\nW 2 Failed to watch /x; upper limit on inotify watches reached!\n").untrusted ?? "",
    /upper limit/,
  );
  // A line that is no CSV record: distrust, never guess.
  assert.match(parseChangeLog(`R 1\nE 2 CREATE ${D}/a\n`).untrusted ?? "", /unreadable/);
  assert.deepEqual(parseChangeLog("R 1\nX 5 exit 1\n").ended, { time: 5, why: "exit 1" });
  // A last line still being written is left for the next look.
  assert.equal(parseChangeLog(`R 1\nE 2 ${D}/,CREATE,a`).events.length, 0);
});

test("paths relative to the data directory", () => {
  assert.equal(relativeTo(D, `${D}/data/x`), "data/x");
  assert.equal(relativeTo(D, `${D}/`), "");
  assert.equal(relativeTo(D, "/var/spool/cyrus2/x"), undefined);
});

// The place in the log is what orders events; the time is set to the same number here.
const ev = (at: number, events: string, rel: string): ChangeLog["events"][number] => ({
  time: at,
  at,
  events: events.split(","),
  path: `${D}/${rel}`,
});

test("changes since a place in the log: files listed, new directories walked, renamed directories mean a full pass", () => {
  const c = changesFor(
    D,
    [
      ev(5, "MODIFY", "old"),
      ev(10, "CREATE", "data/u/1."),
      ev(11, "MOVED_FROM", "data/u/2."),
      ev(11, "MOVED_TO", "data/u/3."),
      ev(12, "DELETE", "data/u/4."),
      ev(13, "ATTRIB", "data/u/5."),
      ev(14, "CREATE,ISDIR", "data/v"),
      { time: 15, at: 15, events: ["CREATE"], path: "/var/lib/cyrus/elsewhere" },
    ],
    10,
  );
  assert.equal(c.full, undefined);
  assert.deepEqual([...c.paths].sort(), [
    "data/u/1.",
    "data/u/2.",
    "data/u/3.",
    "data/u/4.",
    "data/u/5.",
    "data/v",
  ]);
  assert.deepEqual([...c.createdDirs], ["data/v"]);
  assert.match(changesFor(D, [ev(10, "MOVED_TO,ISDIR", "data/w")], 0).full ?? "", /renamed/);
  assert.match(changesFor(D, [ev(10, "MOVED_FROM,ISDIR", "data/w")], 0).full ?? "", /renamed/);
  assert.match(changesFor(D, [ev(10, "DELETE,ISDIR", "data/w")], 0).full ?? "", /deleted/);
  assert.match(changesFor(D, [ev(10, "DELETE_SELF", "data/w/")], 0).full ?? "", /moved or deleted/);
  // The data directory's own attributes: listed as ".", no full pass.
  assert.deepEqual([...changesFor(D, [ev(10, "ATTRIB,ISDIR", "")], 0).paths], ["."]);
  // Events before the place do not count.
  assert.equal(changesFor(D, [ev(1, "DELETE,ISDIR", "data/w")], 2).full, undefined);
});

test("the list carries every parent, parents first; the top only when a top-level entry changed", () => {
  assert.deepEqual(withParents(["data/u/1.", "data/u/2.", "meta/x"]), [
    "data",
    "data/u",
    "data/u/1.",
    "data/u/2.",
    "meta",
    "meta/x",
  ]);
  assert.deepEqual(withParents(["top.db", "data/u/1."]), [".", "data", "data/u", "data/u/1.", "top.db"]);
  assert.deepEqual(withParents([]), []);
});

test("hard-link names from find's NUL-separated output", () => {
  assert.deepEqual(namesFromFindOutput("12 data/a/1.\u000012 data/b/1.\u000099 with space\u0000"), [
    "data/a/1.",
    "data/b/1.",
    "with space",
  ]);
  assert.deepEqual(namesFromFindOutput(""), []);
});

const rec = (t: string, type: string, pass: string, at?: number, step = `rsync:${D}`): JournalRecord => ({
  t,
  type,
  pass,
  step,
  ...(at === undefined ? {} : { data: { journal: { log: "L1", at } } }),
});

test("the last complete copy's start: its place in the log, done steps only, the current pass excluded", () => {
  const records = [
    rec("2026-01-01T10:00:00Z", "step-started", "h1"),
    rec("2026-01-01T10:05:00Z", "step-done", "h1", 100),
    rec("2026-01-01T11:00:00Z", "step-started", "h2"),
    rec("2026-01-01T11:01:00Z", "step-failed", "h2", 500),
    rec("2026-01-01T12:00:00Z", "step-started", "c1"),
    // The times run backwards (a clock stepped back): they play no part.
    rec("2025-01-01T12:00:10Z", "step-done", "c1", 900),
  ];
  assert.deepEqual(lastCopyStart(records, D, "c1"), { log: "L1", at: 100 });
  assert.deepEqual(lastCopyStart(records, D), { log: "L1", at: 900 });
  assert.equal(lastCopyStart(records, "/var/lib/cyrus"), undefined);
  // A copy that recorded no place (no watcher then, an older release): known, but no place.
  assert.deepEqual(lastCopyStart([rec("2026-01-01T10:05:00Z", "step-done", "h1")], D), { log: "", at: -1 });
});

test("trusted only when alive, complete and ready before the last copy began, by places in the log", () => {
  const log: ChangeLog = { readyAt: 1000, readyPos: 0, events: [] };
  const base = {
    dir: D,
    watchedDirs: [D],
    logId: "L1",
    alive: true,
    log,
    lastCopy: { log: "L1", at: 4096 } as { log: string; at: number } | undefined,
  };
  assert.deepEqual(trustFor(base), { trusted: true, since: 4096 });
  const why = (i: Partial<typeof base> & { log?: ChangeLog }): string => {
    const t = trustFor({ ...base, ...i });
    assert.equal(t.trusted, false);
    return t.trusted ? "" : t.reason;
  };
  assert.match(why({ watchedDirs: undefined }), /no change journal/);
  assert.match(why({ watchedDirs: ["/var/lib/cyrus"] }), /not watched/);
  assert.match(why({ alive: false }), /gone/);
  assert.match(why({ log: { ...log, untrusted: "the origin's inotify queue overflowed" } }), /overflowed/);
  assert.match(why({ log: { ...log, ended: { time: 1500, why: "exit 255" } } }), /ended/);
  assert.match(why({ log: { events: [] } }), /never established/);
  assert.match(why({ lastCopy: undefined }), /no complete earlier copy/);
  assert.match(why({ lastCopy: { log: "", at: -1 } }), /recorded no place/);
  assert.match(why({ lastCopy: { log: "L0", at: 4096 } }), /restarted/);
  assert.match(why({ log: { ...log, readyPos: 4096 } }), /started after the last complete copy/);
});

test("a clock stepped backwards hides nothing: events are taken by their place in the log", () => {
  // The copy began when the log was 30 bytes long; the target's clock was then stepped back an
  // hour, so the change's line carries an older time than the copy's start.
  const text = ["R 5000.0", "E 4000.0 /var/spool/cyrus/data/,MODIFY,after-step.", ""].join("\n");
  const log = parseChangeLog(text, [D]);
  const at = log.events[0]!.at;
  assert.equal(at, "R 5000.0\n".length);
  const t = trustFor({ dir: D, watchedDirs: [D], logId: "L", alive: true, log, lastCopy: { log: "L", at } });
  assert.ok(t.trusted);
  assert.deepEqual(
    [...changesFor(D, log.events, t.trusted ? t.since : Infinity).paths],
    ["data/after-step."],
  );
  // Read from an offset (a later round): places count from the start of the whole log.
  const later = parseChangeLog(text.slice(at), [D], { base: at });
  assert.equal(later.events[0]!.at, at);
});

test("a link group needs a walk only when some of its names are not listed", () => {
  // Inode 7: both names listed (one delivery to two mailboxes). Inode 9: a new name for an old file.
  const out = "7 2 ./a/1.\u00007 2 ./b/1.\u00009 2 ./c/new.\u0000";
  assert.deepEqual(incompleteLinkGroups(out), ["9"]);
  assert.deepEqual(incompleteLinkGroups(""), []);
});

test("a listed copy with the directory itself listed brings only the listed names at its top (real rsync)", () => {
  const root = mkdtempSync(join(tmpdir(), "bm-listed-"));
  try {
    const src = join(root, "src");
    const dst = join(root, "dst");
    const names = ["changed.seq", "mailboxes.db", "a*b", "[x]", "c\\d", "q?"];
    mkdirSync(join(src, "sub"), { recursive: true });
    mkdirSync(dst);
    for (const n of names) writeFileSync(join(src, n), `new ${n}`);
    writeFileSync(join(src, "sub", "deep"), "new deep");
    // Listed: ".", one plain name, the names with wildcards and a backslash, one deeper path.
    const paths = [".", "changed.seq", "a*b", "[x]", "c\\d", "sub", "sub/deep"];
    const filters = topLevelFilters(paths);
    assert.equal(filters.at(-1), "--exclude=/*");
    const r = spawnSync(
      "rsync",
      ["-aHS", "--from0", "--files-from=-", "--ignore-times", ...filters, `${src}/`, `${dst}/`],
      { input: paths.map((p) => `${p}\0`).join(""), encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    const copied = readdirSync(dst).sort();
    assert.deepEqual(copied, ["[x]", "a*b", "c\\d", "changed.seq", "sub"]);
    assert.equal(readFileSync(join(dst, "sub", "deep"), "utf8"), "new deep");
    // The directory's own attributes still come: its mtime is the origin's.
    utimesSync(src, 1_000_000, 1_000_000);
    spawnSync("rsync", ["-aHS", "--from0", "--files-from=-", ...filters, `${src}/`, `${dst}/`], {
      input: paths.map((p) => `${p}\0`).join(""),
    });
    assert.equal(statSync(dst).mtimeMs, 1_000_000_000);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("without the directory itself listed, no filter; a wildcard name is escaped, a plain one is not", () => {
  assert.deepEqual(topLevelFilters(["a", "a/b"]), []);
  assert.equal(filterLiteral("plain\\name"), "plain\\name");
  assert.equal(filterLiteral("a*b\\c"), "a\\*b\\\\c");
  assert.deepEqual(topLevelFilters([".", "x", "y/z"]), ["--include=/x", "--exclude=/*"]);
});

test("a name with a newline and fake event text is one event with its exact path, never two", () => {
  // What inotifywait --csv printed for `mkdir -p $'nl\nMODIFY /root'` (the same bytes seen from 3.14,
  // Debian 11, and 3.22, Debian 12).
  const log = parseChangeLog(
    [
      "R 1",
      `E 2 ${D}/,"CREATE,ISDIR","nl`,
      `E 2 MODIFY "`,
      `E 3 "${D}/nl`,
      `E 3 MODIFY /","CREATE,ISDIR",root`,
      "",
    ].join("\n"),
    [D],
  );
  assert.deepEqual(
    log.events.map((e) => e.path),
    [`${D}/nl\nMODIFY `],
    "the forged MODIFY is part of the name",
  );
  // The event inside the directory whose own path needed quoting is not guessed at: full pass.
  assert.match(log.untrusted ?? "", /cannot be read back with certainty/);
  // The name with a quote and a comma, once the directory is plain, reads back exactly.
  assert.deepEqual(
    parseChangeLog(`R 1\nE 4 ${D}/,CREATE,"q""uote,comma"\n`, [D]).events.map((e) => e.path),
    [`${D}/q"uote,comma`],
  );
  // The old --format '%e %w%f' line, or any path outside the watched trees, is refused.
  assert.match(parseChangeLog(`R 1\nE 2 MODIFY /root/x\n`, [D]).untrusted ?? "", /unreadable/);
  assert.match(parseChangeLog(`R 1\nE 2 /root/,MODIFY,x\n`, [D]).untrusted ?? "", /outside the watched/);
  assert.match(parseChangeLog(`R 1\nE 2 ${D}/,MODIFY,"a/b"\n`, [D]).untrusted ?? "", /holds a \//);
  assert.match(parseChangeLog(`R 1\nE 2 ${D}/../,MODIFY,x\n`, [D]).untrusted ?? "", /not plain/);
  // A record still open at the end of what was read.
  assert.match(parseChangeLog(`R 1\nE 2 ${D}/,CREATE,"a\n`, [D]).untrusted ?? "", /ends inside an event/);
});

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;

/** Real inotifywait output as the watcher's wrapper logs it: `E <time> <line>` after an `R`. */
function asLog(fixture: string, readyAt = 1): string {
  const lines = readFileSync(join(FIXTURES, fixture), "latin1")
    .split("\n")
    .filter((l) => l !== "");
  return [`R ${readyAt}`, ...lines.map((l, i) => `E ${readyAt + i + 1} ${l}`), ""].join("\n");
}

test("what the real watcher prints on an overflow distrusts the log (3.22 and 4.23 print it)", () => {
  // Captured: `inotifywait -m -r --csv -e ...,q_overflow,unmount` stopped with SIGSTOP while
  // 10,000 files were made (20,000 events past fs.inotify.max_queued_events, 16,384), then SIGCONT.
  for (const v of ["3.22", "4.23"]) {
    const log = parseChangeLog(asLog(`inotifywait-overflow-${v}.txt`), ["/tmp/jt-ov/w"], {
      scratch: "/tmp/jt-ov/s",
    });
    assert.match(log.untrusted ?? "", /overflowed/, v);
    // The marks made in the scratch directory (before and after) are marks, not changes.
    assert.deepEqual([...(log.marks ?? new Map()).keys()], ["beat", "beat2"], v);
  }
  // 3.14 (Debian 11) crashes on the overflow (SIGSEGV, exit 139): the log stops, the watcher ends,
  // and an ended watcher is never trusted; its output up to there reads as plain events.
  const old = parseChangeLog(asLog("inotifywait-overflow-3.14.txt") + "X 99 exit 139\n", ["/tmp/jt-ov/w"], {
    scratch: "/tmp/jt-ov/s",
  });
  assert.equal(old.untrusted, undefined);
  assert.match(
    trustFor({
      dir: "/tmp/jt-ov/w",
      watchedDirs: ["/tmp/jt-ov/w"],
      logId: "L",
      alive: true,
      log: old,
      lastCopy: { log: "L", at: 1 },
    }).trusted
      ? ""
      : "ended",
    /ended/,
  );
});

test("an unmount under a data directory, as the real watcher prints it, distrusts the log", () => {
  const log = parseChangeLog(asLog("inotifywait-unmount.txt"), ["/tmp/jt-mn/w"], { scratch: "/tmp/jt-mn/s" });
  assert.match(log.untrusted ?? "", /unmounted under \/tmp\/jt-mn\/w\/m1/);
});

test("mounts that decide a data directory's paths, and what changed among them", () => {
  const info = [
    "22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw",
    "30 22 0:30 / /var/spool/cyrus rw - ext4 /dev/sdb1 rw",
    "31 22 0:31 / /var/spool/cyrus2 rw - tmpfs none rw",
    "40 22 0:40 / /home rw - ext4 /dev/sdc1 rw",
  ].join("\n");
  const before = mountsFor(D, info);
  assert.deepEqual(before, ["22 0:21 /", "30 0:30 /var/spool/cyrus"]);
  assert.equal(mountChange(D, before, info), undefined);
  const later = `${info}\n77 30 0:77 / /var/spool/cyrus/data/u rw - tmpfs none rw\n`;
  assert.match(mountChange(D, before, later) ?? "", /mounted \/var\/spool\/cyrus\/data\/u/);
  // Elsewhere: not this directory's business.
  assert.equal(mountChange(D, before, `${info}\n78 22 0:78 / /mnt rw - tmpfs none rw\n`), undefined);
  assert.match(mountChange(D, before, info.split("\n").slice(0, 1).join("\n")) ?? "", /unmounted/);
});

test("files with a name outside the data directories, from find's %D:%i %n %p output", () => {
  // Each record: DEVICE:INODE LINKS PATH (find -printf '%D:%i %n %p\0').
  const out = [
    "2049:7 2 /var/spool/cyrus/a", // both names inside (one in another data directory)
    "2049:7 2 /var/spool/bm-hsm/a",
    "2049:9 2 /var/spool/cyrus/b", // its other name is outside
    "2050:9 2 /var/spool/cyrus/c", // the same inode number on another device: another file
    "2050:9 2 /var/spool/cyrus/d",
    "2049:11 3 /var/spool/cyrus/e", // three links, two names inside
    "2049:11 3 /var/spool/cyrus/f",
    "",
  ].join("\0");
  assert.deepEqual(outsideLinked(out), ["/var/spool/cyrus/b", "/var/spool/cyrus/e", "/var/spool/cyrus/f"]);
  assert.deepEqual(outsideLinked(""), []);
  assert.deepEqual(outsideLinksIn(D, ["/var/spool/cyrus/b", "/var/spool/bm-hsm/x", D]), ["b"]);
});
