// Secrets never leave the places they belong: a full hot and cold sync, verify and report with a
// distinctive database password on the origin, while a sampler inside each host records every
// process's command line every 50 ms. The password (and the origin's admin API key) must appear
// in no command line, log, journal entry or report; the tool's state is for root only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Lab, type Role } from "../../lab/lab.js";
import { compareHosts, labForTests, ORIGIN } from "./support.js";
import { rolePasswordSql } from "../../src/phases/databaseSteps.js";

const SECRET = `S3cr3t-${randomBytes(6).toString("hex")}`;
const SAMPLES = "/tmp/bm-cmdline-samples";
const STOP = "/tmp/bm-cmdline-stop";
const ENVIRONS = "/tmp/bm-environ-samples";
let lab: Lab;
let apiKey = "";

labForTests("f2", { scale: 1 }, (l) => {
  lab = l;
  // The role's password and bm.ini's change together; the writer reads bm.ini when it starts.
  lab.must(
    "origin",
    `bmctl stop
     runuser -u postgres -- psql -q -c "ALTER ROLE bj PASSWORD '${SECRET}'"
     sed -i 's/^password *=.*/password = "${SECRET}"/' /etc/bm/bm.ini
     grep -q '${SECRET}' /etc/bm/bm.ini
     bmctl start`,
  );
  apiKey = lab.must("origin", "cat /etc/bm/bm-core.tok").trim();
});

/**
 * Start a detached sampler of all command lines inside a host, and of the environment of every
 * process not running as root (the restore's psql runs as postgres: a secret there is readable by
 * the postgres account).
 */
function startSampler(role: Role): void {
  lab.must(
    role,
    `rm -f ${STOP} ${SAMPLES} ${ENVIRONS}
     setsid bash -c 'while [ ! -e ${STOP} ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " >> ${SAMPLES}; echo >> ${SAMPLES}; for p in /proc/[0-9]*; do [ -O $p ] || { tr "\\0" " " < $p/environ; echo; } >> ${ENVIRONS} 2>/dev/null; done; sleep 0.05; done' </dev/null >/dev/null 2>&1 &`,
  );
}

function stopSampler(role: Role): void {
  lab.must(role, `touch ${STOP}; sleep 0.3`);
}

/** Files under `paths` (inside a host) holding `text`, as grep lists them. */
function filesHolding(role: Role, text: string, paths: string[]): string[] {
  const r = lab.sh(role, `grep -rlF -- '${text}' ${paths.join(" ")} 2>/dev/null`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

test("a full hot and cold sync, verify and report keep the passwords and API keys out of argv, logs, journal and reports", async () => {
  startSampler("origin");
  startSampler("target");
  let report = "";
  try {
    for (const args of [
      ["hot-sync", ...ORIGIN],
      ["cold-sync", ...ORIGIN, "--yes"],
      ["verify", ...ORIGIN],
    ]) {
      const r = lab.bm(args);
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}${r.stdout}`);
      for (const s of [SECRET, apiKey]) assert.ok(!(r.stdout + r.stderr).includes(s), `${args[0]}'s output`);
    }
    const rep = lab.bm(["report"]);
    assert.equal(rep.code, 0, rep.stderr);
    report = rep.stdout.trim();
    assert.ok(!(rep.stdout + rep.stderr).includes(SECRET));
  } finally {
    stopSampler("origin");
    stopSampler("target");
  }
  // The samplers saw the run (else finding nothing proves nothing).
  const seen = lab.must("target", `grep -c 'rsync' ${SAMPLES} || true`);
  assert.ok(Number(seen) > 0, "the target's sampler saw rsync");
  assert.match(lab.must("target", `grep -o 'pg_dump[^ ]*' ${SAMPLES} | head -1`), /pg_dump/);
  assert.match(lab.must("origin", `grep -o 'rsync --server' ${SAMPLES} | head -1`), /rsync --server/);

  // The environment sampler saw non-root processes that use the database (psql, postgres).
  assert.match(
    lab.must("target", `grep -c 'PGOPTIONS\\|PG_GRANDPARENT_PID\\|postgres' ${ENVIRONS} || true`),
    /^[1-9]/,
  );
  for (const s of [SECRET, apiKey]) {
    const what = s === SECRET ? "the database password" : "the API key";
    for (const role of ["origin", "target"] as const) {
      assert.deepEqual(filesHolding(role, s, [SAMPLES]), [], `${what} in a command line on the ${role}`);
      assert.deepEqual(
        filesHolding(role, s, [ENVIRONS]),
        [],
        `${what} in the environment of a non-root process on the ${role}`,
      );
      assert.deepEqual(
        filesHolding(role, s, ["/var/log/postgresql"]),
        [],
        `${what} in PostgreSQL's log on the ${role}`,
      );
    }
    assert.deepEqual(
      filesHolding("target", s, [
        "/var/lib/bm-migrate/journal.jsonl",
        "/var/lib/bm-migrate/reports",
        "/var/log/bm-migrate",
        report,
      ]),
      [],
      `${what} in the journal, logs or reports`,
    );
  }
  assert.deepEqual(await compareHosts(lab), [], "the migration itself worked");
});

test("the tool's state and logs are for root only", () => {
  const dirs = lab.must("target", "stat -c '%a %U %n' /var/lib/bm-migrate /var/log/bm-migrate");
  for (const line of dirs.trim().split("\n")) assert.match(line, /^700 root /, line);
  // Files the tool writes (copies of the servers' own files keep their modes, inside these).
  const open = lab.must(
    "target",
    `find /var/lib/bm-migrate /var/log/bm-migrate \\( -path '*/set-aside/*' -o -path '*/config-before/*' \\) -prune -o \\( -perm /077 -printf '%m %p\\n' \\)`,
  );
  assert.deepEqual(
    open
      .split("\n")
      .filter((l) => l !== "")
      // Known, left to their owners: the HTML report is written 0644 (src/commands/report.ts) and
      // rsync creates config-before/ 0755 (src/phases/configSteps.ts); both sit inside the 0700
      // state directory, so only root reaches them.
      .filter((l) => !/\.html$/.test(l) && !/^755 \/var\/lib\/bm-migrate\/config-before$/.test(l)),
    [],
    "no file or directory of the tool's readable by others",
  );
  const dumps = lab.must("target", "find /var/lib/bm-migrate/dumps -name '*.sql' -printf '%m %p\\n'");
  assert.match(dumps, /^600 .*bj\.sql$/m, "the database dumps are root's only");
});

test("the role password is sent as a SCRAM verifier: it logs in, and a failing statement logs no password", () => {
  const pw = `Pw-${randomBytes(6).toString("hex")}`;
  // Every statement logged, as a cautious administrator might have it; then a role that exists and one that does not.
  lab.must(
    "target",
    `runuser -u postgres -- psql -q -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()"`,
  );
  try {
    lab.must("target", `runuser -u postgres -- psql -q -c "CREATE ROLE bm_probe LOGIN"`);
    lab.must(
      "target",
      `runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'EOF'\n${rolePasswordSql("bm_probe", pw)}\nEOF`,
    );
    const failed = lab.sh(
      "target",
      `runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'EOF'\n${rolePasswordSql("bm_nobody", pw)}\nEOF`,
    );
    assert.notEqual(failed.code, 0, "the statement for a missing role fails");
    assert.equal(
      lab
        .must(
          "target",
          `PGPASSWORD='${pw}' psql -X -w -A -t -h 127.0.0.1 -U bm_probe -d postgres -c 'SELECT current_user'`,
        )
        .trim(),
      "bm_probe",
      "the verifier sets the very password",
    );
    assert.deepEqual(
      filesHolding("target", pw, ["/var/log/postgresql"]),
      [],
      "no password in PostgreSQL's log",
    );
    assert.match(
      lab.must("target", "cat /var/log/postgresql/*.log"),
      /bm_nobody/,
      "the failing statement was logged (else this proves nothing)",
    );
  } finally {
    lab.sh(
      "target",
      `runuser -u postgres -- psql -q -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" -c "DROP ROLE IF EXISTS bm_probe"`,
    );
  }
});
