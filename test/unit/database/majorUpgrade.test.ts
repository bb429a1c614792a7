// Copies across PostgreSQL major versions: what the load leaves out of a dump of a server older
// than 15, and what verify accepts, and only that.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  crossesPublicSchemaChange,
  majorOf,
  normalisedInWords,
  PUBLIC_SCHEMA_FILTER,
} from "../../../src/database/majorUpgrade.js";
import type { DbManifest } from "../../../src/database/manifest.js";
import { compareDbManifests } from "../../../src/verify/dbCompare.js";

test("major versions from server_version_num, and which copies cross public's change of owner", () => {
  assert.equal(majorOf(130016), 13);
  assert.equal(majorOf(170002), 17);
  assert.equal(majorOf(90624), 9);
  assert.ok(crossesPublicSchemaChange(13, 15));
  assert.ok(crossesPublicSchemaChange(13, 17));
  assert.ok(!crossesPublicSchemaChange(15, 17), "15 and 17 make public alike");
  assert.ok(!crossesPublicSchemaChange(13, 13));
  assert.deepEqual(normalisedInWords(15, 17), []);
  assert.match(normalisedInWords(13, 15)[0]!, /schema public.*PostgreSQL 15.*pg_database_owner/);
});

/** What pg_dump 15 writes for a PostgreSQL 13 database, trimmed, with rows that look like statements. */
const DUMP = `SET client_encoding = 'UTF8';
ALTER SCHEMA public OWNER TO postgres;
COMMENT ON SCHEMA public IS 'standard public schema';
CREATE TABLE public.t_note (id integer NOT NULL, body text);
ALTER TABLE public.t_note OWNER TO bj;
COPY public.t_note (id, body) FROM stdin;
1\tALTER SCHEMA public OWNER TO postgres;
2\tplain
GRANT ALL ON SCHEMA public TO PUBLIC;
\\.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM postgres;
GRANT ALL ON SCHEMA public TO postgres;
GRANT ALL ON SCHEMA public TO PUBLIC;
GRANT SELECT ON TABLE public.t_note TO reader;
`;

test("the load leaves out public's owner and grants, never a row of COPY data", () => {
  const r = spawnSync("awk", [PUBLIC_SCHEMA_FILTER], { input: DUMP, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stdout,
    `SET client_encoding = 'UTF8';
COMMENT ON SCHEMA public IS 'standard public schema';
CREATE TABLE public.t_note (id integer NOT NULL, body text);
ALTER TABLE public.t_note OWNER TO bj;
COPY public.t_note (id, body) FROM stdin;
1\tALTER SCHEMA public OWNER TO postgres;
2\tplain
GRANT ALL ON SCHEMA public TO PUBLIC;
\\.
GRANT SELECT ON TABLE public.t_note TO reader;
`,
  );
});

const manifest = (major: number, publicOwner: string, publicGrants: string, tableOwner = "bj"): DbManifest =>
  new Map<string, Record<string, unknown>>([
    ["server\x1fpostgresql", { major }],
    ["schema\x1fpublic", { owner: publicOwner, grants: publicGrants }],
    ["table\x1fpublic.t_note", { owner: tableOwner, grants: "", definition: "abc" }],
  ]);
const PG13 = ["postgres", "{postgres=UC/postgres,=UC/postgres}"] as const;
const PG15 = ["pg_database_owner", "{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}"] as const;

test("verify accepts public's owner and grants as each version makes them, and says so", () => {
  const r = compareDbManifests("bj", manifest(13, ...PG13), manifest(15, ...PG15));
  assert.deepEqual(r.differences, []);
  assert.equal(r.normalised.length, 1);
  assert.match(
    r.normalised[0]!,
    /^bj: schema public: owner postgres .* on PostgreSQL 13, pg_database_owner .* on 15/,
  );
  // 13 → 17 alike; a NULL ACL is the default too.
  assert.deepEqual(
    compareDbManifests("bj", manifest(13, "postgres", ""), manifest(17, ...PG15)).differences,
    [],
  );
});

test("verify still catches what no version implies", () => {
  // The same version: public's owner must match.
  const same = compareDbManifests("bj", manifest(13, ...PG13), manifest(13, PG13[0], ""));
  assert.deepEqual(
    same.differences.map((d) => d.what),
    ["grants differs: {postgres=UC/postgres,=UC/postgres} vs (none)"],
  );
  assert.deepEqual(same.normalised, []);
  // Across versions, public granted beyond the target version's default is a difference.
  const wide = compareDbManifests(
    "bj",
    manifest(13, ...PG13),
    manifest(15, "pg_database_owner", "{pg_database_owner=UC/pg_database_owner,=UC/pg_database_owner}"),
  );
  assert.ok(wide.differences.some((d) => /^grants differs/.test(d.what)));
  assert.deepEqual(wide.normalised, []);
  // A BlueMind table with another owner is a difference whatever the versions.
  const owner = compareDbManifests("bj", manifest(13, ...PG13), manifest(15, ...PG15, "postgres"));
  assert.deepEqual(
    owner.differences.map((d) => `${d.where}: ${d.what}`),
    ["bj: table public.t_note: owner differs: bj vs postgres"],
  );
  assert.equal(owner.normalised.length, 1);
});

test("from 17 on, ALL on a table or view includes MAINTAIN: accepted onto 17, not onto 15", () => {
  const view = (major: number, grants: string): DbManifest =>
    new Map<string, Record<string, unknown>>([
      ["server\x1fpostgresql", { major }],
      ["view\x1fpublic.v_user", { owner: "bj", grants, definition: "d" }],
    ]);
  const r = compareDbManifests("bj", view(15, "{bj=arwdDxt/bj,=r/bj}"), view(17, "{bj=arwdDxtm/bj,=r/bj}"));
  assert.deepEqual(r.differences, []);
  assert.match(
    r.normalised[0]!,
    /view public\.v_user: grants .* on PostgreSQL 15 are \{bj=arwdDxtm\/bj,=r\/bj\} on 17/,
  );
  // A grant that is not ALL does not gain MAINTAIN: SELECT for all stays SELECT.
  const wider = compareDbManifests(
    "bj",
    view(15, "{bj=arwdDxt/bj,=r/bj}"),
    view(17, "{bj=arwdDxtm/bj,=rm/bj}"),
  );
  assert.equal(wider.differences.length, 1);
  assert.deepEqual(wider.normalised, []);
  // Between two releases that agree, the same ACLs must be equal.
  assert.equal(
    compareDbManifests("bj", view(17, "{bj=arwdDxt/bj}"), view(17, "{bj=arwdDxtm/bj}")).differences.length,
    1,
  );
});
