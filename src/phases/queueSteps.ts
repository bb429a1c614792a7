/**
 * The postfix queue. While the origin still serves, its queue is flushed, so that as little mail as
 * possible waits at the stop. What remains is carried like data (the queue directories are in the
 * profile's data directories: the cold pass makes them exact, verify proves it); this step counts it
 * on the stopped origin. Once the target's postfix runs (swap), every carried message is requeued
 * there and delivery is attempted at once.
 */
import type { Host } from "../adapters/host.js";
import { failure } from "../adapters/process.js";
import {
  FLUSH_SCRIPT,
  REQUEUE_SCRIPT,
  describeQueue,
  listQueueScript,
  parseQueueList,
} from "../bluemind/postfixQueue.js";
import type { PostfixQueue } from "../bluemind/profiles.js";
import type { Step } from "../engine/plan.js";

export interface QueueCount {
  count: number;
  byQueue: Record<string, number>;
}

export async function countQueue(host: Host, q: PostfixQueue, signal?: AbortSignal): Promise<QueueCount> {
  const r = await host.sh(listQueueScript(q), { timeoutMs: 60_000, ...(signal ? { signal } : {}) });
  if (r.exitCode !== 0)
    throw failure(host.label, r, "check /var/spool/postfix on that host, then run the command again");
  const { count, byQueue } = parseQueueList(r.stdout);
  return { count, byQueue };
}

/**
 * Flush the origin's queue while it serves and wait a little for it to drain: until it is empty,
 * or its count has not changed for `settleMs` (mail its relay refuses stays deferred), at most
 * `maxMs`. Returns the counts before and after.
 */
export async function flushQueue(
  origin: Host,
  q: PostfixQueue,
  opts: { signal?: AbortSignal; settleMs?: number; maxMs?: number; pollMs?: number } = {},
): Promise<{ before: QueueCount; after: QueueCount; ms: number }> {
  const t0 = Date.now();
  const before = await countQueue(origin, q, opts.signal);
  if (before.count === 0) return { before, after: before, ms: Date.now() - t0 };
  await origin.sh(FLUSH_SCRIPT, { timeoutMs: 60_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  let after = before;
  let changedAt = Date.now();
  while (
    after.count > 0 &&
    Date.now() - t0 < (opts.maxMs ?? 10_000) &&
    Date.now() - changedAt < (opts.settleMs ?? 2_000)
  ) {
    if (opts.signal?.aborted) break;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 400));
    const now = await countQueue(origin, q, opts.signal);
    if (now.count !== after.count) changedAt = Date.now();
    after = now;
  }
  return { before, after, ms: Date.now() - t0 };
}

/** Cold sync, origin stopped: how many messages its queue holds now (all carried to the target). */
export function queueAtStopStep(origin: Host, q: PostfixQueue): Step {
  return {
    id: "postfix-queue:origin",
    title: "Count the mail still queued on the origin at the stop (carried to the target)",
    host: "origin",
    commands: [`find ${q.queues.map((x) => `${q.dir}/${x}`).join(" ")} -type f`],
    async run(ctx) {
      ctx.logCommand(origin.label, `find ${q.dir}/{${q.queues.join(",")}} -type f`);
      const c = await countQueue(origin, q, ctx.signal);
      return {
        summary: c.count
          ? `${c.count} message(s) queued on the origin at the stop (${describeQueue(c.byQueue)}): carried with ${q.dir}`
          : "no mail queued on the origin at the stop",
        data: { queued: c.count, byQueue: c.byQueue },
      };
    },
  };
}

/** After the target's postfix started: requeue the carried messages there and flush. */
export function queueDeliverStep(target: Host, q: PostfixQueue): Step {
  return {
    id: "postfix-queue:target",
    title: "Requeue the origin's queued mail on the target and try to deliver it",
    host: "target",
    commands: ["postsuper -r ALL", "postqueue -f"],
    async run(ctx) {
      const before = await countQueue(target, q, ctx.signal);
      if (before.count > 0) {
        ctx.logCommand(target.label, "postsuper -r ALL; postqueue -f");
        const r = await target.sh(REQUEUE_SCRIPT, { signal: ctx.signal, timeoutMs: 120_000 });
        if (r.exitCode !== 0)
          throw failure(
            target.label,
            r,
            "requeue by hand on the target (postsuper -r ALL; postqueue -f), then run the command again",
          );
      }
      // A moment for the first attempts; what the relay refuses stays queued (held) and is retried.
      let after = before;
      for (let i = 0; i < 20 && after.count > 0 && !ctx.signal.aborted; i++) {
        await new Promise((res) => setTimeout(res, 500));
        after = await countQueue(target, q, ctx.signal);
      }
      const delivered = Math.max(0, before.count - after.count);
      return {
        summary: before.count
          ? `${before.count} carried message(s) requeued on the target: ${delivered} left the queue, ${after.count} still queued (${describeQueue(after.byQueue)}), retried by postfix`
          : "no carried mail in the target's queue",
        data: {
          requeued: before.count,
          leftQueue: delivered,
          stillQueued: after.count,
          byQueue: after.byQueue,
        },
      };
    },
  };
}
