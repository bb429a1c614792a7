import { test } from "node:test";
import assert from "node:assert/strict";
import { domainRepair, domainsToRepair, repairConfig } from "../../../src/bluemind/repairs.js";

test("BlueMind repairs every domain but the global one, with a RepairConfig", () => {
  const list = [
    { uid: "global.virt", value: { name: "global.virt", global: true } },
    { uid: "bluemind.lab", value: { name: "bluemind.lab", global: false } },
    { uid: "other.example", value: { name: "other.example" } },
  ];
  assert.deepEqual(domainsToRepair(list), ["bluemind.lab", "other.example"]);
  assert.throws(() => domainsToRepair({ values: {} }), /did not answer a list/);
  assert.equal(
    domainRepair("bluemind.lab").path,
    "/api/directory/bluemind.lab/bluemind.lab/mgmt/_maintenance/repair",
  );
  assert.deepEqual(repairConfig(["hollow.directory", "domain.keycloak"]).opIdentifiers, [
    "hollow.directory",
    "domain.keycloak",
  ]);
});
