// The database steps' SQL: the role's password as a SCRAM verifier, a database replaced without
// dropping the target's own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, pbkdf2Sync } from "node:crypto";
import { scramVerifier } from "../../../src/adapters/postgres.js";
import { replaceDatabaseSql, rolePasswordSql } from "../../../src/phases/databaseSteps.js";

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
