// A database's settings and ACL as the staging database is given them (pg_dump leaves them out).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  databasePropertiesSql,
  parseDatabaseProperties,
  setClause,
} from "../../../src/database/properties.js";

test("a setting is written as pg_dump writes it: a list of identifiers as stored, any other value quoted", () => {
  assert.equal(setClause("TimeZone=GMT"), `SET "TimeZone" = 'GMT'`);
  assert.equal(setClause(`search_path="$user", public`), `SET "search_path" = "$user", public`);
  assert.equal(setClause("application_name=it's=odd"), `SET "application_name" = 'it''s=odd'`);
});

test("the origin's settings, per-role settings and ACL become statements on the staging database", () => {
  const p = parseDatabaseProperties(
    '{"acl" : "{=T/bj,bj=CTc/bj,reader=c/bj}", "settings" : [{"role" : null, "config" : ["TimeZone=GMT"]}, {"role" : "reader", "config" : ["work_mem=8MB"]}]}',
  );
  const sql = databasePropertiesSql("bj-data.bm-migrate-new", "bj", p);
  assert.match(sql, /^ALTER DATABASE "bj-data\.bm-migrate-new" SET "TimeZone" = 'GMT';$/m);
  assert.match(sql, /^ALTER ROLE "reader" IN DATABASE "bj-data\.bm-migrate-new" SET "work_mem" = '8MB';$/m);
  assert.match(sql, /^REVOKE ALL ON DATABASE "bj-data\.bm-migrate-new" FROM PUBLIC, "bj";$/m);
  assert.match(sql, /aclexplode\('\{=T\/bj,bj=CTc\/bj,reader=c\/bj\}'::aclitem\[\]\)/);
});

test("a database with the default ACL and no setting needs no statement", () => {
  assert.equal(
    databasePropertiesSql("bj", "bj", parseDatabaseProperties('{"acl" : null, "settings" : []}')),
    "",
  );
});

test("the origin's write fence (read-only for the downtime) is not the origin's setting: never carried, never compared", async () => {
  const { SCHEMA_SQL } = await import("../../../src/database/manifest.js");
  const p = parseDatabaseProperties(
    '{"acl" : null, "settings" : [{"role" : null, "config" : ["TimeZone=GMT", "default_transaction_read_only=on"]}]}',
  );
  const sql = databasePropertiesSql("bj", "bj", p);
  assert.match(sql, /SET "TimeZone" = 'GMT'/);
  assert.doesNotMatch(sql, /default_transaction_read_only/);
  assert.match(SCHEMA_SQL, /x NOT LIKE 'default_transaction_read_only=%'/);
});
