// `run` refreshes an old verification ahead before the downtime (a last hot pass, then only what
// could have changed since): the downtime then covers the last seconds' changes, and a difference
// the ahead found is carried to the downtime (copied again before it, then proven), never dropped.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { BIN } from "../support/cli.js";
import { compareHosts, journal, ORIGIN } from "./support.js";

let lab: Lab;

/** A lab whose origin serves (its live writer adds mail and rows) until the cold sync stops it. */
function serving(name: string): Lab {
  lab?.down();
  lab = Lab.up(name, { scale: 1 });
  lab.must("origin", "bmctl start >/dev/null");
  return lab;
}
after(() => lab?.down());

const aheadRecords = () => journal(lab).filter((r) => r["type"] === "verify-ahead");

/** Change the target's staging copy of bj-data behind bm-migrate's back. */
const onStaging = (sql: string) =>
  lab.must("target", `runuser -u postgres -- psql -X -q -d bj-data.bm-migrate-new -c "${sql}"`);

/** run through the cold sync and its verification, refreshing an ahead older than `after` seconds. */
const runToVerify = (after: string) =>
  lab.bm(["run", ...ORIGIN, "--yes", "--stop-after", "verify", "--refresh-ahead-after", after], {
    timeoutMs: 600_000,
  });

test("run with an old ahead: a last hot pass and a refresh; the downtime's verification starts from the refresh", async () => {
  serving("t-refr1");
  const hot = lab.bm(["hot-sync", ...ORIGIN, "-q"]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  const r = runToVerify("0");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /a last hot pass, then a comparison of what changed since/);
  const [full, refreshed] = aheadRecords();
  assert.ok(full && !full["refreshOf"], "the full ahead first");
  assert.equal(refreshed?.["refreshOf"], full["startedAt"], "then the refresh, made from it");
  const j = journal(lab);
  const between = j.filter(
    (x) =>
      x["type"] === "pass-finished" &&
      x["phase"] === "hot-sync" &&
      String(x["t"]) > String(full["t"]) &&
      String(x["t"]) < String(refreshed?.["startedAt"]),
  );
  assert.equal(between.length, 1, "the run's own hot pass between the ahead and its refresh");
  const v = j.filter((x) => x["type"] === "verify-result").at(-1);
  assert.equal(v?.["ok"], true, JSON.stringify(v));
  assert.equal(v?.["scope"], "changed");
  assert.equal(v?.["aheadAt"], refreshed?.["startedAt"], "the downtime relied on the refreshed record");
  assert.match(
    r.stdout,
    /ok Compare database bj-data: schema, sequences, the row groups that could have changed: .*by the final copy's own scan/,
    "the origin's rows read once in the outage: its counts are the cold sync's own scan's",
  );
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
});

test("a difference the ahead found (a file rsync's quick check cannot see, a staging row) survives the refresh, is copied again before the downtime and proven there", async () => {
  serving("t-refr2");
  const hot = lab.bm(["hot-sync", ...ORIGIN, "-q"]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  // A mail file on the target: same size and mtime, other bytes (rsync's quick check skips it).
  const file = lab
    .must("target", "find /var/spool/cyrus/data -type f -name '*.' -size +0 | sort | head -1")
    .trim();
  assert.ok(file, "a mail file to damage");
  lab.must(
    "target",
    `f='${file}'; cp -p "$f" /tmp/ref; printf 'X' | dd of="$f" bs=1 count=1 conv=notrunc 2>/dev/null; touch -r /tmp/ref "$f"`,
  );
  // A row of the staging copy, in a table the origin does not write.
  onStaging(
    "UPDATE rc_users SET username = username || '-x' WHERE user_id = (SELECT min(user_id) FROM rc_users)",
  );
  const r = runToVerify("0");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const rec = aheadRecords();
  assert.equal(rec.length, 2, "a full ahead and its refresh");
  const rel = file.replace("/var/spool/cyrus/", "");
  for (const a of rec) {
    const cyrus = (a["files"] as Record<string, { paths?: string[] }>)["/var/spool/cyrus"];
    assert.ok(cyrus?.paths?.includes(rel), `${a["refreshOf"] ? "the refresh" : "the ahead"} lists ${rel}`);
    const db = (a["databases"] as Record<string, { tables?: Record<string, unknown> }>)["bj-data"];
    assert.ok(
      db?.tables?.["public.rc_users"],
      `${a["refreshOf"] ? "the refresh" : "the ahead"} keeps rc_users' group`,
    );
  }
  // Copied again while the origin still served (issue 25: re-checked but never re-copied, they
  // failed every cold sync's verification), then proven by the downtime's verification.
  assert.match(
    r.stdout,
    /Copied again, before the downtime, the \d+ path\(s\) the verification ahead found different/,
  );
  assert.match(
    r.stdout,
    /Copied again, before the downtime, the \d+ row group\(s\) the verification ahead found different/,
  );
  const v = journal(lab)
    .filter((x) => x["type"] === "verify-result")
    .at(-1);
  assert.equal(v?.["scope"], "changed");
  assert.equal(v?.["ok"], true, JSON.stringify(v));
  assert.deepEqual(await compareHosts(lab), [], "target identical to origin");
});

test("a row of the target changed after the ahead, in a group the origin did not touch and with the same count, fails the downtime's verification", () => {
  serving("t-refr3");
  const hot = lab.bm(["hot-sync", ...ORIGIN, "-q"]);
  assert.equal(hot.code, 0, hot.stderr + hot.stdout);
  // On a terminal (a pty of util-linux's script), answered no: the verification ahead, no downtime.
  const first = lab.exec("target", ["script", "-qfec", `${BIN} run ${ORIGIN.join(" ")}`, "/dev/null"], {
    input: "n\n",
    timeoutMs: 600_000,
  });
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /Stopped before the downtime/);
  assert.equal(aheadRecords().length, 1, "the verification ahead is made");
  // The first row of the mailbox records (the writer appends at the end): same count, other flags.
  // Nothing on the origin changes its group, so only the target's own row versions can tell.
  onStaging(
    // One message of one folder (4.x's t_mailbox_record has no key; imap_uid % 53 = 7 are the lab's stored-twice rows).
    "UPDATE t_mailbox_record SET other_flags = coalesce(other_flags, '{}') || '{planted}'::text[] WHERE item_id = (SELECT min(item_id) FROM t_mailbox_record WHERE imap_uid % 53 <> 7)",
  );
  const r = runToVerify("100000");
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.equal(aheadRecords().length, 1, "no refresh: the downtime relies on the ahead itself");
  const v = journal(lab)
    .filter((x) => x["type"] === "verify-result")
    .at(-1);
  assert.equal(v?.["scope"], "changed");
  assert.equal(v?.["ok"], false);
  assert.match(r.stdout, /bj-data: table public\.t_mailbox_record.*content differs in 1 group/);
  assert.match(r.stdout, /nothing is swapped/);
});
