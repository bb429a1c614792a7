// Verification ahead of the downtime: the row groups, what the downtime must prove, which paths it
// lists from the ahead record and the change journal, and when it must compare a directory whole.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, linkSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JournalRecord } from "../../../src/engine/journal.js";
import {
  differingGroups,
  groupExpr,
  groupFilter,
  GROUPING,
  groupMap,
  groupsBeyondTotals,
  parseTotals,
  tableTotalSql,
  totalsProve,
  parseGroupLines,
  runs,
  type GroupTable,
} from "../../../src/database/rowGroups.js";
import {
  aheadFiles,
  groupsToHash,
  LinkGroups,
  manifestScripts,
  MAX_LISTED,
  planListed,
  usableAhead,
  type VerifyAheadRecord,
} from "../../../src/verify/ahead.js";
import { fileManifestScript, listedInput, parseFileManifest } from "../../../src/verify/fileManifest.js";
import { LocalHost } from "../../../src/adapters/host.js";
import { beyondPlan, scanUsable } from "../../../src/verify/sinceAhead.js";

const intTable: GroupTable = { ident: "public.t_mailbox_record", pk: ["id"], pkType: "bigint" };
const textTable: GroupTable = { ident: "public.t_domain", pk: ["name"], pkType: "text" };
const noKey: GroupTable = { ident: "public.t_systemconf", pk: [] };

void test("row groups depend on the key alone: ranges of an integer key, buckets of others, one group without", () => {
  assert.equal(groupExpr(intTable), "(r.id::bigint >> 9)");
  // Masked, never abs() % n: abs(hashtext()) fails the statement when the hash is -2^31.
  assert.equal(groupExpr(textTable), "(hashtext(ROW(r.name)::text) & 1023)");
  assert.equal(groupExpr(noKey), "0");
  assert.equal(
    groupExpr({ ...noKey, rowKey: ["container_id", "imap_uid"] }),
    "(hashtext(ROW(r.container_id, r.imap_uid)::text) & 1023)",
    "a table without a primary key, by its row key",
  );
  // Adjacent groups of an integer key become one index range.
  assert.deepEqual(runs(["5", "3", "4", "9"]), [
    [3n, 5n],
    [9n, 9n],
  ]);
  assert.equal(
    groupFilter(intTable, ["3", "4", "5", "9"]),
    "(r.id >= 1536 AND r.id < 3072) OR (r.id >= 4608 AND r.id < 5120)",
  );
  assert.equal(groupFilter(textTable, []), "false");
  // A bytea key (BlueMind's message bodies' guid): ranges of its first 16 bits, read by its index;
  // keys shorter than 2 bytes are group -1. (Checked against PostgreSQL: every group's rows by the
  // expression are exactly the filter's, short and edge keys included.)
  const bytea: GroupTable = { ident: "public.t_message_body", pk: ["guid"], pkType: "bytea" };
  assert.match(groupExpr(bytea), /\(get_byte\(r\.guid, 0\) << 8\) \| \(get_byte\(r\.guid, 1\)\) END/);
  assert.equal(
    groupFilter(bytea, ["5", "6", "9", "65535"]),
    "(r.guid >= decode('0005', 'hex') AND r.guid < decode('0007', 'hex') AND length(r.guid) >= 2) OR " +
      "(r.guid >= decode('0009', 'hex') AND r.guid < decode('000a', 'hex') AND length(r.guid) >= 2) OR " +
      "(r.guid >= decode('ffff', 'hex') AND length(r.guid) >= 2)",
  );
  assert.equal(
    groupFilter(bytea, ["-1", "0"]),
    "length(r.guid) < 2 OR (r.guid >= decode('0000', 'hex') AND r.guid < decode('0001', 'hex') AND length(r.guid) >= 2)",
  );
});

void test("groups that differ between two maps of groups", () => {
  const lines = (text: string) => groupMap(parseGroupLines(text));
  const o = lines("public.t_mailbox_record\x1f0\x1f512\x1fh0\npublic.t_mailbox_record\x1f1\x1f512\x1fh1\n");
  const t = lines(
    "public.t_mailbox_record\x1f0\x1f512\x1fh0\npublic.t_mailbox_record\x1f1\x1f511\x1fh1\npublic.t_mailbox_record\x1f2\x1f1\x1fx\n",
  );
  assert.deepEqual([...differingGroups([intTable], o, t)], [["public.t_mailbox_record", ["1", "2"]]]);
});

void test("what the downtime hashes: groups differing ahead and written since on either side; whole when unknown or too many", () => {
  const counts = new Map([
    [
      "public.t_mailbox_record",
      new Map([
        ["0", 512],
        ["1", 512],
        ["3", 512],
        ["4", 500],
      ]),
    ],
  ]);
  const total = (fresh: string[]) => new Map([["public.t_mailbox_record", { rows: 2036, fresh }]]);
  assert.deepEqual(
    groupsToHash([intTable], { "public.t_mailbox_record": ["1"] }, counts, total(["3"]), total(["7", "3"])),
    [{ t: intTable, groups: ["1", "3", "7"] }],
  );
  assert.deepEqual(groupsToHash([intTable], {}, counts, total([]), total([])), [{ t: intTable, groups: [] }]);
  assert.deepEqual(
    groupsToHash([intTable], { "public.t_mailbox_record": "all" }, counts, total([]), total([])),
    [{ t: intTable }],
  );
  assert.deepEqual(
    groupsToHash([textTable], {}, counts, total([]), total([])),
    [{ t: textTable }],
    "unknown ahead",
  );
  const many = Array.from({ length: 5000 }, (_, i) => String(i));
  assert.deepEqual(groupsToHash([intTable], {}, counts, total(many), total([])), [{ t: intTable }]);
});

void test("the rows outside the hashed groups must add up to the ahead's on each side: a row gone from one side is seen", () => {
  // Ahead: groups 0..3, 512 rows each (2,048). Group 3 was written since: hashed, now 513 rows.
  const counts = new Map([
    ["0", 512],
    ["1", 512],
    ["2", 512],
    ["3", 512],
  ]);
  const hashed = (n: number) => new Map<string, [string, string]>([["3", [String(n), "h"]]]);
  const side = (rows: number, n = 513) => ({ rows, hashed: hashed(n) });
  assert.equal(totalsProve(counts, ["3"], side(2049), side(2049)), true, "nothing gone: proven");
  assert.equal(totalsProve(counts, ["3"], side(2048), side(2049)), false, "a row gone on the origin");
  assert.equal(totalsProve(counts, ["3"], side(2049), side(2048)), false, "a row gone on the target");
  assert.equal(
    totalsProve(counts, [], { rows: 2048, hashed: undefined }, { rows: 2048, hashed: undefined }),
    true,
  );
  assert.equal(
    totalsProve(counts, ["3"], { rows: 1536, hashed: undefined }, { rows: 1536, hashed: undefined }),
    true,
    "a hashed group emptied on both sides counts no rows",
  );
  // Then by group: the groups whose counts moved from the ahead's, or with rows written since.
  const c = (entries: [string, string, string][]) =>
    new Map<string, [string, string]>(entries.map(([g, n, f]) => [g, [n, f]]));
  assert.deepEqual(
    groupsBeyondTotals(
      counts,
      ["3"],
      c([
        ["0", "512", "0"],
        ["1", "511", "0"],
        ["2", "512", "0"],
        ["3", "513", "1"],
      ]),
      c([
        ["0", "512", "0"],
        ["1", "512", "0"],
        ["3", "513", "1"],
        ["9", "1", "1"],
      ]),
    ),
    ["1", "2", "9"],
  );
});

void test("the final copy's scan stands for the origin's count only while nothing committed there since", () => {
  const scan = {
    snapshot: "900:900:",
    since: 2 ** 32 + 880, // 64-bit; its 32-bit xid 880 is before the ahead's 890
    list: [{ ...intTable, pkType: "bigint" }],
    tables: new Map([
      [
        "public.t_mailbox_record",
        { rows: 10, since: 2, keyed: 2, sinceHash: "5", tids: '{"(0,1)","(0,2)"}' },
      ],
    ]),
  };
  assert.equal(scanUsable(scan, 890), true);
  assert.equal(scanUsable({ ...scan, snapshot: "899:900:899" }, 890), false, "a transaction was running");
  assert.equal(scanUsable(scan, 870), false, "its watermark is later than the ahead's");
  assert.equal(
    scanUsable({ ...scan, list: [...scan.list, { ...textTable, pkType: "text" }] }, 890),
    false,
    "a table it did not scan",
  );
  const many = {
    ...scan,
    tables: new Map([["public.t_mailbox_record", { rows: 9000, since: 5000, keyed: 5000, sinceHash: "1" }]]),
  };
  assert.equal(scanUsable(many, 890), false, "too many fresh rows to know where");
  assert.match(
    tableTotalSql(intTable, 77),
    /count\(\*\), coalesce\(array_to_string\(array_agg\(DISTINCT \(r\.id::bigint >> 9\)\) FILTER \(WHERE age\(r\.xmin\) <= \(SELECT age\('77'::xid\)\)\)/,
  );
  assert.deepEqual(
    [...parseTotals("public.t\x1f12\x1f3,4\npublic.u\x1f0\x1f\n")],
    [
      ["public.t", { rows: 12, fresh: ["3", "4"] }],
      ["public.u", { rows: 0, fresh: [] }],
    ],
  );
});

const ahead = (over: Partial<VerifyAheadRecord> = {}): VerifyAheadRecord => ({
  t: "2026-12-04T22:00:10.000Z",
  type: "verify-ahead",
  startedAt: "2026-12-04T22:00:00.000Z",
  durationMs: 10_000,
  // The log's length when the ahead began: the events after it are the changes since.
  changeLog: { id: "w", path: "/nonexistent", at: logText.indexOf(`E ${t0 + 3} `) },
  files: { "/var/spool/cyrus": { paths: ["data/a/1."] }, "/var/lib/cyrus": { paths: [] } },
  databases: {
    bj: { watermark: 1234, targetWatermark: 99, tables: {}, grouping: GROUPING, counts: "/c" },
    "bj-data": { watermark: 1234, tables: {} },
    "bj-old": { watermark: 1234, tables: {}, grouping: GROUPING },
  },
  ...over,
});

const coldPass = (modes: Record<string, string>): JournalRecord[] => [
  { t: "2026-12-04T22:01:00.000Z", type: "pass-started", phase: "cold-sync", pass: "c" },
  ...Object.entries(modes).map(([dir, mode]) => ({
    t: "2026-12-04T22:01:01.000Z",
    type: "step-done",
    phase: "cold-sync",
    pass: "c",
    step: `rsync:${dir}`,
    data: { mode, reason: "the watcher ended" },
  })),
  { t: "2026-12-04T22:01:02.000Z", type: "pass-finished", phase: "cold-sync", pass: "c" },
];

const t0 = Date.parse("2026-12-04T22:00:00.000Z") / 1000;
const logText = [
  `R ${t0 - 100}`,
  `E ${t0 - 60} /var/spool/cyrus/data/,MODIFY,old.`, // before the ahead (and its margin): its difference was recorded then
  `E ${t0 + 3} /var/spool/cyrus/data/b/,CREATE,2.`,
  `E ${t0 + 4} /var/spool/cyrus/data/,"CREATE,ISDIR",newbox`,
  // The target's clock stepped back an hour: an older time, but logged after the ahead began.
  `E ${t0 - 3600} /var/spool/cyrus/data/,MODIFY,stepped.`,
  `X ${t0 + 20} stopped`,
  "",
].join("\n");

void test("the downtime lists what differed ahead, what the journal saw since, parents and new trees", () => {
  const dirs = ["/var/spool/cyrus", "/var/lib/cyrus"];
  const plan = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    logText,
  );
  assert.deepEqual(plan.listedDirs, dirs);
  assert.equal(plan.whole.size, 0);
  const one = plan.entries
    .filter((e) => !e.tree)
    .map((e) => e.path)
    .sort();
  assert.deepEqual(one, [
    "/var/spool/cyrus",
    "/var/spool/cyrus/data",
    "/var/spool/cyrus/data/a",
    "/var/spool/cyrus/data/a/1.",
    "/var/spool/cyrus/data/b",
    "/var/spool/cyrus/data/b/2.",
    "/var/spool/cyrus/data/newbox",
    "/var/spool/cyrus/data/stepped.",
  ]);
  assert.deepEqual(
    plan.entries.filter((e) => e.tree).map((e) => e.path),
    ["/var/spool/cyrus/data/newbox"],
  );
  assert.ok(!one.includes("/var/spool/cyrus/data/old."), "a change older than the ahead is not listed again");
});

void test("what the journal cannot vouch for is compared whole", () => {
  const dirs = ["/var/spool/cyrus", "/var/lib/cyrus"];
  const full = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "full", "/var/lib/cyrus": "journal" }),
    logText,
  );
  assert.match(full.whole.get("/var/spool/cyrus") ?? "", /full pass \(the watcher ended\)/);
  assert.deepEqual(full.listedDirs, ["/var/lib/cyrus"]);
  const overflow = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    `${logText}E ${t0 + 5} ,Q_OVERFLOW,\n`,
  );
  assert.equal(overflow.whole.size, 2);
  assert.match(overflow.whole.get("/var/lib/cyrus") ?? "", /overflowed/);
  const renamed = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    `${logText}E ${t0 + 6} /var/lib/cyrus/,"MOVED_FROM,ISDIR",db\n`,
  );
  assert.match(renamed.whole.get("/var/lib/cyrus") ?? "", /renamed/);
  // An ahead record of an older release: no place in the log, so no way to tell what came since.
  const older = planListed(
    dirs,
    ahead({ changeLog: { id: "w", path: "/nonexistent" } }),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    logText,
  );
  assert.match(older.whole.get("/var/lib/cyrus") ?? "", /recorded no place/);
  const gone = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    undefined,
  );
  assert.equal(gone.whole.size, 2);
  // No change journal ahead: every directory whole.
  assert.deepEqual(aheadFiles(dirs, ["/var/spool/cyrus/x"], "no change journal runs"), {
    "/var/spool/cyrus": { whole: "no change journal runs" },
    "/var/lib/cyrus": { whole: "no change journal runs" },
  });
  assert.deepEqual(aheadFiles(dirs, ["/var/spool/cyrus/x", "/etc/bm/bm.ini", "/var/lib/cyrus"]), {
    "/var/spool/cyrus": { paths: ["x"] },
    "/var/lib/cyrus": { paths: ["."] },
  });
});

void test("a file with a name outside the data directories is always compared in the downtime", () => {
  const dirs = ["/var/spool/cyrus", "/var/lib/cyrus"];
  const plan = planListed(
    dirs,
    ahead(),
    coldPass({ "/var/spool/cyrus": "journal", "/var/lib/cyrus": "journal" }),
    logText,
    { finalCopy: "cold", outsideLinks: ["/var/lib/cyrus/db/aliased", "/var/spool/bm-hsm/x"] },
  );
  assert.ok(plan.entries.some((e) => e.path === "/var/lib/cyrus/db/aliased"));
  assert.ok(!plan.entries.some((e) => e.path.startsWith("/var/spool/bm-hsm")));
});

/** A hot pass's copy of a data directory, as journaled. */
const hotCopy = (dir: string, mode: string): JournalRecord => ({
  t: "x",
  type: "step-done",
  phase: "hot-sync",
  pass: "h",
  step: `rsync:${dir}`,
  data: { mode },
});

void test("a refresh before the downtime lists what could have changed with no cold pass yet; a hot pass's full copy makes a directory whole", () => {
  const dirs = ["/var/spool/cyrus", "/var/lib/cyrus"];
  // In the downtime, no cold pass means no listed final copy: whole.
  const downtime = planListed(dirs, ahead(), [], logText);
  assert.equal(downtime.whole.size, 2);
  // A refresh while the origin serves has no final copy to wait for: listed.
  const refresh = planListed(dirs, ahead(), [], logText, { finalCopy: "none" });
  assert.deepEqual(refresh.listedDirs, dirs);
  assert.ok(refresh.entries.some((e) => e.path === "/var/spool/cyrus/data/a/1."));
  // ... unless a hot pass since the ahead copied a directory in full: usableAhead says whole.
  const records: JournalRecord[] = [ahead(), hotCopy("/var/lib/cyrus", "full")];
  const a = usableAhead(records)!;
  const afterFull = planListed(dirs, a, records, logText, { finalCopy: "none" });
  assert.deepEqual(afterFull.listedDirs, ["/var/spool/cyrus"]);
  assert.match(afterFull.whole.get("/var/lib/cyrus") ?? "", /copied it in full/);
});

void test("the ahead record counts until a later full copy: that directory or database is compared whole", () => {
  const a = ahead();
  const later: JournalRecord[] = [
    a,
    hotCopy("/var/lib/cyrus", "full"),
    hotCopy("/var/spool/cyrus", "journal"),
    { t: "x", type: "step-done", phase: "cold-sync", pass: "c", step: "database:bj", data: { mode: "full" } },
  ];
  const u = usableAhead(later);
  assert.ok(u);
  assert.match(
    (u.databases["bj-data"] as { whole: string }).whole,
    /numbered by another release/,
    "a record whose groups were numbered otherwise is no proof of anything: whole",
  );
  assert.ok("tables" in usableAhead([a])!.databases["bj"]!, "one numbered as now is used");
  assert.match(
    (u.databases["bj-old"] as { whole: string }).whole,
    /no target watermark or group counts/,
    "a record without the target's watermark and the group counts cannot prove the totals: whole",
  );
  assert.ok("whole" in u.files["/var/lib/cyrus"]!);
  assert.ok("paths" in u.files["/var/spool/cyrus"]!);
  assert.ok("whole" in u.databases["bj"]!);
  assert.equal(usableAhead([]), undefined);
  assert.ok("paths" in (a.files["/var/lib/cyrus"] as object), "the journaled record itself is not changed");
});

void test("listed manifest: only the listed entries (and whole trees), a gone one silently absent; hard-link groups checked", async () => {
  const root = mkdtempSync(join(tmpdir(), "bm-listed-"));
  try {
    mkdirSync(join(root, "a/b"), { recursive: true });
    writeFileSync(join(root, "a/one"), "1");
    writeFileSync(join(root, "a/b/two"), "2");
    writeFileSync(join(root, "other"), "o");
    linkSync(join(root, "other"), join(root, "a/link"));
    const script = fileManifestScript({ dataDirs: [], configFiles: [] }, { listed: true });
    const input = listedInput([
      { path: join(root, "a/one"), tree: false },
      { path: join(root, "a/b"), tree: true },
      { path: join(root, "a/link"), tree: false },
      { path: join(root, "gone"), tree: false },
    ]);
    const r = await new LocalHost("target").sh(script, { input });
    assert.equal(r.exitCode, 0, r.stderr);
    const paths: string[] = [];
    const links = new LinkGroups();
    const { Readable } = await import("node:stream");
    for await (const e of parseFileManifest(Readable.from([Buffer.from(r.stdout, "latin1")]))) {
      paths.push(e.path.slice(root.length));
      links.add("origin", e);
      if (e.path.endsWith("/one"))
        assert.equal(e.sha256, "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
    }
    assert.deepEqual(paths, ["/a/b", "/a/b/two", "/a/link", "/a/one"]);
    assert.equal(links.incomplete(), true, "a/link's other name (other) was not listed");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

void test("a table without a primary key whose row key starts with an integer: one group per value, read by its index", () => {
  const mr: GroupTable = {
    ident: "public.t_mailbox_record",
    pk: [],
    rowKey: ["container_id", "imap_uid"],
    rowKeyType: "integer",
  };
  assert.equal(groupExpr(mr), "(r.container_id::bigint)");
  assert.equal(
    groupFilter(mr, ["7", "3", "4", "5", "9223372036854775807"]),
    "(r.container_id >= 3 AND r.container_id <= 5) OR r.container_id = 7 OR r.container_id = 9223372036854775807",
  );
  assert.match(
    groupExpr({ ...mr, rowKeyType: "text" }),
    /^\(hashtext\(ROW\(r\.container_id, r\.imap_uid\)::text\) & 1023\)$/,
  );
});

void test("listed manifest: a data directory whose root is a symlink is listed as the directory it leads to, as the whole walk lists it", async () => {
  const root = mkdtempSync(join(tmpdir(), "bm-listed-root-"));
  try {
    mkdirSync(join(root, "real/sub"), { recursive: true });
    writeFileSync(join(root, "real/sub/msg"), "m");
    symlinkSync("msg", join(root, "real/sub/alias"));
    symlinkSync(join(root, "real"), join(root, "data"));
    const dir = join(root, "data");
    const list = async (script: string, input?: Buffer): Promise<Map<string, string>> => {
      const r = await new LocalHost("target").sh(script, input ? { input } : {});
      assert.equal(r.exitCode, 0, r.stderr);
      const types = new Map<string, string>();
      const { Readable } = await import("node:stream");
      for await (const e of parseFileManifest(Readable.from([Buffer.from(r.stdout, "latin1")])))
        types.set(e.path.slice(root.length), e.type);
      return types;
    };
    const whole = await list(fileManifestScript({ dataDirs: [dir], configFiles: [] }));
    assert.equal(whole.get("/data"), "d", "the whole walk follows the root (find -H)");
    const { listed } = manifestScripts([], true, [], [dir]);
    const some = await list(
      listed!,
      listedInput([
        { path: dir, tree: false },
        { path: join(dir, "sub"), tree: false },
        { path: join(dir, "sub/alias"), tree: false },
      ]),
    );
    assert.equal(
      some.get("/data"),
      "d",
      "the listed root too: else it differs from a directory on the other side",
    );
    assert.equal(some.get("/data/sub/alias"), "l", "a listed symlink inside stays a link");
    const tree = await list(listed!, listedInput([{ path: dir, tree: true }]));
    assert.deepEqual([...tree], [...whole], "a root listed with its tree: what the whole walk lists");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

void test("changes on the target since the ahead: compared beside the list, a directory with too many compared whole", () => {
  const plan = {
    entries: [{ path: "/var/spool/cyrus/a", tree: false }],
    listedDirs: ["/var/spool/cyrus", "/var/spool/bm-docs"],
  };
  const found = ["/var/spool/cyrus/a", "/var/spool/cyrus/b", "/var/spool/bm-docs/x", "/elsewhere/y"];
  assert.deepEqual(beyondPlan(plan, found), {
    entries: [
      { path: "/var/spool/cyrus/b", tree: false },
      { path: "/var/spool/bm-docs/x", tree: false },
    ],
    whole: [],
  });
  const many = Array.from({ length: MAX_LISTED + 1 }, (_, i) => `/var/spool/bm-docs/f${i}`);
  assert.deepEqual(beyondPlan(plan, many).whole, ["/var/spool/bm-docs"]);
});
