// Settings: flags and the configuration file validated together, every problem reported with the
// file and line that set it. (The file's syntax as init writes it: config/configFile.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../src/engine/errors.js";
import { loadSettings, parseConfigFile, pathProblem } from "../../../src/engine/settings.js";
import { tempDir } from "../../support/tmp.js";

const tmp = (): string => tempDir("bm-settings-");

test("the documented example configuration (docs/configuration.md), trailing comments and all, parses", () => {
  const readme = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
  const example = /```ini\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "docs/configuration.md has an ini example");
  assert.match(example, /\S\s+#/, "the example has a trailing comment (else this proves nothing)");
  const f = join(tmp(), "bm-migrate.conf");
  writeFileSync(f, example);
  const s = loadSettings({ flags: {}, configFile: f, configExplicit: true });
  assert.equal(s.bwlimit, 0);
  assert.equal(s.nice, true);
  assert.equal(s.dbJobs, 2);
  assert.equal(s.catchUpAfter, 60);
  assert.equal(s.origin?.host, "old.example.org");
});

test("a quoted value keeps its #; a bad value is reported with the file and line that set it", () => {
  const f = join(tmp(), "c.conf");
  writeFileSync(f, '# settings\norigin = "root@x"  # quoted\n\nbwlimit = lots   # oops\n');
  assert.throws(
    () => loadSettings({ flags: {}, configFile: f, configExplicit: true }),
    (err: unknown) => err instanceof ConfigError && err.message.includes(`${f}:4: bwlimit:`),
  );
  writeFileSync(f, 'origin = "root@x\n');
  assert.throws(
    () => loadSettings({ flags: {}, configFile: f, configExplicit: true }),
    (err: unknown) => err instanceof ConfigError && err.message.includes(`${f}:1: origin: a quoted value`),
  );
});

test("configuration booleans read as written: nice = false turns niceness off", async () => {
  const { loadSettings } = await import("../../../src/engine/settings.js");
  const dir = mkdtempSync(join(tmpdir(), "bm-conf-"));
  const f = join(dir, "bm.conf");
  writeFileSync(f, "origin = root@old.example.org\nnice = false\n");
  assert.equal(loadSettings({ flags: {}, configFile: f }).nice, false);
  writeFileSync(f, "nice = yes\n");
  assert.equal(loadSettings({ flags: {}, configFile: f }).nice, true);
  writeFileSync(f, "nice = maybe\n");
  assert.throws(() => loadSettings({ flags: {}, configFile: f }), /nice/);
});

test("pathProblem rejects /, empty, relative and '..' paths", () => {
  assert.equal(pathProblem("/"), "must not be /");
  assert.equal(pathProblem("///"), "must not be /");
  assert.equal(pathProblem(""), "is empty");
  assert.equal(pathProblem("  "), "is empty");
  assert.match(pathProblem("var/lib/bm-migrate") ?? "", /must be an absolute path/);
  assert.match(pathProblem("/var/lib/../..") ?? "", /must not contain '\.\.'/);
  assert.equal(pathProblem("/var/lib/bm-migrate"), undefined);
});

test("a configuration file naming / or a relative path is rejected with every problem at once", () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-safety-"));
  const file = join(dir, "bm-migrate.conf");
  writeFileSync(file, "state-dir = /\nlog-dir = logs\n");
  assert.throws(
    () => loadSettings({ flags: {}, configFile: file, configExplicit: true }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /state-dir must not be \//.test(err.message) &&
      /log-dir must be an absolute path, not 'logs'/.test(err.message),
  );
});

test("a broken configuration line and an unknown key are reported with their line numbers", () => {
  const r = parseConfigFile("# comment\norigin root@x\nstate-dir = /srv/state\ncolour = blue\n", "/f.conf");
  assert.deepEqual(r.values, { stateDir: "/srv/state" });
  assert.equal(r.problems.length, 2);
  assert.match(r.problems[0]!, /^\/f\.conf:2: not a 'key = value' line/);
  assert.match(r.problems[1]!, /^\/f\.conf:4: unknown key 'colour'/);
});
