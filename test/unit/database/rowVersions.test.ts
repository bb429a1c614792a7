// What a snapshot read by the tool says: "nothing in progress" only when no transaction holds an
// id, the newest included (issue 25, item 7: "X:X:" hid a writer holding X).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SNAPSHOT_TEXT, snapshotQuiet, watermarkFresh } from "../../../src/database/rowVersions.js";
import { ABOUT_SQL, SESSION_SNAPSHOT_SQL, sessionsDisagree } from "../../../src/phases/databaseDelta.js";

void test("the snapshot's text names the transaction ids held and prepared, not only txid_current_snapshot()", () => {
  assert.match(SNAPSHOT_TEXT, /txid_current_snapshot\(\)::text/);
  assert.match(SNAPSHOT_TEXT, /' held ' \|\| \(SELECT string_agg\(\(row_to_json\(a\)->>'backend_xid'\)/);
  assert.match(SNAPSHOT_TEXT, /a\.pid <> pg_backend_pid\(\)/, "its own session holds none (it reads only)");
  assert.match(
    SNAPSHOT_TEXT,
    /' prepared ' \|\| \(SELECT string_agg\(p\.transaction::text, ',' ORDER BY p\.transaction::text\) FROM pg_prepared_xacts p\)/,
  );
  // The delta's scan reads the same text (the verification compares it with its own).
  assert.ok(ABOUT_SQL.includes(SNAPSHOT_TEXT.replace(/\n\s*/g, " ")), "the cold copy's scan");
  assert.ok(SESSION_SNAPSHOT_SQL.includes(SNAPSHOT_TEXT.replace(/\n\s*/g, " ")), "each other session of it");
});

void test("quiet: no transaction below xmax, none holding the newest id, none prepared", () => {
  assert.equal(snapshotQuiet("900:900:"), true);
  assert.equal(snapshotQuiet("900:900: held 900"), false, "a writer holding the newest id");
  assert.equal(snapshotQuiet("899:900:899"), false, "a writer below xmax");
  assert.equal(snapshotQuiet("900:900: prepared 897"), false, "a prepared transaction");
  assert.equal(snapshotQuiet(undefined), false);
});

void test("the cold copy's sessions read one still origin only if they all saw the first one's quiet snapshot", () => {
  assert.equal(sessionsDisagree("900:900:", ["900:900:", "900:900:"]), undefined);
  assert.equal(sessionsDisagree("900:900:", []), undefined, "one session alone");
  assert.match(
    sessionsDisagree("900:900: held 900", ["900:900: held 900"]) ?? "",
    /a transaction was in progress/,
  );
  assert.match(
    sessionsDisagree("900:900:", ["900:900:", "901:901:"]) ?? "",
    /moved between the copy's sessions \(900:900:, then 901:901:\)/,
  );
  assert.match(sessionsDisagree("900:900:", [undefined]) ?? "", /did not note its snapshot/);
});

void test("a watermark far behind the server's transactions now is not trusted (xids wrap at 2^32)", () => {
  assert.equal(watermarkFresh(1000, 5000), true);
  assert.equal(watermarkFresh(2 ** 32 - 10, 20), true, "across the wrap of the 32-bit counter");
  assert.equal(watermarkFresh(1000, 1000 + 2 ** 30), false, "2^30 transactions later");
  assert.equal(watermarkFresh(1000, 1000 + 2 ** 31 + 5), false, "past half the circle it would look new");
  assert.equal(watermarkFresh(5000, 1000), false, "a watermark ahead of the server (another cluster)");
  assert.equal(watermarkFresh(undefined, 1000), false, "none recorded");
});
