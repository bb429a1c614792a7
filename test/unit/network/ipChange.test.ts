// BlueMind's IP-change edits (--keep-target-ip): bm.ini, cyrus-replication, SQL, DNS records.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  dnsRecordsToChange,
  ipChangeSql,
  parseIpChangeCounts,
  setCoreSyncHost,
  setIniValues,
} from "../../../src/network/ipChange.js";

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
