// The whole chain in the lab, driven only through bin/bm-migrate on the target: check, hot-sync,
// cold-sync, verify, swap (shown, then applied), post. Afterwards the origin's old address answers
// from the target, BlueMind runs there, and the core's API saw the three admin steps. A second lab
// covers the refusal without verification and `--keep-target-ip`.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { coreCalls, journal, migrateThroughVerify, ORIGIN, timedBm } from "./support.js";

const calls = coreCalls;
const timed = timedBm;

void describe("cutover: take over the origin's address", () => {
  let lab: Lab;
  after(() => lab?.down());

  void test("check, hot-sync, cold-sync, verify, swap, swap --apply, post", () => {
    lab = Lab.up("h6a", { scale: 1 });
    const { LAB_ORIGIN_IP: oldIp, LAB_TARGET_IP: targetIp, LAB_LAN_NS: lan } = lab.env;
    migrateThroughVerify(lab);
    assert.ok(lan);

    // Without --apply: the plan and the diff of /etc/network/interfaces, nothing changed.
    const interfacesBefore = lab.must("target", "cat /etc/network/interfaces");
    const shown = timed(lab, ["swap", ...ORIGIN]);
    assert.equal(shown.code, 0, shown.out);
    assert.match(shown.out, /--- a\/etc\/network\/interfaces\n\+\+\+ b\/etc\/network\/interfaces\n@@/);
    assert.match(shown.out, new RegExp(`\\n\\+ {4}address ${oldIp.replace(/\./g, "\\.")}/24\\n`));
    assert.match(shown.out, /Nothing was changed/);
    assert.equal(lab.must("target", "cat /etc/network/interfaces"), interfacesBefore);
    assert.doesNotMatch(lab.must("target", "ip -o -4 addr show dev eth0"), new RegExp(` ${oldIp}/`));
    assert.match(lab.must("origin", "ip -o link show eth0"), /state UP/);

    const swap = timed(lab, ["swap", "--apply", ...ORIGIN]);
    assert.equal(swap.code, 0, swap.out);
    assert.match(swap.out, /Swap done/);

    // The old address now lives on the target: a client on the LAN reaches the target's sshd there.
    const scan = lab.lan(["ssh-keyscan", "-T", "5", "-t", "ed25519", oldIp]);
    const targetKey = lab.must("target", "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub").trim();
    assert.ok(targetKey.length > 40);
    assert.match(
      scan.stdout,
      new RegExp(`^${oldIp.replace(/\./g, "\\.")} ssh-ed25519 ${targetKey.replace(/[+/]/g, "\\$&")}$`, "m"),
    );
    assert.match(lab.must("target", "ip -o -4 addr show dev eth0"), new RegExp(` ${oldIp}/24 `));
    assert.match(lab.must("target", "cat /etc/network/interfaces"), new RegExp(`address ${oldIp}/24\\n`));
    assert.match(
      lab.must("target", "ls /var/lib/bm-migrate/swap-before/etc/network/"),
      /interfaces/,
      "the network configuration was kept as it was",
    );
    // The origin is off the network, its BlueMind stopped.
    assert.match(lab.must("origin", "ip -o link show eth0"), /state DOWN/);
    assert.equal(lab.sh("origin", "bmctl status").code, 3);
    // BlueMind runs on the target and its core answers at the old address.
    assert.match(lab.must("target", "bmctl status"), /running/);
    assert.equal(lab.sh("target", "service postfix status").code, 0);
    const reply = lab.lan([
      "curl",
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `http://${oldIp}:8090/api/configuration`,
    ]);
    assert.equal(reply.stdout, "500", "the core answers at the old address (an anonymous call is refused)");

    const swapRecord = journal(lab).find((r) => r["type"] === "swap");
    assert.equal(swapRecord?.["originIp"], oldIp);
    assert.equal(swapRecord?.["targetIp"], targetIp);
    assert.equal(swapRecord?.["mode"], "takeover");
    assert.match(lab.bm(["status"]).stdout, /Next: bm-migrate post/);

    // post, as the swap told us.
    const next = /Next: bm-migrate (post [^\n(]*?)\s*(\(|\n|$)/.exec(swap.out)?.[1]?.trim().split(/\s+/);
    assert.deepEqual(next, ["post"], "post takes the addresses from the swap's journal");
    const oldDbs = `runuser -u postgres -- psql -X -At -c "select string_agg(datname, ',' order by datname) from pg_database where datname like '%.bm-migrate-old'"`;
    assert.equal(
      lab.must("target", oldDbs).trim(),
      "bj-data.bm-migrate-old,bj.bm-migrate-old",
      "the target's own databases, replaced by the cold sync, are kept until post",
    );
    // What post asks of the core (swap itself had BlueMind repair the domains once it ran).
    const before = calls(lab).length;
    assert.ok(
      calls(lab).some((c) => c.path === "/api/directory/bluemind.lab/bluemind.lab/mgmt/_maintenance/repair"),
      "the swap had BlueMind repair the domain (hollow.directory) once the target ran",
    );
    const post = timed(lab, [...next, "--api-url", "http://127.0.0.1:8090"]);
    assert.equal(post.code, 0, post.out);
    assert.equal(lab.must("target", oldDbs).trim(), "", "post dropped them");
    const seen = calls(lab)
      .slice(before)
      .filter((c) => c.method === "POST");
    assert.deepEqual(
      seen.map((c) => `${c.path} ${c.status}`),
      ["/api/system/security/_updatefirewallrules 200", "/api/system/maildelivery/mgmt/_repair 200"],
      "an address takeover leaves mynetworks as it is: nothing saved",
    );
    assert.ok(
      seen.every((c) => c.apiKey === "<bm-core.tok>"),
      "with the admin0 key of bm-core.tok",
    );
    assert.match(post.out, /mynetworks unchanged: .*address takeover/);
  });
});

void describe("cutover: refusal without verification, and --keep-target-ip", () => {
  let lab: Lab;
  after(() => lab?.down());

  void test("swap --apply refuses without a verification; --force --keep-target-ip applies BlueMind's IP change", () => {
    lab = Lab.up("h6b", { scale: 1 });
    const { LAB_ORIGIN_IP: oldIp, LAB_TARGET_IP: newIp } = lab.env;
    const cold = timed(lab, ["cold-sync", "--yes", ...ORIGIN]);
    assert.equal(cold.code, 0, cold.out);
    assert.match(lab.must("target", "grep '^host' /etc/bm/bm.ini"), new RegExp(oldIp.replace(/\./g, "\\.")));

    const refused = timed(lab, ["swap", "--apply", "--keep-target-ip", ...ORIGIN]);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, /no verification has been run/);
    assert.match(refused.out, /run bm-migrate verify/);
    assert.match(lab.must("origin", "ip -o link show eth0"), /state UP/, "nothing was done");
    assert.ok(!journal(lab).some((r) => r["phase"] === "swap"));

    const swap = timed(lab, ["swap", "--apply", "--force", "--keep-target-ip", ...ORIGIN]);
    assert.equal(swap.code, 0, swap.out);
    assert.ok(
      journal(lab).some((r) => r["type"] === "swap-forced"),
      "the override is journaled",
    );
    assert.match(swap.out, new RegExp(`bluemind\\.lab\\.test\\. A ${newIp.replace(/\./g, "\\.")}`));

    // BlueMind's own address-change steps, on the target.
    const ini = lab.must("target", "cat /etc/bm/bm.ini");
    assert.match(ini, new RegExp(`^host = ${newIp}$`, "m"));
    assert.match(ini, new RegExp(`^hz-member-address = ${newIp}$`, "m"));
    assert.match(
      lab.must("target", "cat /etc/cyrus-replication"),
      new RegExp(`^core_sync_host: ${newIp}$`, "m"),
    );
    const q = (db: string, sql: string): string =>
      lab.must("target", `runuser -u postgres -- psql -XAt -d ${db} -c "${sql}"`).trim();
    assert.equal(q("bj", "select ip from t_server"), newIp);
    assert.equal(
      q(
        "bj",
        "select configuration->'host' || ' ' || (configuration->'hz-member-address') from t_systemconf",
      ),
      `${newIp} ${newIp}`,
    );
    assert.equal(q("bj-data", `select count(*) from rc_users where mail_host = '${oldIp}'`), "0");
    assert.notEqual(q("bj-data", `select count(*) from rc_users where mail_host = '${newIp}'`), "0");
    // The target kept its address; the origin is stopped for good and off.
    assert.doesNotMatch(lab.must("target", "ip -o -4 addr show dev eth0"), new RegExp(` ${oldIp}/`));
    assert.match(lab.must("target", "bmctl status"), /running/);
    assert.equal(lab.sh("origin", "bmctl status").code, 3);

    // post: the old address in mynetworks becomes the target's (from the journal and bm.ini).
    const post = timed(lab, ["post", "--api-url", "http://127.0.0.1:8090"]);
    assert.equal(post.code, 0, post.out);
    const set = calls(lab).filter((c) => c.method === "POST" && c.path === "/api/configuration");
    assert.deepEqual(
      set.map((c) => c.body),
      [{ mynetworks: `127.0.0.0/8 ${newIp}/32` }],
    );
  });
});
