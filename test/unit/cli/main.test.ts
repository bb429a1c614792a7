import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO, cli, cliShellCommand, runCli } from "../../support/cli.js";
import { tempDir } from "../../support/tmp.js";

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

// Malformed input: every case exits 2 with a message naming what is wrong, before anything runs.
function confFile(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), "bm-conf-")), "bm-migrate.conf");
  writeFileSync(f, text);
  return f;
}

test("state-dir and log-dir refuse /, empty, relative and '..' paths (exit 2)", () => {
  const cases: [string[], RegExp][] = [
    [["--state-dir", "/"], /state-dir must not be \//],
    [["--state-dir", ""], /state-dir is empty/],
    [["--log-dir", "logs"], /log-dir must be an absolute path, not 'logs'/],
    [["--state-dir", "/var/lib/bm-migrate/../../.."], /state-dir must not contain '\.\.'/],
    [["--log-dir", "//"], /log-dir must not be \//],
  ];
  for (const [args, message] of cases) {
    const r = cli("status", ...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, message, args.join(" "));
    assert.match(r.err, /next: fix the flags or the configuration file/);
  }
});

test("paths from a configuration file are validated like flags", () => {
  const r = cli("status", "--config", confFile("state-dir = /\nlog-dir = ../log\n"));
  assert.equal(r.code, 2);
  assert.match(r.err, /state-dir must not be \//);
  assert.match(r.err, /log-dir must be an absolute path, not '\.\.\/log'/);
});

test("a broken configuration file is rejected with its line (exit 2)", () => {
  const r = cli("status", "--config", confFile("origin = root@bm-origin\n[section]\n"));
  assert.equal(r.code, 2);
  assert.match(r.err, /bm-migrate\.conf:2: not a 'key = value' line: \[section\]/);
});

test("a configuration file named but missing is an error (exit 2)", () => {
  const r = cli("status", "--config", "/nonexistent/bm-migrate.conf");
  assert.equal(r.code, 2);
  assert.match(r.err, /cannot read configuration file \/nonexistent\/bm-migrate\.conf/);
});

test("bad host names are rejected (exit 2), from a flag or the configuration file", () => {
  for (const origin of ["root@", "bm origin", "root@-bad", "root@host:99999", "root@host;rm"]) {
    const r = cli("status", "--origin", origin);
    assert.equal(r.code, 2, origin);
    assert.match(r.err, /is not \[user@\]host\[:port\]/, origin);
  }
  const f = cli("status", "--config", confFile("origin = root@bad_host!\n"));
  assert.equal(f.code, 2);
  assert.match(f.err, /origin 'root@bad_host!' is not \[user@\]host/);
});

test("non-numeric and out-of-range options are usage errors naming the option (exit 2)", () => {
  const dbJobs = cli("hot-sync", "--db-jobs", "two");
  assert.equal(dbJobs.code, 2);
  assert.match(dbJobs.err, /--db-jobs takes a whole number, not 'two'/);
  const negative = cli("hot-sync", "--bwlimit", "-5");
  assert.equal(negative.code, 2);
  assert.match(negative.err, /--bwlimit/);
  const profile = cli("hot-sync", "--profile", "9");
  assert.equal(profile.code, 2);
  assert.match(profile.err, /--profile <id>' argument '9' is invalid/);
  const tooMany = cli("status", "--db-jobs", "500");
  assert.equal(tooMany.code, 2);
  assert.match(tooMany.err, /db-jobs: Too big: expected number to be <=64/);
  const conf = cli("status", "--config", confFile("bwlimit = fast\n"));
  assert.equal(conf.code, 2);
  assert.match(conf.err, /bwlimit/);
});

test("verify --sample takes a percentage (exit 2 otherwise)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "bm-state-"));
  const r = cli("verify", "--sample", "lots", "--state-dir", join(tmp, "s"), "--log-dir", join(tmp, "l"));
  assert.equal(r.code, 2);
  assert.match(r.err, /--sample takes a percentage between 0 and 100, such as 10%, not 'lots'/);
});

test("a terminal that hangs up while a question waits: the answer is no, said in the log, nothing done", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bm-hup-"));
  const [state, log] = [join(dir, "state"), join(dir, "log")];
  // On a pty of its own (script), as over SSH; killing script hangs that terminal up.
  const command = cliShellCommand([
    "cold-sync",
    "--origin",
    "root@192.0.2.1",
    "--state-dir",
    state,
    "--log-dir",
    log,
  ]);
  const term = spawn("script", ["-qfec", command, "/dev/null"], { stdio: ["pipe", "pipe", "ignore"] });
  let shown = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no question asked: ${shown}`)), 20_000);
    term.stdout.on("data", (b: Buffer) => {
      shown += b.toString();
      if (/Go on\? \[y\/N\]/.test(shown)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  term.kill("SIGKILL");
  const logFile = join(log, "bm-migrate.log");
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000 && !readIfThere(logFile).includes("Nothing done.")) await sleep(100);
  const text = readIfThere(logFile);
  assert.match(text, /No answer \(the terminal closed\): \\"The cold sync stops BlueMind.*— no/);
  assert.match(text, /Nothing done\./);
});

function readIfThere(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

test("a usage error found by the command itself creates neither the state nor the log directory", () => {
  const d = tempDir();
  for (const args of [
    ["post", "--new-ip", "1.2.3"],
    ["verify", "--origin", "root@x", "--sample", "300%"],
  ]) {
    const r = runCli([...args, "--state-dir", `${d}/s`, "--log-dir", `${d}/l`], { cwd: REPO });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.deepEqual(readdirSync(d), [], `${args.join(" ")} left something behind`);
  }
});
