/**
 * Postfix's queue, from postfix's own documentation (Debian's `postfix` package):
 * - postqueue(1) `-f`: "Flush the queue: attempt to deliver all queued mail" (the origin, while it
 *   still serves, so that as little as possible remains at the stop).
 * - The queue's messages are the files under the queue directories maildrop, incoming, active,
 *   deferred and hold (qmgr(8), postsuper(1)); `hash_queue_depth` spreads them in subdirectories.
 * - postsuper(1): when postfix starts it renames "files whose name does not match the message file
 *   inode number. This operation is necessary after restoring a mail queue from a different machine";
 *   `-r ALL` requeues every message: "moved to the maildrop queue, from where it is copied by the
 *   pickup(8) and cleanup(8) daemons to a new queue file", so that it is routed with the new
 *   server's configuration and delivered at once.
 */
import { shellQuote } from "../adapters/process.js";
import type { PostfixQueue } from "./profiles.js";

/** Prints one line per queued message: its queue and path below the queue directory. */
export function listQueueScript(q: PostfixQueue): string {
  return `cd ${shellQuote(q.dir)} 2>/dev/null || exit 0
for d in ${q.queues.map(shellQuote).join(" ")}; do [ -d "$d" ] && find "$d" -type f -printf '%p\\n'; done; true`;
}

/** Parses listQueueScript's output: the queued messages' paths and how many in each queue. */
export function parseQueueList(out: string): {
  count: number;
  byQueue: Record<string, number>;
  files: string[];
} {
  const files = out.split("\n").filter((l) => l.trim() !== "");
  const byQueue: Record<string, number> = {};
  for (const f of files) {
    const q = f.split("/")[0] ?? "?";
    byQueue[q] = (byQueue[q] ?? 0) + 1;
  }
  return { count: files.length, byQueue, files };
}

export function describeQueue(byQueue: Record<string, number>): string {
  const parts = Object.entries(byQueue).map(([q, n]) => `${n} ${q}`);
  return parts.length ? parts.join(", ") : "empty";
}

/** Ask postfix to try every queued message now (needs a running postfix; harmless when none is). */
export const FLUSH_SCRIPT = `command -v postqueue >/dev/null 2>&1 || exit 0
postqueue -f 2>&1 || true`;

/** After the target's postfix started with the carried queue: requeue everything, then flush. */
export const REQUEUE_SCRIPT = `command -v postsuper >/dev/null 2>&1 || { echo "postsuper not found" >&2; exit 1; }
postsuper -r ALL
postqueue -f`;
