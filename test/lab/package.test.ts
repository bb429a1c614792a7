// The single executable: built by `npm run package` when missing or older than the compiled CLI,
// then run with an environment that has no node anywhere in PATH, as on a bare server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../support/cli.js";

const EXE = join(REPO, "build/bm-migrate-linux-x64");
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;

const skip =
  process.platform === "linux" && process.arch === "x64"
    ? false
    : `the single executable is built for linux-x64 only (this is ${process.platform}-${process.arch})`;

/** Older than the newest compiled file, or absent: (re)build it, which takes about 15-30 s. */
function ensureBuilt(): void {
  const main = join(REPO, "dist/cli/main.js");
  const stale = !existsSync(EXE) || (existsSync(main) && statSync(main).mtimeMs > statSync(EXE).mtimeMs);
  if (!stale) return;
  const r = spawnSync("npm", ["run", "package"], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `npm run package failed:\n${r.stdout}\n${r.stderr}`);
}

/** Runs the executable with nothing inherited: no node, no npm, no HOME. */
function bare(args: string[], cwd = tmpdir()) {
  const r = spawnSync("/usr/bin/env", ["-i", "PATH=/nonexistent", "NO_COLOR=1", EXE, ...args], {
    cwd,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("the single executable runs with no node in PATH", { skip, timeout: 360_000 }, () => {
  ensureBuilt();
  const size = statSync(EXE).size;
  assert.ok(size > 40 * 1024 * 1024, `it carries the node runtime (${size} bytes)`);
  assert.ok((statSync(EXE).mode & 0o111) !== 0, "it is executable");

  const none = spawnSync("/usr/bin/env", ["-i", "PATH=/nonexistent", "sh", "-c", "command -v node"]);
  assert.notEqual(none.status, 0, "the test environment really lacks node");

  const v = bare(["--version"]);
  assert.equal(v.code, 0, v.err);
  assert.equal(v.out.trim(), VERSION, "the version defined at build time");
  assert.equal(v.err, "", "no experimental-feature warning or other noise");

  const h = bare(["check", "--help"]);
  assert.equal(h.code, 0, h.err);
  assert.match(h.out, /^Usage: bm-migrate check \[options\]/m);
  assert.match(h.out, /--origin <\[user@\]host>/);
  assert.match(h.out, /--json/);

  const bad = bare(["status", "--no-such-flag"]);
  assert.equal(bad.code, 2, "exit codes survive the packaging");
  assert.match(bad.err, /unknown option '--no-such-flag'/);
});

test("the single executable writes the report (everything is bundled)", { skip, timeout: 360_000 }, () => {
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), "bm-package-"));
  const state = join(tmp, "state");
  mkdirSync(state);
  copyFileSync(join(REPO, "test/fixtures/journal-sample.jsonl"), join(state, "journal.jsonl"));
  const out = join(tmp, "r.html");
  const r = bare(["report", "--state-dir", state, "--log-dir", join(tmp, "log"), "--out", out]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), out);
  const html = readFileSync(out, "utf8");
  assert.match(html, /<svg class="timeline"/);
  assert.equal((html.match(/<rect class="bar"/g) ?? []).length, 5);
});
