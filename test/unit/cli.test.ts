import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = new URL("../../bin/bm-migrate", import.meta.url).pathname;
function cli(...args: string[]) {
  const tmp = mkdtempSync(join(tmpdir(), "bm-cli-"));
  const r = spawnSync(BIN, [...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    cwd: tmp,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("--help lists every command of the interface", () => {
  const r = cli("--help");
  assert.equal(r.code, 0);
  for (const c of [
    "check",
    "hot-sync",
    "cold-sync",
    "verify",
    "swap",
    "post",
    "rollback",
    "status",
    "run",
    "report",
  ]) {
    assert.match(r.out, new RegExp(`^\\s+${c} `, "m"), `help lists ${c}`);
  }
  assert.match(r.out, /Exit codes: 0 done; 1 a step failed/);
});

test("--version prints the package version", () => {
  const r = cli("--version");
  assert.equal(r.code, 0);
  assert.match(r.out.trim(), /^\d+\.\d+\.\d+$/);
});

test("each command has --help with --json", () => {
  for (const c of ["check", "hot-sync", "cold-sync", "status"]) {
    const r = cli(c, "--help");
    assert.equal(r.code, 0, c);
    assert.match(r.out, /--json/, c);
  }
});

test("an unknown flag is a usage error (exit 2)", () => {
  const r = cli("status", "--no-such-flag");
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown option '--no-such-flag'/);
});

test("a non-numeric option is a usage error naming the option", () => {
  const r = cli("hot-sync", "--bwlimit", "fast");
  assert.equal(r.code, 2);
  assert.match(r.err, /--bwlimit takes a whole number, not 'fast'/);
});

test("a bad origin and a relative state dir are both reported at once", () => {
  const r = cli("status", "--origin", "root@bad host!", "--state-dir", "relative/dir");
  assert.equal(r.code, 2);
  assert.match(r.err, /origin 'root@bad host!' is not \[user@\]host/);
  assert.match(r.err, /state-dir must be an absolute path/);
});

test("a configuration file with an unknown key is rejected with its line", () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-conf-"));
  const f = join(dir, "bm.conf");
  writeFileSync(f, "# test\norigin = root@bm-origin\ncolour = blue\n");
  const r = cli("status", "--config", f);
  assert.equal(r.code, 2);
  assert.match(r.err, /bm\.conf:3: unknown key 'colour'/);
});
