/**
 * The service-state module decides from the system, never from bmctl's exit code: its script run
 * against stand-in commands (a `systemctl` and a `service` on PATH, a bmctl that exits 0 when
 * stopped as the real one does since 4.2), and the abortable sleep that leaves no listener behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { getEventListeners } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_STATE_SCRIPT, parseServiceState } from "../../../src/bluemind/serviceState.js";
import { sleep } from "../../../src/engine/sleep.js";

function runWith(stubs: Record<string, string>): string {
  const bin = mkdtempSync(join(tmpdir(), "bm-svc-"));
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  // No systemd directory here: the non-systemd branch (processes and the core's port).
  const r = spawnSync("sh", ["-c", SERVICE_STATE_SCRIPT], {
    encoding: "utf8",
    env: { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin` },
  });
  return r.stdout;
}

void test("without systemd: a bmctl that exits 0 while stopped does not make BlueMind running", () => {
  const out = runWith({
    bmctl: "echo 'bm-core.service is stopped.'; exit 0",
    service: 'case "$1" in postfix) exit 0 ;; *) exit 3 ;; esac',
    ss: "exit 0", // nothing listening
  });
  const st = parseServiceState(out);
  assert.equal(st.init, "other");
  assert.equal(st.bluemind, "stopped", out);
  assert.equal(st.corePortListening, false);
  assert.equal(st.postfix, "running");
  assert.equal(st.postgresql, "stopped");
});

void test("without systemd: the core's port listening is BlueMind running", () => {
  const out = runWith({
    ss: "echo 'LISTEN 0 511 0.0.0.0:8090 0.0.0.0:*'",
    service: "exit 3",
  });
  const st = parseServiceState(out);
  assert.equal(st.bluemind, "running", out);
  assert.match(st.bluemindEvidence, /core port 8090 listening/);
});

void test("systemd's unit states decide where systemd runs", () => {
  const st = parseServiceState(
    "core_port=0\ninit=systemd\nbluemind_evidence=bluemind.target inactive, bm-core inactive\nbluemind=stopped\npostfix=running\npostgresql=running\n",
  );
  assert.deepEqual([st.init, st.bluemind, st.postfix], ["systemd", "stopped", "running"]);
});

void test("sleep removes its abort listener: a long poll loop leaves none behind", async () => {
  const ac = new AbortController();
  for (let i = 0; i < 80; i++) assert.equal(await sleep(0, ac.signal), true);
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  const pending = sleep(10_000, ac.signal);
  ac.abort();
  assert.equal(await pending, false, "an abort ends the wait at once");
});
