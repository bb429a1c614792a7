/**
 * Once the target's core runs: BlueMind's own repairs of each domain (hollow.directory; on 5.x
 * domain.keycloak), through its REST API with the admin0 key of /etc/bm/bm-core.tok, each task
 * followed to its end (see src/bluemind/repairs.ts for the sources).
 */
import { readFileSync } from "node:fs";
import { JsonClient } from "../adapters/http.js";
import {
  API_KEY_HEADER,
  CORE_TOKEN_FILE,
  DEFAULT_CORE_URL,
  isTaskRef,
  isTaskStatus,
  taskEnded,
  taskStatus,
  type TaskStatus,
} from "../bluemind/api.js";
import type { RepairOp } from "../bluemind/profiles.js";
import {
  DOMAINS_ALL,
  domainRepair,
  domainsToRepair,
  repairByHand,
  repairConfig,
} from "../bluemind/repairs.js";
import { StepFailed } from "../engine/errors.js";
import type { Step } from "../engine/plan.js";

export interface RepairStepOptions {
  ops: RepairOp[];
  apiUrl?: string;
  tokenFile?: string;
  pollMs?: number;
  timeoutMs?: number;
}

export function repairStep(o: RepairStepOptions): Step {
  const apiUrl = o.apiUrl ?? DEFAULT_CORE_URL;
  const tokenFile = o.tokenFile ?? CORE_TOKEN_FILE;
  return {
    id: "repair:domains",
    title: `Have BlueMind repair every domain (${o.ops.join(", ")})`,
    host: "target",
    commands: [
      `GET ${apiUrl}${DOMAINS_ALL.path}`,
      `POST ${apiUrl}/api/directory/<domain>/<domain>/mgmt/_maintenance/repair {"opIdentifiers":${JSON.stringify(o.ops)}} (each domain), then GET /api/tasks/<id> until it ends`,
    ],
    async run(ctx) {
      let key: string;
      try {
        key = readFileSync(tokenFile, "utf8").trim();
      } catch (err) {
        throw new StepFailed(
          "repair:domains",
          `cannot read the admin0 key ${tokenFile}: ${(err as Error).message}`,
          {
            hint: `run the repairs by hand (${repairByHand(o.ops, "<domain>")}), or restore ${tokenFile}, then run the command again`,
          },
        );
      }
      const client = new JsonClient(apiUrl, {
        timeoutMs: 60_000,
        onRequest: (method, url) => ctx.logCommand("target", `${method} ${url}`),
      });
      client.setHeader(API_KEY_HEADER, key);
      const hint = (domain: string) =>
        `look at /var/log/bm/core.log on the target, run it by hand (${repairByHand(o.ops, domain)}), then run the command again`;
      const domains = domainsToRepair(
        await client.call({ ...DOMAINS_ALL, signal: ctx.signal }, "list the domains"),
      );
      const results: { domain: string; state: string; lastLogEntry?: string | null }[] = [];
      for (const domain of domains) {
        const ref = await client.call(
          { ...domainRepair(domain), body: repairConfig(o.ops), signal: ctx.signal },
          `repair ${o.ops.join(", ")} of ${domain}`,
        );
        if (!isTaskRef(ref))
          throw new StepFailed("repair:domains", `the repair of ${domain} answered no task reference`, {
            hint: hint(domain),
          });
        const status = await waitForTask(client, ref.id, ctx.signal, o.pollMs ?? 500, o.timeoutMs ?? 600_000);
        results.push({ domain, state: status.state, lastLogEntry: status.lastLogEntry ?? null });
        if (status.state !== "Success")
          throw new StepFailed(
            "repair:domains",
            `BlueMind's repair ${o.ops.join(", ")} of ${domain} ended ${status.state}: ${status.lastLogEntry ?? "no log"}`,
            { hint: hint(domain) },
          );
      }
      return {
        summary: domains.length
          ? `${o.ops.join(", ")} repaired on ${domains.length} domain(s): ${domains.join(", ")}`
          : "no domain to repair",
        data: { ops: o.ops, domains: results },
      };
    },
  };
}

async function waitForTask(
  client: JsonClient,
  id: string,
  signal: AbortSignal,
  pollMs: number,
  timeoutMs: number,
): Promise<TaskStatus> {
  const t0 = Date.now();
  for (;;) {
    const s = await client.call({ ...taskStatus(id), signal }, `follow task ${id}`);
    if (isTaskStatus(s) && taskEnded(s.state)) return s;
    if (signal.aborted) throw new StepFailed("repair:domains", "interrupted");
    if (Date.now() - t0 > timeoutMs)
      throw new StepFailed(
        "repair:domains",
        `BlueMind's task ${id} did not end within ${Math.round(timeoutMs / 1000)} s`,
        {
          hint: `follow it with GET /api/tasks/${id}, then run the command again`,
        },
      );
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
