// The swap plan's scripts: the origin switched off, the ports that must go quiet.
import { test } from "node:test";
import assert from "node:assert/strict";
import { listeningPorts, originOffScript, type SwapFacts } from "../../../src/phases/swapPlan.js";

void test("origin off: detached, address released before the power-off when both are asked", () => {
  const f: SwapFacts = {
    mode: "takeover",
    originIp: "10.1.2.10",
    targetIp: "10.1.2.20",
    prefix: 24,
    iface: "eth0",
    originIface: "ens3",
    originPower: "off",
    releaseAddress: true,
  };
  const script = originOffScript(f);
  // No fixed wait: the detached part waits for the session's sshd to end, then releases, then powers off.
  assert.match(script, /^p=\$\$; while .*sshd\*\) break/);
  assert.match(
    script,
    /setsid sh -c '.*while kill -0 "\$0".*; ip addr del 10\.1\.2\.10\/24 dev ens3; poweroff' "\$p" >\/dev\/null 2>&1 <\/dev\/null &$/,
  );
  assert.doesNotMatch(script.split("else")[0]!, /sleep 1;/);
  // In a takeover the address is released even when only the power-off was asked.
  assert.match(
    originOffScript({ ...f, releaseAddress: false }),
    /ip addr del 10\.1\.2\.10\/24 dev ens3; poweroff'/,
  );
  assert.doesNotMatch(
    originOffScript({ ...f, mode: "keep-target-ip", releaseAddress: false }),
    /ip addr del/,
  );
  assert.deepEqual(
    [...listeningPorts("LISTEN 0 511 0.0.0.0:8090 0.0.0.0:*\nLISTEN 0 128 [::]:22 [::]:*\n")],
    [8090, 22],
  );
});
