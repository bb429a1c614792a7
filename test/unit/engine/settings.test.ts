// Issue 19: hostile names, stale state and torn journals. Each test here failed before its fix.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { REPO, runCli } from "../../support/cli.js";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../src/engine/errors.js";
import { loadSettings } from "../../../src/engine/settings.js";
import { FileJournal } from "../../../src/engine/journal.js";
import { RunLock, bootId, processStartTime } from "../../../src/engine/lock.js";
import { UnsafeStateDir } from "../../../src/engine/stateDir.js";
import { displayBytes, escapeControls } from "../../../src/engine/text.js";
import { HumanSink, JsonSink, LogFileSink } from "../../../src/cli/output.js";
import { esc } from "../../../src/report/escape.js";
import { classifyOriginDbFailure, scramVerifier } from "../../../src/adapters/postgres.js";
import { replaceDatabaseSql, rolePasswordSql } from "../../../src/phases/databaseSteps.js";
import { createHmac, pbkdf2Sync } from "node:crypto";
import { changesFor, parseChangeLog, withParents } from "../../../src/phases/changeJournal.js";
import { filterLiteral, rsyncListedArgs, safeRelative } from "../../../src/adapters/rsyncListed.js";
import { rsyncArgs } from "../../../src/adapters/rsync.js";
import { SshConnection } from "../../../src/adapters/ssh.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "bm-hostile-"));

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

test("a usage error found by the command itself creates neither the state nor the log directory", () => {
  const d = tmp();
  for (const args of [
    ["post", "--new-ip", "1.2.3"],
    ["verify", "--origin", "root@x", "--sample", "300%"],
  ]) {
    const r = runCli([...args, "--state-dir", `${d}/s`, "--log-dir", `${d}/l`], { cwd: REPO });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.deepEqual(readdirSync(d), [], `${args.join(" ")} left something behind`);
  }
});

test("a torn last journal line loses no later record, and is reported", () => {
  const d = tmp();
  const j1 = new FileJournal(d);
  j1.append({ type: "step-done", step: "a" });
  j1.close();
  // A power cut in the middle of the next record.
  appendFileSync(join(d, "journal.jsonl"), '{"t":"2026-12-04T00:00:00Z","type":"step-sta');
  const torn: string[] = [];
  const j2 = new FileJournal(d, (p) => torn.push(p));
  j2.append({ type: "verify-result", ok: true });
  j2.close();
  assert.deepEqual(
    j2.records().map((r) => r.type),
    ["step-done", "verify-result"],
  );
  assert.deepEqual(torn, [join(d, "journal.jsonl")]);
  // A journal that ends well is not reported.
  const j3 = new FileJournal(d, (p) => torn.push(p));
  j3.append({ type: "x" });
  j3.close();
  assert.equal(torn.length, 1);
});

/** A live process whose argv[0] is `name` (what the reaper used to check), in its own group. */
function bystander(name: string): ChildProcess {
  return spawn("bash", ["-c", `exec -a ${name} sleep 60`], { detached: true, stdio: "ignore" });
}
const alive = (pid: number): boolean => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

test("a stale lock.children kills nothing it did not start: pid reuse after a reboot, or another start time", async () => {
  const d = tmp();
  const shell = bystander("bash");
  const other = bystander("rsync");
  const mine = bystander("psql");
  try {
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(d, "lock"), JSON.stringify({ pid: 999999, command: "x", started: "" }), {
      mode: 0o600,
    });
    writeFileSync(
      join(d, "lock.children"),
      [
        `+${shell.pid} bash`, // the format before boot ids: a login shell that got the pid after a reboot
        `+${other.pid} 00000000-dead-beef-0000-000000000000 ${processStartTime(other.pid!)} rsync`, // another boot
        `+${other.pid} ${bootId()} 1 rsync`, // this boot, but another process's start time
        `+${mine.pid} ${bootId()} ${processStartTime(mine.pid!)} psql`, // the very process a run started
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const lock = new RunLock(d);
    lock.acquire("bm-migrate cold-sync");
    lock.release();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(shell.pid!), "the login shell lives");
    assert.ok(alive(other.pid!), "the other rsync lives");
    assert.ok(!alive(mine.pid!), "the run's own child was stopped");
    assert.deepEqual(lock.reaped, [{ pid: mine.pid, command: "psql" }]);
  } finally {
    for (const c of [shell, other, mine]) c.kill("SIGKILL");
  }
});

test("state and log directories others could change, and symlinks for the journal, lock or log, are refused", () => {
  const d = tmp();
  const foreign = join(d, "foreign");
  mkdirSync(foreign, { mode: 0o700 });
  chownSync(foreign, 1000, 1000);
  assert.throws(
    () => new RunLock(foreign).acquire("x"),
    (e: unknown) =>
      e instanceof UnsafeStateDir &&
      /owned by uid 1000/.test(e.message) &&
      /chown root:root/.test(e.hint ?? ""),
  );
  const open = join(d, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.throws(() => new FileJournal(open).append({ type: "x" }), /writable by every user/);
  const linked = join(d, "linked");
  symlinkSync(open, linked);
  assert.throws(() => new RunLock(linked).acquire("x"), /is a symbolic link/);
  // Files: the journal and the log are never written through a symlink.
  const good = join(d, "good");
  mkdirSync(good, { mode: 0o700 });
  const victim = join(d, "victim");
  writeFileSync(victim, "");
  symlinkSync(victim, join(good, "journal.jsonl"));
  assert.throws(() => new FileJournal(good).append({ type: "x" }), /symbolic link/);
  symlinkSync(victim, join(good, "bm-migrate.log"));
  const said: string[] = [];
  new LogFileSink(good, (w) => said.push(w)).emit({ type: "info", message: "hello" });
  assert.equal(readFileSync(victim, "utf8"), "", "nothing written through the links");
  assert.match(said[0] ?? "", /cannot write the log .*symbolic link/);
});

test("control characters from file names are escaped on the terminal, in the log and in the report", () => {
  const hostile = "mail/\x1b]0;owned\x07\x1b[2J\u009b31mcold sync OK\nfake line";
  const out: string[] = [];
  const stream = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
  new HumanSink({ json: false, quiet: false, tty: false, color: false, stream }).emit({
    type: "warning",
    message: `cannot copy ${hostile}`,
  });
  const d = tmp();
  new LogFileSink(d).emit({ type: "info", message: hostile });
  const jsonOut: string[] = [];
  new JsonSink({ write: (s: string) => jsonOut.push(s) } as unknown as NodeJS.WritableStream).emit({
    type: "info",
    message: hostile,
  });
  for (const [where, text] of [
    ["terminal", out.join("")],
    ["log", readFileSync(join(d, "bm-migrate.log"), "utf8")],
    ["json", jsonOut.join("")],
    ["report", esc(hostile)],
  ] as const) {
    for (const c of ["\u001b", "\u0007", "\u009b"])
      assert.ok(!text.includes(c), `${where}: no raw control character`);
  }
  assert.match(out.join(""), /\\x1b\]0;owned\\x07/);
  assert.equal(escapeControls("a\tb\nc"), "a\\tb\\nc");
  assert.equal(displayBytes(Buffer.from([0x61, 0xff, 0x0a, 0x62])), "a\\xff\\x0ab");
  assert.equal(displayBytes("é".normalize() === "é" ? Buffer.from("é") : Buffer.from("é")), "é");
});

test("PostgreSQL's own shutdown during a dump is told apart from a lost network", async () => {
  // Its own words decide, even with the tunnel gone too: nothing else is asked.
  const gone = {
    tunnelListening: () => Promise.resolve(false),
    originServer: () => Promise.reject(new Error("not asked")),
  };
  for (const stderr of [
    'pg_dump: error: Dumping the contents of table "t_mailbox_record" failed: PQgetCopyData() failed.\npg_dump: detail: Error message from server: FATAL:  terminating connection due to administrator command\nserver closed the connection unexpectedly',
    'pg_dump: error: connection to server at "127.0.0.1", port 40000 failed: FATAL:  the database system is shutting down',
  ])
    assert.equal(await classifyOriginDbFailure(stderr, gone), "shut-down");
});

test("the role password's SQL holds a SCRAM verifier, never the password; the restore pipeline gives it to pg_dump alone", () => {
  const pw = "S3cr3t-abc'def";
  const sql = rolePasswordSql("bj", pw);
  assert.ok(!sql.includes("S3cr3t"), sql);
  assert.match(
    sql,
    /PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}'/,
  );
  assert.match(sql, /SET log_min_error_statement = 'panic'/);
  // RFC 7677's test vector: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
  const v = scramVerifier("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
  assert.equal(
    v?.split("$")[2]?.split(":")[1],
    // ServerKey of the vector: its ServerSignature checks against it (computed from RFC 7677 §3).
    createHmac(
      "sha256",
      pbkdf2Sync("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096, 32, "sha256"),
    )
      .update("Server Key")
      .digest("base64"),
  );
});

test("replacing a database never drops the target's own one kept as <db>.bm-migrate-old", () => {
  const sql = replaceDatabaseSql("bj");
  assert.doesNotMatch(sql, /DROP DATABASE[^;]*"bj\.bm-migrate-old"/);
  // When the old one is there already, the database in place (an earlier copy) is what goes.
  assert.match(
    sql,
    /\\if :has_old\nALTER DATABASE "bj" RENAME TO "bj\.bm-migrate-stale";\n\\else\nALTER DATABASE "bj" RENAME TO "bj\.bm-migrate-old";/,
  );
  assert.match(sql, /COMMIT;\nDROP DATABASE IF EXISTS "bj\.bm-migrate-stale";$/);
});

const SPOOL = "/var/spool/cyrus";

test("a name with a newline and fake event text is one event with its exact path, never two", () => {
  // What inotifywait --csv printed for `mkdir -p $'nl\nMODIFY /root'` (the same bytes seen from 3.14,
  // Debian 11, and 3.22, Debian 12).
  const log = parseChangeLog(
    [
      "R 1",
      `E 2 ${SPOOL}/,"CREATE,ISDIR","nl`,
      `E 2 MODIFY "`,
      `E 3 "${SPOOL}/nl`,
      `E 3 MODIFY /","CREATE,ISDIR",root`,
      "",
    ].join("\n"),
    [SPOOL],
  );
  assert.deepEqual(
    log.events.map((e) => e.path),
    [`${SPOOL}/nl\nMODIFY `],
    "the forged MODIFY is part of the name",
  );
  // The event inside the directory whose own path needed quoting is not guessed at: full pass.
  assert.match(log.untrusted ?? "", /cannot be read back with certainty/);
  // The name with a quote and a comma, once the directory is plain, reads back exactly.
  assert.deepEqual(
    parseChangeLog(`R 1\nE 4 ${SPOOL}/,CREATE,"q""uote,comma"\n`, [SPOOL]).events.map((e) => e.path),
    [`${SPOOL}/q"uote,comma`],
  );
  // The old --format '%e %w%f' line, or any path outside the watched trees, is refused.
  assert.match(parseChangeLog(`R 1\nE 2 MODIFY /root/x\n`, [SPOOL]).untrusted ?? "", /unreadable/);
  assert.match(parseChangeLog(`R 1\nE 2 /root/,MODIFY,x\n`, [SPOOL]).untrusted ?? "", /outside the watched/);
  assert.match(parseChangeLog(`R 1\nE 2 ${SPOOL}/,MODIFY,"a/b"\n`, [SPOOL]).untrusted ?? "", /holds a \//);
  assert.match(parseChangeLog(`R 1\nE 2 ${SPOOL}/../,MODIFY,x\n`, [SPOOL]).untrusted ?? "", /not plain/);
  // A record still open at the end of what was read.
  assert.match(
    parseChangeLog(`R 1\nE 2 ${SPOOL}/,CREATE,"a\n`, [SPOOL]).untrusted ?? "",
    /ends inside an event/,
  );
});

test("names that are not UTF-8 survive the change log byte for byte, and reach rsync's list unchanged", () => {
  const name = Buffer.from([0x69, 0x6e, 0x76, 0xff, 0xfe, 0x2e]); // "inv\xff\xfe."
  const bytes = Buffer.concat([Buffer.from(`R 1\nE 2 ${SPOOL}/u/,CLOSE_WRITE,`), name, Buffer.from("\n")]);
  const log = parseChangeLog(bytes.toString("latin1"), [SPOOL]);
  assert.equal(log.untrusted, undefined);
  const c = changesFor(SPOOL, log.events, 0);
  const list = withParents(c.paths);
  assert.deepEqual(Buffer.from(list.at(-1)!, "latin1"), Buffer.concat([Buffer.from("u/"), name]));
  assert.equal(displayBytes(list.at(-1)!), "u/inv\\xff\\xfe.");
  // A top-level filter for such a name matches it (any byte for each one beyond ASCII).
  assert.equal(filterLiteral(name.toString("latin1")), "inv??.");
  assert.equal(filterLiteral("a*\u00e9"), "a\\*?");
  assert.ok(!safeRelative("../x") && !safeRelative("/etc") && !safeRelative("a//b") && safeRelative("."));
});

test("no rsync of the tool follows a symlink out of the data directories", () => {
  const ssh = new SshConnection({ user: "root", host: "origin" }, { socketDir: tmp() });
  const args = [
    ...rsyncListedArgs({ ssh, dir: "/var/spool/cyrus", paths: [".", "a", "a/b"] }),
    ...rsyncArgs({ ssh, source: "/var/spool/cyrus", dest: "/var/spool/cyrus" }),
  ];
  for (const a of args)
    assert.ok(
      !/^(?:-[a-zA-Z]*[LkK]|--copy-links|--copy-unsafe-links|--copy-dirlinks|--keep-dirlinks|--safe-links)$/.test(
        a,
      ),
      a,
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
