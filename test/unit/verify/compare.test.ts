// The comparison of file manifests (merge join, differences in words, hard links), and the real
// shell manifest run on temporary trees (against itself and against a modified copy).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { LocalHost } from "../../../src/adapters/host.js";
import {
  compareFileManifests,
  differenceKind,
  DifferenceLog,
  FileComparer,
  formatDifference,
  mergeJoin,
} from "../../../src/verify/compare.js";
import {
  displayPath,
  fileManifestScript,
  HASH_BATCH,
  WORKER_SHARE,
  parseFileManifest,
  type FileEntry,
} from "../../../src/verify/fileManifest.js";

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const i of items) yield await Promise.resolve(i);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const entry = (path: string, over: Partial<FileEntry> = {}): FileEntry => ({
  path,
  type: "f",
  user: "cyrus",
  group: "mail",
  mode: "600",
  size: 10,
  mtime: 1_700_000_000,
  inode: `1:${path.length}${path}`,
  nlink: 1,
  sha256: "aa",
  ...over,
});

function compareEntries(origin: FileEntry[], target: FileEntry[], dataDirs = ["/data"]): string[] {
  const log = new DifferenceLog();
  const c = new FileComparer(dataDirs, log);
  const byPath = new Map(target.map((t) => [t.path, t]));
  const seen = new Set<string>();
  for (const o of origin) {
    c.add({ origin: o, ...(byPath.has(o.path) ? { target: byPath.get(o.path)! } : {}) });
    seen.add(o.path);
  }
  for (const t of target) if (!seen.has(t.path)) c.add({ target: t });
  return log.kept.map(formatDifference);
}

void test("mergeJoin pairs equal keys and reports one-sided ones, in order", async () => {
  const pairs = await collect(mergeJoin(from(["a", "c", "d"]), from(["b", "c", "e"]), (x) => x));
  assert.deepEqual(pairs, [
    { origin: "a" },
    { target: "b" },
    { origin: "c", target: "c" },
    { origin: "d" },
    { target: "e" },
  ]);
});

void test("mergeJoin refuses a stream that is not sorted (the two sides would be misjoined)", async () => {
  await assert.rejects(
    collect(mergeJoin(from(["a", "c", "b"]), from(["a"]), (x) => x)),
    /origin's manifest is not sorted/,
  );
});

void test("each kind of file difference is one sentence naming the path", () => {
  const diffs = compareEntries(
    [
      entry("/data/content", { sha256: "aa" }),
      entry("/data/owner"),
      entry("/data/mode"),
      entry("/data/link", { type: "l", mode: "777", linkTarget: "a", sha256: undefined }),
      entry("/data/gone"),
      entry("/data/type"),
      entry("/data/mtime"),
      entry("/etc/conf", { mtime: 1 }),
    ],
    [
      entry("/data/content", { sha256: "bb" }),
      entry("/data/owner", { user: "root" }),
      entry("/data/mode", { mode: "644" }),
      entry("/data/link", { type: "l", mode: "777", linkTarget: "b", sha256: undefined }),
      entry("/data/new"),
      entry("/data/type", { type: "d", sha256: undefined }),
      entry("/data/mtime", { mtime: 1_700_000_060 }),
      entry("/etc/conf", { mtime: 2 }),
    ],
  );
  assert.deepEqual(diffs, [
    "/data/content: content differs (same size and mtime)",
    "/data/owner: owner differs: cyrus vs root",
    "/data/mode: mode differs: 600 vs 644",
    "/data/link: symlink target differs: a vs b",
    "/data/gone: missing on target",
    "/data/type: type differs: file vs directory",
    "/data/mtime: mtime differs: 2023-11-14T22:13:20Z vs 2023-11-14T22:14:20Z",
    "/data/new: extra on target",
  ]);
});

void test("a data directory the origin lacks may exist empty on the target; its content may not", () => {
  const diffs = compareEntries([], [entry("/data", { type: "d", sha256: undefined }), entry("/data/x")]);
  assert.deepEqual(diffs, ["/data/x: extra on target"]);
});

void test("hard links: the same partition of names into files on both sides, whatever the inode numbers", () => {
  const same = compareEntries(
    [entry("/data/a", { inode: "1:5", nlink: 2 }), entry("/data/b", { inode: "1:5", nlink: 2 })],
    [entry("/data/a", { inode: "9:77", nlink: 2 }), entry("/data/b", { inode: "9:77", nlink: 2 })],
  );
  assert.deepEqual(same, []);
  const broken = compareEntries(
    [entry("/data/a", { inode: "1:5", nlink: 2 }), entry("/data/b", { inode: "1:5", nlink: 2 })],
    [entry("/data/a", { inode: "9:77" }), entry("/data/b", { inode: "9:78" })],
  );
  assert.deepEqual(broken, [
    "/data/b: hard links differ: same file as /data/a on origin, not a link to an earlier name on target",
  ]);
});

void test("names that are not UTF-8 or hold newlines are shown on one line", () => {
  assert.equal(displayPath(Buffer.from("/d/bad\xffname", "latin1").toString("latin1")), "/d/bad\\xffname");
  assert.equal(displayPath("/d/new\nline"), "/d/new\\nline");
  assert.equal(displayPath(Buffer.from("/d/é", "utf8").toString("latin1")), "/d/é");
});

void test("the manifest parser joins content to metadata across any chunk boundaries", async () => {
  const text =
    "/d//d/root/root/755/4096/1700000000.5/1:2/2/\0" +
    "/d/f x//#abc\0/d/f x//f/cyrus/mail/600/3/1700000001.9/1:3/1/\0" +
    "/d/l//l/root/root/777/5/1700000002.0/1:4/1/a//b c\0";
  const bytes = Buffer.from(text, "latin1");
  const oneByte = (async function* () {
    for (const b of bytes) yield await Promise.resolve(Buffer.from([b]));
  })();
  const entries = await collect(parseFileManifest(oneByte));
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.mtime, e.sha256, e.linkTarget]),
    [
      ["/d", "d", 1700000000, undefined, undefined],
      ["/d/f x", "f", 1700000001, "abc", undefined],
      ["/d/l", "l", 1700000002, undefined, "a//b c"],
    ],
  );
});

// ---- the real shell manifest on temporary trees ------------------------------------------------

const sh = (script: string): string => execFileSync("bash", ["-c", script], { encoding: "latin1" });

/** Run the manifest script over `dir` and return its raw output, paths rewritten to `as`. */
async function manifest(dir: string, as: string, samplePercent?: number): Promise<Buffer> {
  const script = fileManifestScript(
    { dataDirs: [dir], configFiles: [] },
    samplePercent === undefined ? {} : { samplePercent },
  );
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const r = await new LocalHost().sh(script, { stdoutTo: out });
  assert.equal(r.exitCode, 0, r.stderr);
  const raw = Buffer.concat(chunks).toString("latin1");
  // Same-length prefixes: the rewrite keeps the sort order.
  assert.equal(dir.length, as.length);
  return Buffer.from(
    raw
      .split("\0")
      .map((rec) => (rec.startsWith(dir) ? as + rec.slice(dir.length) : rec))
      .join("\0"),
    "latin1",
  );
}

async function compareTrees(a: string, b: string, samplePercent?: number) {
  const log = new DifferenceLog();
  const counts = await compareFileManifests(
    parseFileManifest(from([await manifest(a, a, samplePercent)])),
    parseFileManifest(from([await manifest(b, a, samplePercent)])),
    [a],
    log,
  );
  return { counts, diffs: log.kept.map(formatDifference) };
}

void test("a file that cannot be read keeps names and sums paired (the batch is redone file by file)", () => {
  const root = mkdtempSync(join(tmpdir(), "bm-verify-"));
  try {
    sh(`printf a > ${root}/a; printf b > ${root}/b`);
    const out = execFileSync("bash", ["-c", HASH_BATCH, "_", `${root}/a`, `${root}/gone`, `${root}/b`], {
      encoding: "latin1",
    });
    const sha = (s: string): string =>
      execFileSync("sha256sum", { input: s, encoding: "utf8" }).split(" ")[0]!;
    assert.deepEqual(out.split("\0").slice(0, -1), [
      `${root}/a//#${sha("a")}`,
      `${root}/gone//#?`,
      `${root}/b//#${sha("b")}`,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

void test("each file's hash worker depends on its path alone: listings that differ between workers leave no file unhashed", () => {
  const share = (paths: string[], worker: number): string[] =>
    execFileSync("bash", ["-c", `workers=2; share() { ${WORKER_SHARE}; }; share ${worker}`], {
      input: Buffer.from(paths.map((p) => `${p}\0`).join(""), "latin1"),
      encoding: "latin1",
    })
      .split("\0")
      .slice(0, -1);
  const mail = Array.from({ length: 450 }, (_, i) => `/var/spool/cyrus/data/u/user/jo/${i + 1}.`);
  const odd = ["/srv/new\nline", "/srv/ctl\x01\x03name", "/a", "/"];
  const listing = [...odd, ...mail].sort();
  // What a serving origin does between two workers' listings: mail arrives, some is expunged.
  const later = [...listing.filter((_, i) => i % 97 !== 5), ...mail.map((p) => `${p}new`)].sort();
  const first = share(listing, 1);
  const second = share(later, 2);
  for (const p of listing.filter((x) => later.includes(x)))
    assert.equal(
      Number(first.includes(p)) + Number(second.includes(p)),
      1,
      `${JSON.stringify(p)}: hashed by exactly one worker`,
    );
  const both = [...first, ...share(listing, 2)].sort();
  assert.deepEqual(both, listing, "the shares of one listing are the listing, names intact");
  assert.ok(
    first.length > 0.35 * listing.length && first.length < 0.65 * listing.length,
    `a message store splits about evenly: ${first.length} of ${listing.length}`,
  );
});

void test("the summary groups differences by kind", () => {
  assert.equal(differenceKind("content differs (same size and mtime)"), "content differs");
  assert.equal(differenceKind("owner differs: cyrus vs root"), "owner differs");
  assert.equal(differenceKind("8000 rows vs 7998"), "row count differs");
  assert.equal(differenceKind("last_value 123 vs 120"), "sequence value differs");
  assert.equal(differenceKind("missing on target"), "missing on target");
});

function makeTree(root: string): void {
  sh(`set -e; cd ${root}
    mkdir -p a 'sp ace' deep/er/still
    printf 'hello' > a/f1; ln a/f1 a/hl; ln -s ../a/f1 a/sl
    printf 'same' > 'sp ace/f 2'; printf 'nl' > "$(printf 'new\\nline')"; printf 'q' > "$(printf 'bad\\xffname')"
    printf 'dash' > ./-lead; printf 'keep' > a/gone; printf 'x' > deep/er/still/f
    for i in $(seq 1 450); do printf "file $i" > deep/er/m$i.; done
    mkfifo fifo; chmod 640 a/f1
    find . -exec touch -h -d '2024-01-02 03:04:05' {} +`);
}

void test("the shell manifest of a tree equals itself: every entry, content of every file", async () => {
  const root = mkdtempSync(join(tmpdir(), "bm-verify-"));
  try {
    sh(`mkdir ${root}/A`);
    makeTree(join(root, "A"));
    const { counts, diffs } = await compareTrees(join(root, "A"), join(root, "A"));
    assert.deepEqual(diffs, []);
    assert.equal(counts.files, 458);
    assert.equal(counts.contentCompared, 458, "every regular file hashed on both sides");
    assert.equal(counts.dirs, 6);
    const sampled = await compareTrees(join(root, "A"), join(root, "A"), 20);
    assert.deepEqual(sampled.diffs, [], "both sides pick the same sample");
    assert.ok(
      sampled.counts.contentCompared > 40 && sampled.counts.contentCompared < 160,
      `about 20% of 458 files sampled, got ${sampled.counts.contentCompared}`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

void test("the shell manifest finds each change in a modified copy, and only those", async () => {
  const root = mkdtempSync(join(tmpdir(), "bm-verify-"));
  try {
    const A = join(root, "A");
    const B = join(root, "B");
    sh(`mkdir ${A}`);
    makeTree(A);
    sh(`set -e; cp -a ${A} ${B}; cd ${B}
      printf 'HELLO' > a/f1; touch -d '2024-01-02 03:04:05' a/f1            # content, same size and mtime (and its hard link)
      chmod 600 'sp ace/f 2'                                                 # mode
      chown nobody ./-lead                                                   # owner
      rm a/sl; ln -s ../a/other a/sl; touch -h -d '2024-01-02 03:04:05' a/sl # symlink target
      cp -p a/hl a/hl.new; mv a/hl.new a/hl                                  # hard link broken
      rm a/gone; printf 'new' > a/extra; touch -d '2024-01-02 03:04:05' a/extra
      printf 'NL' > "$(printf 'new\\nline')"; touch -d '2024-01-02 03:04:05' "$(printf 'new\\nline')"
      cd ${A}; find . -type d -exec touch -d '2024-01-02 03:04:05' ${B}/{} \\;`);
    const { diffs } = await compareTrees(A, B);
    const p = (rel: string): string => `${A}/${rel}`;
    assert.deepEqual(diffs.sort(), [
      `${p("-lead")}: owner differs: root vs nobody`,
      `${p("a/extra")}: extra on target`,
      `${p("a/f1")}: content differs (same size and mtime)`,
      `${p("a/gone")}: missing on target`,
      `${p("a/hl")}: content differs (same size and mtime)`,
      `${p("a/hl")}: hard links differ: same file as ${p("a/f1")} on origin, not a link to an earlier name on target`,
      `${p("a/sl")}: symlink target differs: ../a/f1 vs ../a/other`,
      `${p("new\\nline")}: content differs (same size and mtime)`,
      `${p("sp ace/f 2")}: mode differs: 644 vs 600`,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
