// The PostgreSQL adapter: the origin's database failures told apart (its own shutdown, a lost
// network, a refused password), the tunnel's local end, pg_isready on the origin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import type { Host } from "../../../src/adapters/host.js";
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
