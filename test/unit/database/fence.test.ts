// The origin's write fence: its SQL, read back, and judged (see src/database/fence.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  describeSession,
  fenceProblem,
  fenceSql,
  fenceStateSql,
  liftFenceSql,
  parseFence,
} from "../../../src/database/fence.js";

void test("the fence sets read-only on each database, ends the other client sessions, waits, then checks", () => {
  const sql = fenceSql(["bj", "bj-data"], 1000);
  assert.match(sql, /EXECUTE format\('ALTER DATABASE %I SET default_transaction_read_only = on', d\)/);
  assert.match(sql, /datname IN \('bj', 'bj-data'\)/);
  // Ended before the checks, and the checks after a wait that re-reads the activity.
  const ended = sql.indexOf("pg_terminate_backend");
  const cleared = sql.indexOf("pg_stat_clear_snapshot");
  assert.ok(ended > 0 && cleared > ended && sql.indexOf("'left'") > cleared);
  assert.match(sql, /FOR i IN 1\.\.20 LOOP/, "1 s of 50 ms rounds");
  assert.match(sql, /pg_prepared_xacts WHERE database IN \('bj', 'bj-data'\)/);
  assert.match(sql, /\(row_to_json\(a\)->>'backend_xid'\) IS NOT NULL AND a\.pid <> pg_backend_pid\(\)/);
  // Its own session is never ended, autovacuum workers are left alone (they write no table rows).
  assert.match(sql, /a\.pid <> pg_backend_pid\(\) AND coalesce\(row_to_json\(a\)->>'backend_type'/);
  assert.ok(sql.includes(fenceStateSql(["bj", "bj-data"]).trim()));
});

void test("the lift resets the setting of each database that exists, then says which still carry it", () => {
  const sql = liftFenceSql(["bj", "bj-data", "keycloak"]);
  assert.match(sql, /RESET default_transaction_read_only/);
  assert.match(sql, /datname IN \('bj', 'bj-data', 'keycloak'\)/);
  assert.match(sql, /'fenced', d\.datname FROM pg_db_role_setting/);
  assert.match(sql, /s\.setrole = 0/, "the database's own setting, not a role's in it");
});

const rows = [
  ["ended", "4242", "bj", "bj", "cron-cleanup", "127.0.0.1", "idle in transaction", "930", "t"],
  ["xid", "4300", "postgres", "931"],
  ["snapshot", "929:932:929"],
  ["fenced", "bj"],
  ["fenced", "bj-data"],
];

void test("what was connected is read back and named", () => {
  const f = parseFence(rows);
  assert.deepEqual(f.ended, [
    {
      pid: 4242,
      user: "bj",
      db: "bj",
      application: "cron-cleanup",
      client: "127.0.0.1",
      state: "idle in transaction",
      xid: "930",
    },
  ]);
  assert.equal(
    describeSession(f.ended[0]!),
    "pid 4242 (bj on bj, from 127.0.0.1, app cron-cleanup, idle in transaction, xid 930)",
  );
  assert.deepEqual(f.xidHolders, ["4300:postgres:931"]);
  assert.equal(f.snapshot, "929:932:929");
  assert.deepEqual(f.fenced, ["bj", "bj-data"]);
  assert.equal(fenceProblem(f), undefined, "ended sessions are not a problem: they are gone");
});

void test("a session that would not go, or a prepared transaction, means the fence does not hold", () => {
  const left = parseFence([...rows, ["left", "4242", "bj", "bj", "", "local", "active", "930"]]);
  assert.match(
    fenceProblem(left) ?? "",
    /sessions still connected after being ended: pid 4242 \(bj on bj, from local/,
  );
  const prepared = parseFence([...rows, ["prepared", "tx-1", "bj-data", "bj", "925"]]);
  assert.match(
    fenceProblem(prepared) ?? "",
    /prepared transactions wait to be committed: 'tx-1' on bj-data by bj \(xid 925\)/,
  );
});
