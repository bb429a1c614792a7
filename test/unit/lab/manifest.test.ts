// The lab's test oracle (lab/manifest.ts, lab/compare.ts) and data generator (lab/generate.ts):
// identical trees compare equal, every kind of difference is reported, generation is deterministic,
// and the target's quick-check traps are really there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  ftruncateSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compareManifests, type Difference } from "../../../lab/compare.js";
import { generate, TRAP_FILES } from "../../../lab/generate.js";
import { buildManifest, type FsRecord, type ManifestRecord } from "../../../lab/manifest.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const T = 1_700_000_000;
const SPARSE_SIZE = 8 * 1024 * 1024;

function tempRoot(t: { after: (fn: () => void) => void }, name: string): string {
  const root = mkdtempSync(join(tmpdir(), `lab-manifest-${name}-`));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** Fixed mtimes everywhere (files and symlinks first, then directories deepest first). */
function fixTimes(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) fixTimes(path);
    else if (entry.isSymbolicLink()) lutimesSync(path, T, T);
    else utimesSync(path, T, T);
  }
  utimesSync(dir, T, T);
}

/**
 * /data: a file, a directory (0700) with a binary file and a symlink, two hard-linked names,
 * a sparse file (two 4 KB blocks in 8 MB), an empty directory.
 */
function buildTree(root: string): void {
  const data = join(root, "data");
  mkdirSync(join(data, "dir"), { recursive: true });
  mkdirSync(join(data, "vide"));
  chmodSync(join(data, "dir"), 0o700);
  writeFileSync(join(data, "a.txt"), "hello world\n");
  writeFileSync(join(data, "dir", "b.bin"), Buffer.alloc(1000, 7));
  chmodSync(join(data, "dir", "b.bin"), 0o644);
  symlinkSync("../a.txt", join(data, "dir", "link"));
  writeFileSync(join(data, "h1"), "shared body\n");
  linkSync(join(data, "h1"), join(data, "h2"));
  const fd = openSync(join(data, "sparse.img"), "w");
  writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 0);
  writeSync(fd, Buffer.alloc(4096, 2), 0, 4096, 4 * 1024 * 1024);
  ftruncateSync(fd, SPARSE_SIZE);
  closeSync(fd);
  fixTimes(data);
}

function manifest(root: string, paths: string[] = ["/data"]): ManifestRecord[] {
  return [...buildManifest({ root, paths })];
}

/** Two identical trees, `mutate` applied to the second, compared. */
function diffAfter(t: { after: (fn: () => void) => void }, mutate: (data: string) => void): Difference[] {
  const a = tempRoot(t, "a");
  const b = tempRoot(t, "b");
  buildTree(a);
  buildTree(b);
  mutate(join(b, "data"));
  fixTimes(join(b, "data"));
  return compareManifests(manifest(a), manifest(b));
}

function only(differences: Difference[]): Difference {
  assert.equal(differences.length, 1, differences.map((d) => d.message).join("\n"));
  const [d] = differences;
  assert.ok(d);
  return d;
}

test("identical trees give identical manifests and no difference", (t) => {
  const a = tempRoot(t, "a");
  const b = tempRoot(t, "b");
  buildTree(a);
  buildTree(b);
  const ma = manifest(a);
  const mb = manifest(b);
  assert.deepEqual(ma, mb);
  assert.deepEqual(compareManifests(ma, mb), []);

  const byPath = new Map(ma.map((r) => [(r as FsRecord).path, r as FsRecord]));
  assert.equal(byPath.get("/data/sparse.img")?.sparse, true);
  assert.equal(byPath.get("/data/a.txt")?.sparse, false);
  assert.equal(byPath.get("/data/h1")?.link, "/data/h1");
  assert.equal(byPath.get("/data/h2")?.link, "/data/h1");
  assert.equal(byPath.get("/data/a.txt")?.link, null);
  assert.equal(byPath.get("/data/dir")?.mode, "0700");
  assert.equal(byPath.get("/data/dir/link")?.target, "../a.txt");
  assert.equal(byPath.get("/data/dir/link")?.mtime, T);
});

test("content that differs with the same size and mtime is reported", (t) => {
  const d = only(diffAfter(t, (data) => writeFileSync(join(data, "a.txt"), "HELLO world\n")));
  assert.equal(d.kind, "content");
  assert.equal(d.key, "/data/a.txt");
  assert.match(d.message, /^\/data\/a\.txt: content differs \(sha256 \w+… vs \w+…; same size and mtime/);
});

test("mode, mtime and owner differences are reported", (t) => {
  const mode = only(diffAfter(t, (data) => chmodSync(join(data, "dir", "b.bin"), 0o600)));
  assert.equal(mode.field, "mode");
  assert.equal(mode.message, "/data/dir/b.bin: mode differs: 0644 vs 0600");

  const differences = compareManifests(
    [{ path: "/x", type: "f", owner: "cyrus", group: "mail", mode: "0600", mtime: T, size: 1, sha256: "aa" }],
    [
      {
        path: "/x",
        type: "f",
        owner: "#9902",
        group: "mail",
        mode: "0600",
        mtime: T + 60,
        size: 1,
        sha256: "aa",
      },
    ],
  );
  assert.deepEqual(
    differences.map((d) => d.message),
    [
      "/x: owner differs: cyrus vs #9902",
      "/x: mtime differs: 2023-11-14T22:13:20Z vs 2023-11-14T22:14:20Z (+60 s)",
    ],
  );

  if (process.getuid?.() === 0) {
    const owner = only(diffAfter(t, (data) => chownSync(join(data, "a.txt"), 59_999, 0)));
    assert.match(owner.message, /^\/data\/a\.txt: owner differs: \S+ vs #59999$/);
  }
});

test("a different symlink target is reported", (t) => {
  const d = only(
    diffAfter(t, (data) => {
      unlinkSync(join(data, "dir", "link"));
      symlinkSync("../h1", join(data, "dir", "link"));
    }),
  );
  assert.equal(d.field, "target");
  assert.equal(d.message, "/data/dir/link: symlink target differs: ../a.txt vs ../h1");
});

test("a broken hard link is reported on every member", (t) => {
  const differences = diffAfter(t, (data) => {
    unlinkSync(join(data, "h2"));
    writeFileSync(join(data, "h2"), "shared body\n");
  });
  assert.deepEqual(
    differences.map((d) => [d.key, d.kind]),
    [
      ["/data/h1", "hardlink"],
      ["/data/h2", "hardlink"],
    ],
  );
  assert.equal(
    differences[0]?.message,
    "/data/h1: hard-link group differs: linked with /data/h2 on origin, not hard-linked on target",
  );
});

test("missing and extra entries are reported, a missing directory once", (t) => {
  const differences = diffAfter(t, (data) => {
    rmSync(join(data, "dir"), { recursive: true });
    writeFileSync(join(data, "extra.txt"), "new\n");
  });
  assert.deepEqual(
    differences.map((d) => d.message),
    [
      "/data/dir: missing on target (directory) (and 2 entries below it)",
      "/data/extra.txt: extra on target (file)",
    ],
  );
  const ignored = compareManifests([], [{ path: "/data/extra.txt", type: "f" } as FsRecord], {
    ignore: ["/data/extra.txt"],
  });
  assert.deepEqual(ignored, []);
});

test("a file that lost its holes is reported as not sparse", (t) => {
  const d = only(
    diffAfter(t, (data) => {
      const full = Buffer.alloc(SPARSE_SIZE);
      full.fill(1, 0, 4096);
      full.fill(2, 4 * 1024 * 1024, 4 * 1024 * 1024 + 4096);
      writeFileSync(join(data, "sparse.img"), full);
    }),
  );
  assert.equal(d.field, "sparse");
  assert.equal(d.message, "/data/sparse.img: sparseness differs: sparse on origin, not sparse on target");
});

test("ignore options: path prefixes and globs, fields for one type", (t) => {
  const differences = diffAfter(t, (data) => {
    chmodSync(join(data, "vide"), 0o700);
    writeFileSync(join(data, "vide", "x.lock"), "");
    chmodSync(join(data, "a.txt"), 0o600);
  });
  assert.equal(differences.length, 3);
  const a = manifest(tempRoot(t, "a2"));
  assert.deepEqual(a, [{ path: "/data", type: "absent" }]);

  const root1 = tempRoot(t, "c");
  const root2 = tempRoot(t, "d");
  buildTree(root1);
  buildTree(root2);
  chmodSync(join(root2, "data", "vide"), 0o700);
  writeFileSync(join(root2, "data", "vide", "x.lock"), "");
  utimesSync(join(root2, "data", "vide"), T + 5, T + 5);
  const [m1, m2] = [manifest(root1), manifest(root2)];
  assert.deepEqual(compareManifests(m1, m2, { ignore: ["/data/vide"] }), []);
  const globbed = compareManifests(m1, m2, { ignore: ["**/*.lock"], ignoreFields: ["d:mtime"] });
  assert.deepEqual(
    globbed.map((d) => d.message),
    ["/data/vide: mode differs: 0755 vs 0700"],
  );
});

test("database records: row counts and content hashes", () => {
  const table = (rows: number, contentHash: string): ManifestRecord => ({
    db: "bj-data",
    type: "table",
    name: "public.t_mailbox_record",
    props: { owner: "bj", rows, contentHash },
  });
  assert.deepEqual(compareManifests([table(8000, "1")], [table(8000, "1")]), []);
  assert.deepEqual(
    compareManifests([table(8000, "1")], [table(7998, "2")]).map((d) => d.message),
    ["table public.t_mailbox_record (bj-data): rows 8000 vs 7998"],
  );
  assert.deepEqual(
    compareManifests([table(8000, "1")], [table(8000, "2")]).map((d) => d.message),
    ["table public.t_mailbox_record (bj-data): content differs (row hash 1 vs 2)"],
  );
});

function runTs(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", join(REPO, script), ...args], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, LAB_HOST_IP: "10.0.0.1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("CLIs: manifest --out and compare exit codes", (t) => {
  const a = tempRoot(t, "a");
  const b = tempRoot(t, "b");
  const out = tempRoot(t, "out");
  buildTree(a);
  buildTree(b);
  for (const [root, file] of [
    [a, "a.jsonl"],
    [b, "b.jsonl"],
  ] as const) {
    const r = runTs("lab/manifest.ts", ["--root", root, "--paths", "/data,/nope*", "--out", join(out, file)]);
    assert.equal(r.status, 0, r.stderr);
  }
  const same = runTs("lab/compare.ts", [join(out, "a.jsonl"), join(out, "b.jsonl")]);
  assert.equal(same.status, 0, same.stderr);
  assert.equal(same.stdout, "identical: 9 entries, 0 tables\n");

  chmodSync(join(b, "data", "a.txt"), 0o600);
  assert.equal(
    runTs("lab/manifest.ts", ["--root", b, "--paths", "/data", "--out", join(out, "b.jsonl")]).status,
    0,
  );
  const differ = runTs("lab/compare.ts", [join(out, "a.jsonl"), join(out, "b.jsonl")]);
  assert.equal(differ.status, 1);
  assert.match(differ.stdout, /^\/data\/a\.txt: mode differs: 0644 vs 0600$/m);
  assert.match(differ.stdout, /^1 difference between origin and target$/m);
});

test("generate.ts is deterministic and the target holds the quick-check traps", (t) => {
  const origin1 = tempRoot(t, "origin1");
  const origin2 = tempRoot(t, "origin2");
  const target = tempRoot(t, "target");
  // Twice the CLI in separate processes, once the API in this one: all must agree byte for byte.
  for (const [role, root] of [
    ["origin", origin1],
    ["target", target],
  ] as const) {
    const r = runTs("lab/generate.ts", [
      "--role",
      role,
      "--scale",
      "1",
      "--seed",
      "7",
      "--root",
      root,
      "--no-db",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^generate: role=\w+ .*files=\d+ .*bytes=\d+ .*rows=\d+ seconds=[\d.]+ .*\n$/);
  }
  const summary = generate({
    role: "origin",
    scale: 1,
    seed: 7,
    root: origin2,
    db: false,
    hostIp: "10.0.0.1",
    pgPassword: "",
  });
  assert.ok(summary.files > 4000 && summary.hardLinks > 0 && summary.symlinks > 0);
  const m1 = [...buildManifest({ root: origin1 })];
  const m2 = [...buildManifest({ root: origin2 })];
  assert.ok(m1.length > 4000, `only ${m1.length} records`);
  assert.deepEqual(compareManifests(m1, m2), []);
  assert.deepEqual(m1, m2);

  const mt = [...buildManifest({ root: target })];
  const files = (records: ManifestRecord[]): Map<string, FsRecord> =>
    new Map(records.filter((r): r is FsRecord => "path" in r && r.type === "f").map((r) => [r.path, r]));
  const [f1, ft] = [files(m1), files(mt)];
  const differences = compareManifests(m1, mt);
  assert.ok(TRAP_FILES.length >= 3);
  for (const path of TRAP_FILES) {
    const o = f1.get(path);
    const g = ft.get(path);
    assert.ok(o !== undefined && g !== undefined, `${path} on both hosts`);
    assert.equal(g.size, o.size, path);
    assert.equal(g.mtime, o.mtime, path);
    assert.notEqual(g.sha256, o.sha256, path);
    const reported = differences.find((d) => d.key === path && d.kind === "content");
    assert.match(reported?.message ?? "", /same size and mtime/);
  }
  assert.ok(differences.some((d) => d.kind === "extra"));
  assert.ok(differences.some((d) => d.kind === "missing"));
});
