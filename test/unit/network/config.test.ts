// The network configuration edit of each distribution family (netplan, ifupdown, NetworkManager,
// ifcfg), and which one a host uses.
import { test } from "node:test";
import assert from "node:assert/strict";
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
