/**
 * How long the schema's records take to read (database/manifest.ts: what verify compares, and the
 * fingerprint the delta checks in the downtime) on BlueMind's real schema, 4.x (664 tables, 1,797
 * indexes) and 5.1 (917 tables, 6,472 indexes), in a scratch PostgreSQL cluster of this machine
 * (lab/scratchPostgres.ts; as root). Each figure is the median of N runs, measured inside the
 * server (psql's \timing of the statement alone), so psql's start does not count.
 *
 *   node --import tsx bench/schemaManifest.ts [--runs N]
 */
import { parseArgs } from "node:util";
import { SCHEMA_SQL } from "../src/database/manifest.js";
import { FINGERPRINT_SQL } from "../src/phases/databaseDelta.js";
import { BLUEMIND_SCHEMAS } from "../lab/bluemindSchema.js";
import { startScratchPostgres } from "../lab/scratchPostgres.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "7" } } });
const runs = Number(values.runs);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pg = startScratchPostgres();
try {
  console.log(
    "| release | tables | indexes | records | schema query, ms (median) | fingerprint, ms (median) |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [release, version] of Object.entries(BLUEMIND_SCHEMAS)) {
    const db = `bm${release}`;
    pg.loadBlueMind(version, db);
    const timed = (sql: string): number => {
      const out = pg.psql(db, `\\timing on\n${sql.trim().replace(/;$/, "")} \\g /dev/null\n`);
      return Number(/Time: ([\d.]+) ms/.exec(out)?.[1] ?? NaN);
    };
    const schema = Array.from({ length: runs }, () => timed(SCHEMA_SQL));
    const fingerprint = Array.from({ length: runs }, () => timed(FINGERPRINT_SQL));
    const [tables, indexes, records] = pg
      .psql(
        db,
        `SELECT (SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace),
                (SELECT count(*) FROM pg_class WHERE relkind IN ('i', 'I') AND relnamespace = 'public'::regnamespace),
                (SELECT count(*) FROM (${SCHEMA_SQL.trim().replace(/;$/, "")}) s)`,
      )
      .split("|");
    console.log(
      `| ${release} | ${tables} | ${indexes} | ${records} | ${median(schema).toFixed(0)} | ${median(fingerprint).toFixed(0)} |`,
    );
  }
} finally {
  pg.stop();
}
