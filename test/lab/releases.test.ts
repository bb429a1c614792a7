// A real change of distribution: each host runs a Debian release's own userland (lab/rootfs.sh,
// built once per machine with mmdebstrap), with that release's PostgreSQL: 11 "bullseye" has 13,
// 12 "bookworm" 15, 13 "trixie" 17. For each pair, the whole migration driven only through
// bin/bm-migrate on the target: check, two hot passes while the origin serves, cold sync, verify,
// the lab's own comparison, swap, post. Then verify must still catch a changed row, a dropped index
// and a changed table owner across the versions. bookworm → trixie runs without inotify-tools on
// the origin (every pass walks every file).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { differences, journal, manifest, ORIGIN } from "./support.js";
import type { Difference } from "../../lab/compare.js";

const RELEASES: Record<string, { debian: string; pg: number }> = {
  bullseye: { debian: "11", pg: 13 },
  bookworm: { debian: "12", pg: 15 },
  trixie: { debian: "13", pg: 17 },
};

interface Pair {
  name: string;
  origin: string;
  target: string;
  withoutInotify?: boolean;
}

const PAIRS: Pair[] = [
  { name: "rel1", origin: "bullseye", target: "bookworm" },
  { name: "rel2", origin: "bookworm", target: "trixie", withoutInotify: true },
  { name: "rel3", origin: "bullseye", target: "trixie" },
];

/** A table whose every column name has broken SQL built by hand once (the alias `x`, `r`, ...). */
const WEIRD_TABLE = `CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TABLE "Weird $table" (x int, r text, "select" int, "Mixed Case" text, "a,b" int,
  "with space" text, "$dollar$" text, "bm_verify_row" int, tags hstore, PRIMARY KEY (x, "a,b"));
INSERT INTO "Weird $table" SELECT i, 'r' || i, i * 2, 'M' || i, i % 7, 's p' || i, '$' || i, i,
  hstore('k', i::text) FROM generate_series(1, 300) i;
-- A grant (BlueMind's own schema makes none) writes the owner's ALL out in the ACL: on PostgreSQL 17
-- the owner's ALL includes MAINTAIN, which verify must accept as the versions imply.
GRANT SELECT ON TABLE "Weird $table" TO PUBLIC;`;

const bjData = (sql: string): string =>
  `PGPASSWORD=bj psql -X -q -v ON_ERROR_STOP=1 -h localhost -U bj -d bj-data <<'SQL'\n${sql}\nSQL`;
const asPostgres = (db: string, sql: string): string =>
  `runuser -u postgres -- psql -X -qAt -v ON_ERROR_STOP=1 -d ${db} <<'SQL'\n${sql}\nSQL`;

function timed(lab: Lab, args: string[]): { code: number | null; out: string; ms: number } {
  const t0 = Date.now();
  const r = lab.bm([...args, ...ORIGIN]);
  return { code: r.code, out: r.stderr + r.stdout, ms: Date.now() - t0 };
}

/**
 * The lab oracle's differences that a change of major version implies, each checked for its exact
 * form (everything else must be absent): schema public as each version makes it, each extension
 * (hstore, pg_stat_statements...) at the target's default version, ALL on a relation gaining
 * MAINTAIN on 17.
 */
function impliedByVersions(
  d: Difference,
  om: number,
  tm: number,
  defaultsOnTarget: ReadonlyMap<string, string>,
): boolean {
  if (/^db:[^/]+\/schema\/public$/.test(d.key) && om < 15 && tm >= 15) {
    if (d.field === "owner") return d.a === "postgres" && d.b === "pg_database_owner";
    if (d.field === "acl")
      return (
        d.a === "{postgres=UC/postgres,=UC/postgres}" &&
        d.b === "{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}"
      );
  }
  const ext = /^db:[^/]+\/extension\/(.+)$/.exec(d.key);
  if (ext && d.field === "version") return d.b === defaultsOnTarget.get(ext[1]!);
  if (d.field === "acl" && om < 17 && tm >= 17 && typeof d.a === "string")
    return d.a.replace(/=arwdDxt\//g, "=arwdDxtm/") === d.b;
  return false;
}

for (const pair of PAIRS) {
  const om = RELEASES[pair.origin]!.pg;
  const tm = RELEASES[pair.target]!.pg;
  void describe(`${pair.origin} (PostgreSQL ${om}) → ${pair.target} (PostgreSQL ${tm})${pair.withoutInotify ? ", no inotify-tools on the origin" : ""}`, () => {
    let lab: Lab;
    after(() => lab?.down());

    void test("a whole migration: check, hot syncs, cold sync, verify, the lab's comparison, swap, post", async (t) => {
      lab = Lab.up(pair.name, {
        scale: 1,
        originRelease: pair.origin,
        targetRelease: pair.target,
        ...(pair.withoutInotify ? { originWithoutInotify: true } : {}),
      });
      for (const [role, release] of [
        ["origin", pair.origin],
        ["target", pair.target],
      ] as const) {
        assert.match(
          lab.must(role, ". /etc/os-release; echo $VERSION_CODENAME"),
          new RegExp(`^${release}$`, "m"),
        );
        assert.match(
          lab.must(role, `runuser -u postgres -- psql -XAtc "show server_version_num"`),
          new RegExp(`^${RELEASES[release]!.pg}\\d{4}$`, "m"),
          `the ${role} runs ${release}'s own PostgreSQL`,
        );
      }
      assert.equal(lab.sh("origin", "command -v inotifywait").code, pair.withoutInotify ? 1 : 0);
      lab.must("origin", bjData(WEIRD_TABLE));

      const check = timed(lab, ["check"]);
      assert.equal(check.code, 0, check.out);
      assert.match(
        check.out,
        om === tm
          ? /same PostgreSQL major version/
          : new RegExp(`major upgrade ${om} → ${tm} by dump and restore`),
      );
      assert.match(
        check.out,
        new RegExp(`Debian GNU/Linux ${RELEASES[pair.origin]!.debian} \\(${pair.origin}\\)`),
      );
      assert.match(
        check.out,
        new RegExp(`Debian GNU/Linux ${RELEASES[pair.target]!.debian} \\(${pair.target}\\)`),
      );
      assert.match(check.out, /\[pg-extensions\] the extensions the origin's databases use are available/);
      if (pair.withoutInotify)
        assert.match(
          check.out,
          /\[origin-tools\] inotifywait is not installed on the origin .*every hot and cold pass will walk every file/,
        );

      const hot1 = timed(lab, ["hot-sync"]);
      assert.equal(hot1.code, 0, hot1.out);
      assert.match(hot1.out, new RegExp(`in full: .*PostgreSQL ${om} → ${tm}`));
      lab.must(
        "origin",
        bjData(`UPDATE "Weird $table" SET r = r || '!' WHERE x % 10 = 0;
INSERT INTO "Weird $table" SELECT i, 'new', i, 'N', 1, 'n', '$', i, hstore('n', 'v') FROM generate_series(301, 320) i;`),
      );
      const hot2 = timed(lab, ["hot-sync"]);
      assert.equal(hot2.code, 0, hot2.out);
      // Changed during the downtime: the cold pass copies these rows by their key, whatever the
      // columns are called (no fallback to groups of keys).
      lab.must(
        "origin",
        bjData(
          `UPDATE "Weird $table" SET "Mixed Case" = 'changed', tags = tags || hstore('c', '1') WHERE x BETWEEN 5 AND 9;`,
        ),
      );
      const cold = timed(lab, ["cold-sync", "--yes"]);
      assert.equal(cold.code, 0, cold.out);
      const done = journal(lab).filter((r) => r["phase"] === "cold-sync" && r["type"] === "step-done");
      const bjDataStep = done.find((r) => r["step"] === "database:bj-data")?.["data"] as
        { mode: string; copiedBy?: { rows: string[] } } | undefined;
      assert.equal(bjDataStep?.mode, "delta", cold.out);
      assert.ok(bjDataStep?.copiedBy?.rows.includes('public."Weird $table"'), JSON.stringify(bjDataStep));
      const downtime = journal(lab).findLast((r) => r["type"] === "downtime") as {
        ms: number;
        startedAt: string;
      };

      const verify = timed(lab, ["verify"]);
      assert.equal(verify.code, 0, verify.out);
      assert.match(verify.out, /Verified: the target holds what the origin holds/);
      const normalised = verify.out.match(/^ {2}bj(?:-data)?: .*$/gm) ?? [];
      if (om < 15)
        assert.ok(
          normalised.some((l) => /schema public: owner postgres/.test(l)),
          verify.out,
        );
      if (tm >= 17)
        assert.ok(
          normalised.some((l) => /MAINTAIN/.test(l)),
          verify.out,
        );
      // The target's public schema as its own version makes it for a database owned by bj.
      for (const db of ["bj", "bj-data"])
        assert.equal(
          lab
            .must(
              "target",
              asPostgres(
                db,
                "SELECT pg_get_userbyid(nspowner), nspacl FROM pg_namespace WHERE nspname = 'public'",
              ),
            )
            .trim(),
          "pg_database_owner|{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}",
        );

      // The lab's own comparison (independent of verify), with only what the versions imply.
      const defaultsOnTarget = new Map(
        lab
          .must(
            "target",
            asPostgres("postgres", "SELECT name || '|' || default_version FROM pg_available_extensions"),
          )
          .trim()
          .split("\n")
          .map((l) => l.split("|") as [string, string]),
      );
      const all = await differences(manifest(lab, "origin"), manifest(lab, "target"));
      const implied = all.filter((d) => impliedByVersions(d, om, tm, defaultsOnTarget));
      assert.deepEqual(
        all.filter((d) => !implied.includes(d)).map((d) => d.message),
        [],
        "the target holds what the origin holds",
      );

      // What verify must still catch across the versions: a changed row, a dropped index, a
      // BlueMind table owned by someone else. Each is put back afterwards.
      const index = lab
        .must("target", asPostgres("bj", "SELECT pg_get_indexdef('idx_t_directory_entry_kind'::regclass)"))
        .trim();
      const guid = lab
        .must(
          "target",
          asPostgres("bj-data", "SELECT encode(guid, 'hex') FROM t_message_body ORDER BY guid LIMIT 1"),
        )
        .trim();
      lab.must(
        "target",
        asPostgres(
          "bj-data",
          `UPDATE t_message_body SET size = size + 1 WHERE guid = decode('${guid}', 'hex')`,
        ),
      );
      lab.must(
        "target",
        asPostgres("bj", "DROP INDEX idx_t_directory_entry_kind; ALTER TABLE t_mailbox OWNER TO postgres"),
      );
      const caught = timed(lab, ["verify"]);
      assert.equal(caught.code, 1, caught.out);
      assert.match(caught.out, /bj-data: table public\.t_message_body: content differs/);
      assert.match(caught.out, /bj: index public\.idx_t_directory_entry_kind: missing on target/);
      assert.match(caught.out, /bj: table public\.t_mailbox: owner differs: bj vs postgres/);
      assert.match(caught.out, /Verification FAILED: 3 differences/);
      lab.must(
        "target",
        asPostgres(
          "bj-data",
          `UPDATE t_message_body SET size = size - 1 WHERE guid = decode('${guid}', 'hex')`,
        ),
      );
      lab.must("target", asPostgres("bj", `${index}; ALTER TABLE t_mailbox OWNER TO bj`));
      const again = timed(lab, ["verify"]);
      assert.equal(again.code, 0, again.out);

      const swap = timed(lab, ["swap", "--apply"]);
      assert.equal(swap.code, 0, swap.out);
      const post = lab.bm(["post"]);
      assert.equal(post.code, 0, post.stderr + post.stdout);
      assert.match(lab.must("target", "bmctl status"), /running/);
      const answered = journal(lab).findLast(
        (r) => r["phase"] === "swap" && r["step"] === "check:target" && r["type"] === "step-done",
      );
      assert.ok(answered, "the swap checked that BlueMind answers on the target");
      const swapStarted = journal(lab).findLast((r) => r["phase"] === "swap" && r["type"] === "pass-started");
      const swapMs = Date.parse(String(answered["t"])) - Date.parse(String(swapStarted?.["t"]));
      // The downtime as a user sees it when the phases follow each other (bm-migrate run): the
      // cold sync's own, the verification, and the swap until BlueMind answers on the target.
      t.diagnostic(
        `${pair.origin} → ${pair.target}: hot-sync ${hot1.ms} ms then ${hot2.ms} ms, cold-sync ${cold.ms} ms (downtime ${downtime.ms} ms), verify ${verify.ms} ms, swap until BlueMind answers ${swapMs} ms: downtime ${downtime.ms + verify.ms + swapMs} ms; verify accepted: ${normalised.map((l) => l.trim()).join(" | ") || "nothing"}; the lab's comparison accepted: ${implied.map((d) => d.message).join(" | ") || "nothing"}`,
      );
    });
  });
}
