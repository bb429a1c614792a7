// The preflight's probes: their parsers, and the storage probe run on a real directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { linkSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalHost } from "../../../src/adapters/host.js";
import {
  classifyPsqlFailure,
  parseDbProbe,
  parseServices,
  parseStorage,
  storageScript,
} from "../../../src/check/probes.js";

test("parsers: services, database probe, psql failures", () => {
  const s = parseServices(
    "core_port=0\ninit=systemd\nbluemind_evidence=bluemind.target active, bm-core active\nbluemind=running\npostfix=stopped\npostgresql=running\npg_ready=1\npg_restore=15\npsql=15\n",
  );
  assert.deepEqual(s, {
    bluemind: "running",
    bluemindEvidence: "bluemind.target active, bm-core active, core port 8090 not listening",
    postfix: "stopped",
    postgresql: "running",
    pgAcceptsConnections: true,
    pgRestoreMajor: 15,
    psqlMajor: 15,
  });
  const db = parseDbProbe([
    "server_version_num|150018\nsize:bj|100\nsize:bj-data|200\nusers|3\nmailboxes|4\n",
    "users|1\n",
  ]);
  assert.deepEqual(db, {
    ok: true,
    serverVersionNum: 150018,
    sizes: { bj: 100, "bj-data": 200 },
    users: 4,
    mailboxes: 4,
  });
  assert.equal(parseDbProbe(["server_version_num|150018\n"]).users, undefined, "no table: no count");
  assert.equal(
    classifyPsqlFailure('psql: error: FATAL:  password authentication failed for user "bj"'),
    "auth",
  );
  assert.equal(classifyPsqlFailure("psql: error: server closed the connection unexpectedly"), "unreachable");
  assert.equal(classifyPsqlFailure('FATAL:  database "bj-data" does not exist'), "no-database");
});

test("the storage probe counts hard links once and reports owners and free space", async () => {
  const root = mkdtempSync(join(tmpdir(), "bm-check-"));
  const dir = join(root, "spool");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "a"), Buffer.alloc(100_000, 1));
  linkSync(join(dir, "a"), join(dir, "sub", "a-link"));
  writeFileSync(join(dir, "b"), "hello");
  const r = await new LocalHost().sh(
    storageScript([dir, join(root, "absent")], [join(root, "nope", "deeper")]),
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const st = parseStorage(r.stdout);
  const d = st.dirs.find((x) => x.path === dir)!;
  assert.equal(d.paths, 5, "spool, sub, a, a-link, b");
  assert.equal(d.inodes, 4, "the hard link is one inode");
  assert.ok(d.apparentBytes >= 100_005 && d.apparentBytes < 200_000, `a counted once: ${d.apparentBytes}`);
  assert.equal(st.dirs.find((x) => x.path.endsWith("absent"))?.present, false);
  const space = st.spaces.find((x) => x.path.endsWith("deeper"));
  assert.ok(space && space.availBytes > 0 && space.mount.startsWith("/"), JSON.stringify(st.spaces));
  assert.ok(st.owners.some((o) => o.uid === process.getuid!()));
});
