// swap's knowledge as data and pure functions: addresses from the tools' outputs, the network
// configuration edit of each distribution family, the unified diff, BlueMind's IP-change edits,
// the gate's words and the flags.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpAddrShow, parseRouteGet, swapAddresses } from "../../../src/network/addresses.js";
import {
  addIfcfgAddress,
  addIfupdownAddress,
  addNetplanAddress,
  addNmKeyfileAddress,
  chooseFlavour,
  editNetplan,
  parseNetworkProbe,
} from "../../../src/network/config.js";
import { unifiedDiff } from "../../../src/network/diff.js";
import {
  dnsRecordsToChange,
  ipChangeSql,
  parseIpChangeCounts,
  setCoreSyncHost,
  setIniValues,
} from "../../../src/network/ipChange.js";
import { listeningPorts, originOffScript, type SwapFacts } from "../../../src/phases/swapPlan.js";
import { parseSwapFlags } from "../../../src/commands/swap.js";
import { gateProblem, latestVerification } from "../../../src/verify/gate.js";
import type { JournalRecord } from "../../../src/engine/journal.js";
import { ConfigError } from "../../../src/engine/errors.js";

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

void test("flavour: netplan first, then an active NetworkManager connection, ifupdown, ifcfg", () => {
  const probe = parseNetworkProbe(
    "netplan=/etc/netplan/50-cloud-init.yaml\nnetplan=/etc/netplan/01-netcfg.yaml\ninterfaces=1\nnm=1\nnmfile=/etc/NetworkManager/system-connections/eth0.nmconnection\n",
  );
  assert.deepEqual(chooseFlavour(probe), {
    flavour: "netplan",
    files: ["/etc/netplan/01-netcfg.yaml", "/etc/netplan/50-cloud-init.yaml"],
  });
  assert.deepEqual(chooseFlavour({ ...probe, netplanFiles: [] }), {
    flavour: "nm-keyfile",
    files: ["/etc/NetworkManager/system-connections/eth0.nmconnection"],
  });
  assert.deepEqual(
    chooseFlavour({
      netplanFiles: [],
      interfacesFile: false,
      nmRunning: true,
      nmConnectionFile: "/etc/sysconfig/network-scripts/ifcfg-eth0",
    }),
    { flavour: "ifcfg", files: ["/etc/sysconfig/network-scripts/ifcfg-eth0"] },
  );
  assert.deepEqual(chooseFlavour({ netplanFiles: [], interfacesFile: true, nmRunning: false }), {
    flavour: "ifupdown",
    files: ["/etc/network/interfaces"],
  });
  assert.ok("problem" in chooseFlavour({ netplanFiles: [], interfacesFile: false, nmRunning: false }));
});

const NETPLAN_BLOCK = `# This file is generated from information provided by the datasource.
network:
  version: 2
  ethernets:
    ens3:
      dhcp4: false
      addresses:
        - 10.1.2.20/24
      routes:
        - to: default
          via: 10.1.2.1
      nameservers:
        addresses: [10.1.2.1]
`;

void test("netplan: the address joins the device's addresses list (block, flow, absent, by set-name)", () => {
  const after = addNetplanAddress(NETPLAN_BLOCK, "ens3", "10.1.2.10/24")!;
  assert.equal(
    unifiedDiff("/etc/netplan/01.yaml", NETPLAN_BLOCK, after),
    `--- a/etc/netplan/01.yaml
+++ b/etc/netplan/01.yaml
@@ -6,6 +6,7 @@
       dhcp4: false
       addresses:
         - 10.1.2.20/24
+        - 10.1.2.10/24
       routes:
         - to: default
           via: 10.1.2.1
`,
  );
  assert.equal(addNetplanAddress(after, "ens3", "10.1.2.10/24"), after, "idempotent");
  // The nameservers' flow list is not the device's addresses.
  assert.match(after, /nameservers:\n {8}addresses: \[10\.1\.2\.1\]/);

  const flow =
    "network:\n  ethernets:\n    eth0:\n      addresses: [10.1.2.20/24]\n      gateway4: 10.1.2.1\n";
  assert.equal(
    addNetplanAddress(flow, "eth0", "10.1.2.10/24"),
    "network:\n  ethernets:\n    eth0:\n      addresses: [10.1.2.20/24, 10.1.2.10/24]\n      gateway4: 10.1.2.1\n",
  );
  const dhcp = "network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n";
  assert.equal(
    addNetplanAddress(dhcp, "eth0", "10.1.2.10/24"),
    "network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses:\n        - 10.1.2.10/24\n      dhcp4: true\n",
  );
  const renamed =
    "network:\n  ethernets:\n    lan:\n      match:\n        macaddress: 52:54:00:12:34:56\n      set-name: eth1\n      addresses:\n      - 10.1.2.20/24\n";
  assert.match(
    addNetplanAddress(renamed, "eth1", "10.1.2.10/24")!,
    /addresses:\n {6}- 10\.1\.2\.20\/24\n {6}- 10\.1\.2\.10\/24\n$/,
  );
  assert.equal(addNetplanAddress(renamed, "eth9", "10.1.2.10/24"), undefined);
  const own = editNetplan([{ path: "/etc/netplan/01.yaml", text: renamed }], "eth9", "10.1.2.10/24");
  assert.ok(!("problem" in own));
  assert.equal(own.path, "/etc/netplan/90-bm-migrate.yaml");
  assert.equal(own.before, undefined);
  assert.match(
    unifiedDiff(own.path, own.before, own.after),
    /^--- \/dev\/null\n\+\+\+ b\/etc\/netplan\/90-bm-migrate.yaml\n@@ -0,0 \+1,6 @@\n\+network:/,
  );
});

void test("ifupdown: one more static stanza for the interface", () => {
  const before =
    "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 10.1.2.20/24\n    gateway 10.1.2.1\n";
  const after = addIfupdownAddress(before, "eth0", "10.1.2.10/24");
  assert.ok(after.startsWith(before));
  assert.match(
    after.slice(before.length),
    /^\n# The origin's address.*\niface eth0 inet static\n {4}address 10\.1\.2\.10\/24\n$/,
  );
  assert.equal(addIfupdownAddress(after, "eth0", "10.1.2.10/24"), after, "idempotent");
  const dhcp = "auto ens18\niface ens18 inet dhcp";
  assert.match(
    addIfupdownAddress(dhcp, "ens18", "10.1.2.10/24"),
    /inet dhcp\n\n# .*\niface ens18 inet static\n/,
  );
});

void test("NetworkManager keyfile: the next addressN in [ipv4]", () => {
  const before =
    "[connection]\nid=Wired connection 1\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\naddress1=10.1.2.20/24,10.1.2.1\ndns=10.1.2.1;\nmethod=manual\n\n[ipv6]\nmethod=auto\n";
  const after = addNmKeyfileAddress(before, "10.1.2.10/24")!;
  assert.match(after, /\[ipv4\]\naddress1=10\.1\.2\.20\/24,10\.1\.2\.1\naddress2=10\.1\.2\.10\/24\ndns=/);
  assert.equal(addNmKeyfileAddress(after, "10.1.2.10/24"), after, "idempotent");
  assert.match(
    addNmKeyfileAddress("[ipv4]\nmethod=auto\n", "10.1.2.10/24")!,
    /^\[ipv4\]\naddress1=10\.1\.2\.10\/24\nmethod=auto/,
  );
  assert.equal(addNmKeyfileAddress("[connection]\nid=x\n", "10.1.2.10/24"), undefined);
});

void test("ifcfg: IPADDRn/PREFIXn with the next free index", () => {
  const before = 'DEVICE=eth0\nBOOTPROTO=none\nONBOOT=yes\nIPADDR="10.1.2.20"\nPREFIX=24\nGATEWAY=10.1.2.1\n';
  const after = addIfcfgAddress(before, "10.1.2.10", 24);
  assert.equal(after, `${before}IPADDR1=10.1.2.10\nPREFIX1=24\n`);
  assert.equal(addIfcfgAddress(after, "10.1.2.10", 24), after, "idempotent");
  assert.match(addIfcfgAddress(after, "10.1.2.11", 24), /IPADDR2=10\.1\.2\.11\nPREFIX2=24\n$/);
  assert.equal(
    addIfcfgAddress("DEVICE=eth0\nBOOTPROTO=dhcp", "10.1.2.10", 24),
    "DEVICE=eth0\nBOOTPROTO=dhcp\nIPADDR=10.1.2.10\nPREFIX=24\n",
  );
});

void test("unified diff: hunks with context, equal texts give nothing", () => {
  const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
  const b = a.replace("line 2\n", "line two\n").replace("line 18\n", "");
  assert.equal(unifiedDiff("/f", a, a), "");
  assert.equal(
    unifiedDiff("/f", a, b),
    "--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n line 3\n line 4\n line 5\n@@ -15,6 +15,5 @@\n line 15\n line 16\n line 17\n-line 18\n line 19\n line 20\n",
  );
});

void test("keep-target-ip: bm.ini, cyrus-replication, SQL and DNS records", () => {
  const ini =
    '[global]\nexternal-url = mail.example.org\nhost = 10.1.2.10\nhz-member-address="10.1.2.10"\npassword = "x=y"\n[other]\nhost = 1.1.1.1\n';
  const r = setIniValues(ini, "global", { host: "10.1.2.20", "hz-member-address": "10.1.2.20" });
  assert.equal(
    r.text,
    '[global]\nexternal-url = mail.example.org\nhost = 10.1.2.20\nhz-member-address="10.1.2.20"\npassword = "x=y"\n[other]\nhost = 1.1.1.1\n',
  );
  assert.deepEqual(r.changed, ["host", "hz-member-address"]);
  assert.equal(
    setCoreSyncHost("sync_log: 1\ncore_sync_host: 10.1.2.10\ncore_sync_port: 2501\n", "10.1.2.20"),
    "sync_log: 1\ncore_sync_host: 10.1.2.20\ncore_sync_port: 2501\n",
  );
  const sql = ipChangeSql(["t_server", "t_systemconf"], "10.1.2.10", "10.1.2.20");
  assert.match(sql, /UPDATE t_server SET ip = '10\.1\.2\.20' WHERE ip = '10\.1\.2\.10'/);
  assert.match(
    sql,
    /hstore\('hz-member-address', '10\.1\.2\.20'\) WHERE configuration -> 'hz-member-address' = '10\.1\.2\.10'/,
  );
  assert.doesNotMatch(sql, /rc_users/, "absent tables are not touched");
  assert.deepEqual(parseIpChangeCounts("t_server.ip|1\nt_systemconf.host|1\nnoise\n"), {
    "t_server.ip": 1,
    "t_systemconf.host": 1,
  });
  const dns = dnsRecordsToChange("mail.example.org", "10.1.2.10", "10.1.2.20");
  assert.match(dns[0]!, /^mail\.example\.org\. A 10\.1\.2\.20 +\(was 10\.1\.2\.10\)/);
  assert.match(dns[1]!, /^20\.2\.1\.10\.in-addr\.arpa\. PTR mail\.example\.org\./);
});

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

void test("gate and flags: refusal reasons in words; takeover needs the origin off the network", () => {
  const rec = (type: string, extra: Record<string, unknown> = {}): JournalRecord => ({
    t: `t${type}`,
    type,
    ...extra,
  });
  const cold = rec("pass-finished", { phase: "cold-sync", pass: "cold-1" });
  assert.match(gateProblem(latestVerification([])) ?? "", /no cold sync/);
  assert.match(gateProblem(latestVerification([cold])) ?? "", /no verification/);
  const ok = rec("verify-result", { ok: true, differences: [], counts: {}, durationMs: 1 });
  const bad = rec("verify-result", {
    ok: false,
    differences: [{}, {}],
    differenceCount: 7,
    counts: {},
    durationMs: 1,
  });
  assert.match(gateProblem(latestVerification([ok, cold])) ?? "", /older than the last cold sync/);
  assert.match(gateProblem(latestVerification([cold, bad])) ?? "", /found 7 difference/);
  assert.equal(gateProblem(latestVerification([cold, ok])), undefined);

  assert.deepEqual(parseSwapFlags({ apply: true }), {
    apply: true,
    force: false,
    mode: "takeover",
    originPower: "off",
    releaseAddress: false,
    goneTimeoutMs: 60_000,
    startTimeoutMs: 600_000,
  });
  assert.throws(
    () => parseSwapFlags({ originPower: "keep" }),
    (e: unknown) => e instanceof ConfigError && /--release-address/.test(e.message),
  );
  assert.equal(parseSwapFlags({ originPower: "keep", keepTargetIp: true }).mode, "keep-target-ip");
  assert.throws(() => parseSwapFlags({ goneTimeout: "soon" }), /--gone-timeout takes a whole number/);
});
