// Safety guards that need no lab: rsync --delete only into a profile's data directories, paths
// from flags and configuration validated, and the origin's database failures told apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalHost } from "../../src/adapters/host.js";
import { classifyOriginDbFailure, freePort, tunnelListening } from "../../src/adapters/postgres.js";
import { SshConnection } from "../../src/adapters/ssh.js";
import { DATA_DIRS_4, PROFILES } from "../../src/bluemind/profiles.js";
import { ConfigError } from "../../src/engine/errors.js";
import { loadSettings, parseConfigFile, pathProblem } from "../../src/engine/settings.js";
import { assertDataDestination, rsyncStep } from "../../src/phases/dataSteps.js";

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

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => s.destroy());
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, port: typeof a === "object" && a ? a.port : 0 });
    });
  });
}

test("a failure of the origin's database is classified: connection lost, password, server stopped", async () => {
  const closed = "server closed the connection unexpectedly\n\tThis probably means the server terminated";
  const atConnect = `psql: error: connection to server at "127.0.0.1", port 5 failed: ${closed}`;
  // The tunnel's local end gone: the SSH connection died.
  const gone = { host: "127.0.0.1", port: await freePort() };
  assert.equal(await tunnelListening(gone), false);
  assert.equal(await classifyOriginDbFailure(gone, atConnect), "connection-lost");
  assert.equal(
    await classifyOriginDbFailure(
      gone,
      'pg_dump: error: Dumping the contents of table "t" failed: PQgetCopyData() failed.',
    ),
    "connection-lost",
  );
  // The tunnel still listening: the origin's server refused.
  const { server, port } = await listen();
  try {
    const up = { host: "127.0.0.1", port };
    assert.equal(await tunnelListening(up), true);
    assert.equal(await classifyOriginDbFailure(up, atConnect), "not-running");
    assert.equal(
      await classifyOriginDbFailure(
        up,
        `connection to server at "127.0.0.1", port 5 failed: timeout expired`,
      ),
      "connection-lost",
    );
    assert.equal(
      await classifyOriginDbFailure(up, 'FATAL:  password authentication failed for user "bj"'),
      "auth",
    );
    assert.equal(await classifyOriginDbFailure(up, 'ERROR:  relation "x" does not exist'), "other");
  } finally {
    server.close();
  }
});
