import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQueueList } from "../../../src/bluemind/postfixQueue.js";

test("queued messages are counted per queue", () => {
  const q = parseQueueList("deferred/A/A1B2C3\ndeferred/F/F00D\nactive/B77\n\n");
  assert.equal(q.count, 3);
  assert.deepEqual(q.byQueue, { deferred: 2, active: 1 });
});
