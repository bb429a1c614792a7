// BlueMind's real 4.x schema (the lab's own, lab/schema/bluemind-4.sql) migrated end to end, with
// BlueMind's database setting TimeZone = 'GMT' and a hardened ACL (CONNECT revoked from PUBLIC). `check`
// reads the calendar's time zone names and blocks on one the target lacks; another session's
// temporary sequence and pg_repack's log table leave the delta a delta; an enum label renamed after
// the first hot pass (no row version written, yet the rows' text changes) is carried; and verify
// finds the exact copy equal, object names longer than 63 bytes included.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { compareHosts, labForTests, ORIGIN, timedBm } from "./support.js";

let lab: Lab;

/** SQL on a host's bj-data as bj, BlueMind's own role. */
const asBj = (role: "origin" | "target", sql: string) =>
  lab.exec(
    role,
    ["bash", "-c", "PGPASSWORD=bj psql -X -q -At -v ON_ERROR_STOP=1 -h localhost -U bj -d bj-data"],
    { input: `${sql}\n` },
  );
const onOrigin = (sql: string): string => {
  const r = asBj("origin", sql);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
};
const asPostgres = (role: "origin" | "target", sql: string): string =>
  lab
    .must(role, `runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -d bj-data <<'SQL'\n${sql}\nSQL`)
    .trim();

/** Another session on the origin, kept open (psql reading a fifo held by a sleeping writer). */
const FIFO = "/root/schema-session.fifo";
const SLEEPER = "/root/schema-session.pid";
/** The writer ends (by its pid), so does psql at the end of its input, and its temporary objects. */
function endSession(): void {
  lab?.sh("origin", `[ -f ${SLEEPER} ] && kill "$(cat ${SLEEPER})"; rm -f ${FIFO} ${SLEEPER}`);
}

labForTests(
  "t-schema",
  { scale: 1 },
  (l) => {
    lab = l;
    asPostgres(
      "origin",
      `ALTER DATABASE "bj-data" SET TimeZone = 'GMT';
       REVOKE CONNECT ON DATABASE "bj-data" FROM PUBLIC;
       CREATE SCHEMA repack AUTHORIZATION bj;`,
    );
    onOrigin(
      `INSERT INTO t_calendar_vevent (dtstart_timestamp, dtstart_timezone, dtstart_precision, transparency)
       VALUES ('2026-12-01 10:00', 'US/Eastern', 'DateTime', 'Opaque'), ('2026-12-02 10:00', 'Europe/Paris', 'Date', 'Transparent');`,
    );
  },
  endSession,
);

test("a calendar time zone the target's PostgreSQL lacks blocks check, naming the rows and tzdata-legacy", () => {
  // As on Debian 13 without tzdata-legacy: the legacy link is gone from the target's tzdata.
  lab.must("target", "mv /usr/share/zoneinfo/US/Eastern /root/US-Eastern.hidden");
  try {
    const r = timedBm(lab, ["check", ...ORIGIN]);
    assert.equal(r.code, 3, r.out);
    assert.match(r.out, /lacks time zone US\/Eastern, which the origin's rows use: the restore would fail/);
    assert.match(r.out, /US\/Eastern: 1 row in t_calendar_vevent\.dtstart_timezone/);
    assert.match(r.out, /apt-get install tzdata-legacy/);
  } finally {
    lab.must("target", "mv /root/US-Eastern.hidden /usr/share/zoneinfo/US/Eastern");
  }
  const again = timedBm(lab, ["check", ...ORIGIN]);
  assert.doesNotMatch(again.out, /lacks time zone/);
});

test("the real schema migrates: settings, ACL and a renamed enum label carried, temporary and pg_repack objects ignored, verify finds 0 differences", async () => {
  let r = timedBm(lab, ["hot-sync", ...ORIGIN]);
  assert.equal(r.code, 0, r.out);
  // Another session's temporary sequence, and pg_repack at work on a table (its log table, the
  // type of the key, the new table), while the next pass runs.
  lab.must(
    "origin",
    `rm -f ${FIFO}; mkfifo ${FIFO}
sleep 86400 > ${FIFO} 2>/dev/null </dev/null & echo $! > ${SLEEPER}
(PGPASSWORD=bj psql -X -q -h localhost -U bj -d bj-data < ${FIFO} > /root/schema-session.log 2>&1 &)
printf '%s\\n' 'CREATE TEMP SEQUENCE other_session_seq;' > ${FIFO}`,
  );
  onOrigin(`CREATE TYPE repack.pk_16400 AS (id bigint);
    CREATE TABLE repack.log_16400 (id bigserial PRIMARY KEY, pk repack.pk_16400, row text);
    INSERT INTO repack.log_16400 (row) VALUES ('replayed later');`);
  r = timedBm(lab, ["hot-sync", ...ORIGIN]);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /full copy instead of a delta/, "neither makes the pass a full copy");
  endSession();
  // No row version written, and every Opaque row reads otherwise from now on.
  onOrigin("ALTER TYPE t_calendar_transparency RENAME VALUE 'Opaque' TO 'Busy';");
  r = timedBm(lab, ["cold-sync", "--yes", ...ORIGIN]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /bj-data: full copy instead of a delta/, "the changed schema is copied in full");
  const v = timedBm(lab, ["verify", ...ORIGIN]);
  assert.equal(v.code, 0, v.out);
  assert.doesNotMatch(v.out, /definition differs/);

  assert.equal(
    asPostgres("target", "SELECT transparency FROM t_calendar_vevent ORDER BY dtstart_timestamp LIMIT 1;"),
    "Busy",
  );
  assert.equal(
    asPostgres(
      "target",
      `SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = 0
          AND setdatabase = (SELECT oid FROM pg_database WHERE datname = 'bj-data');`,
    ),
    "TimeZone=GMT",
  );
  assert.equal(
    asPostgres("target", "SELECT has_database_privilege('public', 'bj-data', 'CONNECT');"),
    "f",
    "CONNECT stays revoked from PUBLIC",
  );
  assert.deepEqual(await compareHosts(lab), [], "the lab's own comparison finds the target equal");
});
