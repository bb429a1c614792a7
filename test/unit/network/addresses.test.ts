// Addresses from the tools' outputs: the swap's origin and target addresses and their interface.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpAddrShow, parseRouteGet, swapAddresses } from "../../../src/network/addresses.js";

const ADDR_SHOW = `1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.1.2.10/24 brd 10.1.2.255 scope global eth0\\       valid_lft forever preferred_lft forever
3: ens19@if7    inet 192.168.5.3/22 scope global ens19\\       valid_lft forever preferred_lft forever
`;

void test("addresses: SSH_CONNECTION, ip addr and ip route get give the swap's addresses", () => {
  assert.deepEqual(parseIpAddrShow(ADDR_SHOW)[2], { iface: "ens19", address: "192.168.5.3", prefix: 22 });
  assert.deepEqual(parseRouteGet("10.1.2.10 dev eth1 src 10.1.2.20 uid 0 \\    cache\n"), {
    local: false,
    dev: "eth1",
    src: "10.1.2.20",
  });
  const ok = swapAddresses(
    "10.1.2.20 51234 10.1.2.10 22\n",
    ADDR_SHOW,
    "10.1.2.10 dev eth1 src 10.1.2.20 uid 0",
  );
  assert.deepEqual(ok, {
    ok: true,
    value: { originIp: "10.1.2.10", prefix: 24, originIface: "eth0", targetIp: "10.1.2.20", iface: "eth1" },
  });
  const routed = swapAddresses(
    "10.9.0.5 1 10.1.2.10 22",
    ADDR_SHOW,
    "10.1.2.10 via 10.9.0.1 dev eth0 src 10.9.0.5 uid 0",
  );
  assert.equal(routed.ok, false);
  assert.match(!routed.ok ? routed.problem : "", /gateway 10\.9\.0\.1.*not on the same network/);
  const v6 = swapAddresses("fd00::2 1 fd00::1 22", ADDR_SHOW, "");
  assert.match(!v6.ok ? v6.problem : "", /IPv6/);
  const local = swapAddresses("x 1 10.1.2.10 22", ADDR_SHOW, "local 10.1.2.10 dev lo src 10.1.2.10 uid 0");
  assert.match(!local.ok ? local.problem : "", /already one of the target's own/);
});
