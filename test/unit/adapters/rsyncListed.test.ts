// rsync of a list of paths: names that are not UTF-8 reach the list byte for byte; filters and
// relative paths are safe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { filterLiteral, safeRelative } from "../../../src/adapters/rsyncListed.js";
import { displayBytes } from "../../../src/engine/text.js";
import { changesFor, parseChangeLog, withParents } from "../../../src/phases/changeJournal.js";

const SPOOL = "/var/spool/cyrus";

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
