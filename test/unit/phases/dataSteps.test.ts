// Safety guards that need no lab: rsync --delete only into a profile's data directories, paths
// from flags and configuration validated, and the origin's database failures told apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalHost, type Host } from "../../../src/adapters/host.js";
import {
  classifyOriginDbFailure,
  freePort,
  originServerState,
  parseOriginServerState,
  tunnelListening,
  type OriginDbProbes,
  type OriginServerState,
} from "../../../src/adapters/postgres.js";
import type { ProcessResult } from "../../../src/adapters/process.js";
import { SshConnection } from "../../../src/adapters/ssh.js";
import { DATA_DIRS_4, PROFILES } from "../../../src/bluemind/profiles.js";
import { ConfigError } from "../../../src/engine/errors.js";
import { loadSettings, parseConfigFile, pathProblem } from "../../../src/engine/settings.js";
import { assertDataDestination, rsyncStep } from "../../../src/phases/dataSteps.js";

const ssh = new SshConnection(
  { user: "root", host: "bm-origin" },
  { socketDir: mkdtempSync(join(tmpdir(), "bm-ssh-")) },
);
const target = new LocalHost();
const opts = { hot: true, nice: false, bwlimitKiB: 0 };

test("rsync --delete is refused into / and anything that is not a profile's data directory", () => {
  for (const dir of [
    "/",
    "//",
    "",
    "var/spool/cyrus",
    "/etc",
    "/var/spool",
    "/var/spool/cyrus/../..",
    "/root",
  ]) {
    assert.throws(
      () => rsyncStep(ssh, target, dir, opts),
      /refusing rsync --delete into/,
      `destination '${dir}'`,
    );
  }
  assert.throws(() => assertDataDestination("/"), /the destination must not be \//);
  assert.throws(() => assertDataDestination("/etc"), /not one of the profile's data directories/);
});

test("every profile's data directory is accepted, and the step's command deletes only there", () => {
  for (const p of Object.values(PROFILES))
    for (const dir of p.dataDirs) {
      const step = rsyncStep(ssh, target, dir, opts);
      const cmd = step.commands.find((c) => c.startsWith("rsync ")) ?? "";
      assert.match(cmd, /--delete/);
      assert.ok(cmd.endsWith(` ${dir}/`), `${cmd} ends in its destination ${dir}/`);
      // A hot pass's first copy may be a tar stream: it extracts only into the same directory.
      for (const c of step.commands.filter((x) => x.includes("tar --extract")))
        assert.match(c, new RegExp(`--directory=${dir.replace(/\//g, "\\/")}  `));
    }
  assert.ok(DATA_DIRS_4.length >= 7);
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

const RESULT: ProcessResult = {
  command: "ssh",
  exitCode: 0,
  signal: null,
  timedOut: false,
  durationMs: 1,
  stdout: "",
  stderr: "",
};

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, port: typeof a === "object" && a ? a.port : 0 });
    });
  });
}

/** Probes that answer as told, and count how often the origin was asked. */
function probes(tunnel: boolean, server: OriginServerState): OriginDbProbes & { asked: number } {
  const p = {
    asked: 0,
    tunnelListening: () => Promise.resolve(tunnel),
    originServer: () => {
      p.asked++;
      return Promise.resolve(server);
    },
  };
  return p;
}

test("the tunnel's local end: listening while the SSH master lives, not once it is gone", async () => {
  assert.equal(await tunnelListening({ host: "127.0.0.1", port: await freePort() }), false);
  const { server, port } = await listen();
  try {
    assert.equal(await tunnelListening({ host: "127.0.0.1", port }), true);
  } finally {
    server.close();
  }
});

test("a failure of the origin's database is classified: connection lost, password, server stopped", async () => {
  const closed = "server closed the connection unexpectedly\n\tThis probably means the server terminated";
  const atConnect = `psql: error: connection to server at "127.0.0.1", port 5 failed: ${closed}`;
  const midDump = 'pg_dump: error: Dumping the contents of table "t" failed: PQgetCopyData() failed.';
  // The tunnel's local end gone: the SSH connection died, whatever the origin would say.
  const gone = probes(false, "no-response");
  assert.equal(await classifyOriginDbFailure(atConnect, gone), "connection-lost");
  assert.equal(await classifyOriginDbFailure(midDump, gone), "connection-lost");
  assert.equal(gone.asked, 0, "the origin is not asked over a dead connection");
  // The tunnel still listening: the origin's server refused.
  const up = probes(true, "unknown");
  assert.equal(await classifyOriginDbFailure(atConnect, up), "not-running");
  assert.equal(
    await classifyOriginDbFailure(`connection to server at "127.0.0.1", port 5 failed: timeout expired`, up),
    "connection-lost",
  );
  assert.equal(
    await classifyOriginDbFailure('FATAL:  password authentication failed for user "bj"', up),
    "auth",
  );
  assert.equal(await classifyOriginDbFailure('ERROR:  relation "x" does not exist', up), "other");
});

test("a dump broken without PostgreSQL's own line is a shutdown only when the origin says its server stopped", async () => {
  // What pg_dump says when the origin's backend, blocked writing to a slow dump, is terminated: it
  // drops its "terminating connection" message then (ProcessClientWriteInterrupt).
  const silent = [
    'pg_dump: error: Dumping the contents of table "t_bulk3" failed: PQgetCopyData() failed.',
    "pg_dump: detail: Error message from server: server closed the connection unexpectedly",
    "\tThis probably means the server terminated abnormally",
    "\tbefore or while processing the request.",
  ].join("\n");
  const cases: [OriginServerState, string][] = [
    ["rejecting", "shut-down"], // still shutting down
    ["no-response", "shut-down"], // stopped: nothing answers on the origin's port 5432
    ["unknown", "connection-lost"], // the origin did not answer over SSH
    ["accepting", "connection-lost"],
  ];
  for (const [server, expected] of cases) {
    const p = probes(true, server);
    assert.equal(await classifyOriginDbFailure(silent, p), expected, server);
    assert.equal(p.asked, 1);
  }
});

test("the origin's PostgreSQL as pg_isready answers there, over SSH", async () => {
  assert.equal(parseOriginServerState("pg_isready=0\n"), "accepting");
  assert.equal(parseOriginServerState("pg_isready=1\n"), "rejecting");
  assert.equal(parseOriginServerState("pg_isready=2\n"), "no-response");
  assert.equal(parseOriginServerState("pg_isready=3\n"), "unknown");
  assert.equal(parseOriginServerState("listening=0\n"), "no-response");
  assert.equal(parseOriginServerState("listening=1\n"), "unknown");
  assert.equal(parseOriginServerState(""), "unknown");
  // The probe runs on the origin; SSH failing or timing out (a cut network) is no answer.
  const answering = (r: Partial<ProcessResult>): Host => ({
    role: "origin",
    label: "origin fake",
    run: () => Promise.reject(new Error("not used")),
    sh: (script: string) => {
      assert.match(script, /pg_isready -q -h localhost -p 5432/);
      return Promise.resolve({ ...RESULT, ...r });
    },
  });
  assert.equal(await originServerState(answering({ stdout: "pg_isready=2\n" })), "no-response");
  assert.equal(await originServerState(answering({ stdout: "pg_isready=1\n" })), "rejecting");
  assert.equal(await originServerState(answering({ exitCode: 255, stdout: "" })), "unknown");
  assert.equal(
    await originServerState(answering({ exitCode: null, timedOut: true, stdout: "pg_isready=2\n" })),
    "unknown",
  );
});
