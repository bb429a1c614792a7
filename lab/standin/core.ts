/**
 * Lab stand-in for BlueMind's core (bm-core), started by the lab's `bmctl start` inside a lab host.
 * The API is the fake core of the tests (test/fakes/fakeCore.ts, where each behaviour names its
 * source in BlueMind's code), listening like bm-core on 0.0.0.0:8090, for the BlueMind version the
 * lab host was given (the bm-core package's version: 4.x has the public firewall endpoint, 5.x the
 * internal one only), with this host's facts:
 * - the admin0 key of /etc/bm/bm-core.tok, trimmed; 4.x reads it at start, 5.x again whenever it
 *   changes (net.bluemind.config/Token.java);
 * - mynetworks from t_systemconf in `bj` (written back there on a save, as BlueMind keeps it); the
 *   sanitizer adds the t_server addresses and this host's IPv4 interface addresses, read at each
 *   save (MyNetworksSanitizor.java);
 * - the postfix maps of /etc/postfix, rebuilt after a mail maintenance with BlueMind's 10 s
 *   throttle (DirtyMapEvent.java), each rebuild taking BM_LAB_MAP_REBUILD_MS (default 1500 ms, a
 *   stand-in for refreshMaps writing every map and running postmap), logged to /var/log/bm/core.log
 *   ("Updating postfix maps", "Postfix maps updated (N ms)").
 * Every call answered is appended to /var/log/bm-lab-core.calls.jsonl (the key replaced by a
 * marker) so that lab tests can see what `bm-migrate post` asked for.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { FakeCore } from "../../test/fakes/fakeCore.js";

const PORT = Number(process.env["BM_LAB_CORE_PORT"] ?? 8090);
const CALLS_LOG = process.env["BM_LAB_CORE_CALLS"] ?? "/var/log/bm-lab-core.calls.jsonl";
const TOKEN_FILE = "/etc/bm/bm-core.tok";

function run(cmd: string, args: string[], input?: string): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 15_000, ...(input ? { input } : {}) });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A query on this host's `bj` as postgres; undefined when the database or table is not there. */
const psql = (sql: string): string | undefined =>
  run("runuser", ["-u", "postgres", "--", "psql", "-X", "-qAt", "-d", "bj"], sql);

const sqlLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

const readToken = (): string => readFileSync(TOKEN_FILE, "utf8").trim();

function main(): void {
  const version = run("dpkg-query", ["-W", "-f=${Version}", "bm-core"]) || "4.1.56";
  const mynetworks = psql(
    "SELECT configuration->'mynetworks' FROM t_systemconf WHERE configuration ? 'mynetworks' LIMIT 1",
  );
  let token = readToken();
  mkdirSync("/var/log/bm", { recursive: true });
  const core = new FakeCore({
    version,
    coreToken: token,
    pollsToFinish: 2,
    ...(mynetworks ? { values: { mynetworks } } : {}),
    serverAddresses: () =>
      (psql("SELECT ip FROM t_server WHERE ip IS NOT NULL") ?? "").split("\n").filter(Boolean),
    localAddresses: () =>
      (run("ip", ["-4", "-o", "addr", "show"]) ?? "")
        .split("\n")
        .map((l) => /\sinet (\d+\.\d+\.\d+\.\d+)\//.exec(l)?.[1])
        .filter((a): a is string => Boolean(a)),
    mapsDir: "/etc/postfix",
    mapRebuildMs: Number(process.env["BM_LAB_MAP_REBUILD_MS"] ?? 1500),
    mapThrottleMs: 10_000,
    logFile: "/var/log/bm/core.log",
    onConfigurationSaved: (values) => {
      const v = values["mynetworks"];
      if (v !== undefined)
        psql(
          `UPDATE t_systemconf SET configuration = configuration || hstore('mynetworks', ${sqlLiteral(v)})`,
        );
    },
    onCall: (c) => {
      const apiKey = c.apiKey === undefined ? undefined : c.apiKey === token ? "<bm-core.tok>" : "<other>";
      const line = { t: new Date(c.at).toISOString(), ...c, ...(apiKey ? { apiKey } : {}) };
      appendFileSync(CALLS_LOG, JSON.stringify(line) + "\n");
    },
  });
  if (core.major >= 5)
    setInterval(() => {
      try {
        const t = readToken();
        if (t && t !== token) {
          token = t;
          core.setCoreToken(t);
        }
      } catch {
        // a file being replaced: next time
      }
    }, 1000).unref();
  void core.start(PORT, "0.0.0.0").then(() => {
    writeFileSync("/run/bm-core.pid", `${process.pid}\n`);
    process.stdout.write(`lab core stand-in (BlueMind ${version}) on 0.0.0.0:${PORT}\n`);
  });
  const stop = (): void => {
    void core.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

try {
  main();
} catch (err: unknown) {
  process.stderr.write(`lab core stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
