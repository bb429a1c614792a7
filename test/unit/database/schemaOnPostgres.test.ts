// The schema comparison against a real PostgreSQL (a scratch cluster of this machine's server, as
// root, removed afterwards): BlueMind's real schema, assembled from its source (every plugin's
// sqlschema/sql file at the pinned 4.x and 5.1 commits of the source mirror, loaded in rounds until
// each file's dependencies exist; pg_repack.sql needs the extension, absent here), copied by
// pg_dump | psql, must compare equal; and what the delta cannot carry must change the fingerprint.
// Skipped where there is no PostgreSQL server, no root, or no source mirror.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readDbManifest, SCHEMA_SQL, type PsqlAccess } from "../../../src/database/manifest.js";
import {
  BLUEMIND_COMMITS,
  BLUEMIND_MIRROR,
  blueMindSchemaFiles,
  loadInRounds,
} from "../../../lab/bluemindSchema.js";
import { compareDbManifests } from "../../../src/verify/dbCompare.js";
import { FINGERPRINT_SQL, SEQUENCES_SQL } from "../../../src/phases/databaseDelta.js";
import {
  DATABASE_PROPERTIES_SQL,
  databasePropertiesSql,
  parseDatabaseProperties,
} from "../../../src/database/properties.js";

const PG_BIN = existsSync("/usr/lib/postgresql")
  ? readdirSync("/usr/lib/postgresql")
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
      .find((d) => existsSync(`${d}/initdb`))
  : undefined;
const skip = !PG_BIN || process.getuid?.() !== 0 ? "needs a PostgreSQL server and root" : false;
const skipSchema = skip || (!existsSync(BLUEMIND_MIRROR) ? "needs BlueMind's source mirror" : false);

let dir = "";
const PORT = 55000 + (process.pid % 400);
const access = (): PsqlAccess => ({
  label: "scratch",
  command: ["runuser", "-u", "postgres", "--", "psql"],
  connection: ["-h", join(dir, "sock"), "-p", String(PORT)],
});

function psql(db: string, sql: string): string {
  const r = spawnSync(
    "runuser",
    [
      "-u",
      "postgres",
      "--",
      "psql",
      "-X",
      "-q",
      "-At",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      join(dir, "sock"),
      "-p",
      String(PORT),
      "-d",
      db,
    ],
    { input: sql, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`psql ${db}: ${r.stderr}`);
  return r.stdout.trim();
}

before(() => {
  if (skip) return;
  dir = mkdtempSync("/tmp/bm-schema-test-");
  chownSync(dir, spawnUid("postgres"), 0);
  const asPg = (cmd: string, args: string[]) => {
    const r = spawnSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/${cmd}`, ...args], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  asPg("initdb", ["-D", join(dir, "data"), "-A", "trust", "-E", "UTF8", "--locale=C"]);
  spawnSync("runuser", ["-u", "postgres", "--", "mkdir", join(dir, "sock")]);
  asPg("pg_ctl", [
    "-D",
    join(dir, "data"),
    "-l",
    join(dir, "log"),
    "-w",
    "-o",
    `-c listen_addresses='' -c unix_socket_directories=${join(dir, "sock")} -p ${PORT} -c fsync=off`,
    "start",
  ]);
  psql("postgres", "CREATE ROLE bj SUPERUSER LOGIN; CREATE ROLE reader LOGIN;");
});

after(() => {
  if (skip || !dir) return;
  spawnSync("runuser", [
    "-u",
    "postgres",
    "--",
    `${PG_BIN}/pg_ctl`,
    "-D",
    join(dir, "data"),
    "-m",
    "immediate",
    "stop",
  ]);
  rmSync(dir, { recursive: true, force: true });
});

function spawnUid(user: string): number {
  return Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
}

/** BlueMind's schema at `commit` loaded into a new database `db` (owner bj, as its install does). */
function loadBlueMindSchema(commit: string, db: string): void {
  psql("postgres", `CREATE DATABASE "${db}" OWNER bj`);
  const left = loadInRounds(blueMindSchemaFiles(commit), (sql) => {
    try {
      psql(db, sql);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(left, [], "every schema file loads");
}

/** pg_dump | psql into a new database with the origin's properties, as the staging copy is made. */
function copyDatabase(from: string, to: string): void {
  psql("postgres", `CREATE DATABASE "${to}" OWNER bj TEMPLATE template0`);
  const props = parseDatabaseProperties(psql(from, DATABASE_PROPERTIES_SQL));
  const given = databasePropertiesSql(to, "bj", props);
  if (given) psql("postgres", given);
  const dump = spawnSync(
    "runuser",
    ["-u", "postgres", "--", `${PG_BIN}/pg_dump`, "-h", join(dir, "sock"), "-p", String(PORT), "-d", from],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  assert.equal(dump.status, 0, dump.stderr);
  psql(to, dump.stdout);
}

async function differences(a: string, b: string, sql = SCHEMA_SQL): Promise<string[]> {
  const [o, t] = await Promise.all([
    readDbManifest(access(), a, undefined, sql),
    readDbManifest(access(), b, undefined, sql),
  ]);
  assert.equal(o.kind, "ok");
  assert.equal(t.kind, "ok");
  if (o.kind !== "ok" || t.kind !== "ok") return [];
  // The scratch copies have other names than their origins: the database record under one name.
  for (const m of [o.manifest, t.manifest])
    for (const [k, v] of [...m])
      if (k.startsWith("database\x1f")) {
        m.delete(k);
        m.set("database\x1fbj", v);
      }
  return compareDbManifests(a, o.manifest, t.manifest).differences.map((d) => `${d.where}: ${d.what}`);
}

const fingerprint = (db: string): string => psql(db, FINGERPRINT_SQL);

for (const [release, commit] of Object.entries(BLUEMIND_COMMITS))
  void test(
    `an exact copy of BlueMind ${release}'s real schema compares equal: whole names, nothing cut to 63 bytes`,
    { skip: skipSchema, timeout: 600_000 },
    async () => {
      const origin = `bm${release}`;
      loadBlueMindSchema(commit, origin);
      // BlueMind's install sets the database's time zone (install_bmdb_pgsql_0.sh).
      psql("postgres", `ALTER DATABASE "${origin}" SET TimeZone = 'GMT'`);
      copyDatabase(origin, `${origin}-copy`);
      assert.deepEqual(await differences(origin, `${origin}-copy`), []);
      // Twice: the same on every run.
      assert.deepEqual(await differences(origin, `${origin}-copy`), []);
    },
  );

void test(
  "a renamed enum label and a new composite attribute change the fingerprint and are named",
  { skip },
  async () => {
    psql("postgres", 'CREATE DATABASE "types" OWNER bj');
    psql(
      "types",
      "CREATE TYPE e_state AS ENUM ('Opaque', 'Transparent'); CREATE TYPE c_pair AS (a int); CREATE TABLE t (s e_state, p c_pair); INSERT INTO t VALUES ('Opaque', ROW(1));",
    );
    copyDatabase("types", "types-copy");
    assert.deepEqual(await differences("types", "types-copy"), []);
    const before = fingerprint("types");
    // Neither writes a row version: the rows' text changes all the same.
    psql("types", "ALTER TYPE e_state RENAME VALUE 'Opaque' TO 'Busy'");
    const renamed = fingerprint("types");
    assert.notEqual(renamed, before, "the delta must see the schema change and copy in full");
    assert.deepEqual(await differences("types", "types-copy"), [
      "types: type public.e_state: definition differs",
      "types: type public.e_state: labels differs: Busy,Transparent vs Opaque,Transparent",
    ]);
    psql("types", "ALTER TYPE c_pair ADD ATTRIBUTE b int");
    assert.notEqual(fingerprint("types"), renamed);
    assert.ok(
      (await differences("types", "types-copy")).includes("types: type public.c_pair: definition differs"),
    );
  },
);

void test(
  "database settings and a revoked CONNECT are carried to the copy and compared",
  { skip },
  async () => {
    psql("postgres", 'CREATE DATABASE "hardened" OWNER bj');
    psql(
      "postgres",
      `ALTER DATABASE hardened SET TimeZone = 'GMT'; ALTER DATABASE hardened SET search_path = "$user", public;
     ALTER ROLE reader IN DATABASE hardened SET work_mem = '8MB';
     REVOKE CONNECT ON DATABASE hardened FROM PUBLIC; GRANT CONNECT ON DATABASE hardened TO reader;`,
    );
    copyDatabase("hardened", "hardened-copy");
    assert.deepEqual(await differences("hardened", "hardened-copy"), []);
    psql("postgres", `CREATE DATABASE "plain-copy" OWNER bj`);
    const plain = await differences("hardened", "plain-copy");
    assert.ok(
      plain.some((d) => /database bj: grants differs: .*reader=c\/bj/.test(d)),
      plain.join("\n"),
    );
    assert.ok(
      plain.some((d) => /database bj: settings differs: TimeZone=GMT/.test(d)),
      plain.join("\n"),
    );
    assert.ok(
      plain.some((d) => /database bj: role settings differs: reader:work_mem=8MB/.test(d)),
      plain.join("\n"),
    );
    const before = fingerprint("hardened");
    psql("postgres", "ALTER DATABASE hardened SET DateStyle = 'ISO, DMY'");
    assert.notEqual(fingerprint("hardened"), before, "a changed setting makes the next pass a full copy");
  },
);

void test(
  "another session's temporary sequence and pg_repack's log table are ignored",
  { skip },
  async () => {
    psql("postgres", 'CREATE DATABASE "busy" OWNER bj');
    // pg_repack's schema and trigger function are its extension's (members, so left out as the
    // extension's); made by hand here, before the fingerprint is taken.
    psql(
      "busy",
      `CREATE TABLE t_mailbox_record (id bigint PRIMARY KEY); CREATE SEQUENCE s;
     CREATE SCHEMA repack; CREATE FUNCTION repack.repack_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';`,
    );
    const before = fingerprint("busy");
    const session: ChildProcess = spawn(
      "runuser",
      ["-u", "postgres", "--", "psql", "-X", "-q", "-h", join(dir, "sock"), "-p", String(PORT), "-d", "busy"],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    try {
      session.stdin!.write(
        "CREATE TEMP SEQUENCE other_session_seq; CREATE TEMP TABLE other_session_t (a int); SELECT 'ready';\n",
      );
      await new Promise<void>((resolve) =>
        session.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()),
      );
      // pg_repack at work (its lib/pg_repack.sql.in and regression test repack-check): the type of
      // the key, the log table with its sequence, the new table and its index, the trigger.
      psql(
        "busy",
        `CREATE TYPE repack.pk_16400 AS (id bigint);
       CREATE TABLE repack.log_16400 (id bigserial PRIMARY KEY, pk repack.pk_16400, row t_mailbox_record);
       CREATE TABLE repack.table_16400 AS SELECT * FROM t_mailbox_record; CREATE INDEX index_16401 ON repack.table_16400 (id);
       CREATE TRIGGER repack_trigger AFTER INSERT OR DELETE OR UPDATE ON t_mailbox_record FOR EACH ROW EXECUTE PROCEDURE repack.repack_trigger();`,
      );
      assert.equal(fingerprint("busy"), before, "neither changes the schema's fingerprint");
      const m = await readDbManifest(access(), "busy");
      assert.equal(m.kind, "ok");
      if (m.kind === "ok")
        assert.deepEqual(
          [...m.manifest.keys()]
            .map((k) => k.replace("\x1f", " "))
            .filter((k) => /pg_temp|other_session|_1640[01]|^trigger .*repack_trigger/.test(k)),
          [],
        );
      assert.equal(psql("busy", SEQUENCES_SQL), "public.s", "the delta reads no other session's sequence");
    } finally {
      // psql ends at the end of its input, and the session's temporary objects with it.
      const exited = new Promise((resolve) => session.once("exit", resolve));
      session.stdin!.end();
      await exited;
    }
  },
);
