/**
 * Lab stand-in for BlueMind's core REST API, started by the lab's `bmctl start` inside a lab host.
 * The API itself is the tests' fake core (test/fakes/fakeCore.ts), which listens on loopback; this
 * process puts it on 0.0.0.0:8090 like bm-core, with the admin0 key of /etc/bm/bm-core.tok, and
 * appends every call it answered to /var/log/bm-lab-core.calls.jsonl (the key replaced by a
 * marker) so that lab tests can see what `bm-migrate post` asked for.
 *
 * mynetworks starts as the server's system configuration has it (t_systemconf in `bj`, when the
 * lab has data) and a change made through the API is written back there, as BlueMind would.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { FakeCore } from "../../test/fakes/fakeCore.js";

const PORT = Number(process.env["BM_LAB_CORE_PORT"] ?? 8090);
const CALLS_LOG = process.env["BM_LAB_CORE_CALLS"] ?? "/var/log/bm-lab-core.calls.jsonl";
const TOKEN_FILE = "/etc/bm/bm-core.tok";

/** A query on this host's `bj` as postgres; undefined when the database or table is not there. */
function psql(sql: string): string | undefined {
  const r = spawnSync("runuser", ["-u", "postgres", "--", "psql", "-X", "-qAt", "-d", "bj"], {
    input: sql,
    encoding: "utf8",
    timeout: 15_000,
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const sqlLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

function storedMynetworks(): string | undefined {
  const v = psql(
    "SELECT configuration->'mynetworks' FROM t_systemconf WHERE configuration ? 'mynetworks' LIMIT 1",
  );
  return v ? v : undefined;
}

function storeMynetworks(value: string): void {
  psql(`UPDATE t_systemconf SET configuration = configuration || hstore('mynetworks', ${sqlLiteral(value)})`);
}

async function main(): Promise<void> {
  const token = readFileSync(TOKEN_FILE, "utf8").trim();
  const mynetworks = storedMynetworks();
  const core = await new FakeCore({
    coreToken: token,
    pollsToFinish: 2,
    ...(mynetworks ? { values: { mynetworks } } : {}),
  }).start();
  const backend = new URL(core.url);
  let logged = 0;

  /** Append the calls the fake core has answered since the last time. */
  const flush = (): void => {
    while (logged < core.calls.length) {
      const c = core.calls[logged]!;
      if (c.status === 0) break; // still being answered
      logged++;
      const apiKey = c.apiKey === undefined ? undefined : c.apiKey === token ? "<bm-core.tok>" : "<other>";
      const line = { t: new Date().toISOString(), ...c, ...(apiKey ? { apiKey } : {}) };
      appendFileSync(CALLS_LOG, JSON.stringify(line) + "\n");
      if (c.method === "POST" && c.path === "/api/configuration" && c.status < 300) {
        const v = core.values["mynetworks"];
        if (v !== undefined) storeMynetworks(v);
      }
    }
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = request(
      {
        host: backend.hostname,
        port: backend.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("end", flush);
      },
    );
    up.on("error", (err) => {
      res.writeHead(502).end(String(err));
    });
    req.pipe(up);
  };

  const server = createServer(forward);
  server.listen(PORT, "0.0.0.0", () => {
    process.stdout.write(`lab core stand-in on 0.0.0.0:${PORT} (fake core at ${core.url})\n`);
  });
  const stop = (): void => {
    flush();
    server.close();
    void core.stop().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`lab core stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
