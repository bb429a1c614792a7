// A whole migration with swap and post against the lab's faithful stand-ins of a 4.1, a 5.1 and a
// 5.2 BlueMind (lab/standin/core.ts, lab/standin/bmctl: each behaviour cites BlueMind's source).
// Each checks what the core received (the stand-in logs every call) and what it holds afterwards:
// the firewall endpoint of the version, the mail maintenance with the postfix maps seen rebuilt
// on disk after the request, and mynetworks as a set (the core's own additions tolerated, the old
// address gone, never a loopback address; unchanged after an address takeover).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { networkSet } from "../../src/bluemind/mynetworks.js";
import { coreCalls, migrateThroughVerify, ORIGIN, timedBm } from "./support.js";

const calls = coreCalls;
const timed = timedBm;

/** mynetworks as the target's core holds it (t_systemconf in bj, where the stand-in saves it). */
const heldMynetworks = (lab: Lab): string =>
  lab
    .must(
      "target",
      `runuser -u postgres -- psql -XAt -d bj -c "select configuration->'mynetworks' from t_systemconf"`,
    )
    .trim();

/** The newest mtime (ms) of the -flat maps on the target, and how many there are. */
function mapTimes(lab: Lab): number[] {
  return lab
    .must("target", "find /etc/postfix -maxdepth 1 -name '*-flat' -printf '%T@\\n'")
    .split("\n")
    .filter(Boolean)
    .map((s) => Math.round(Number(s) * 1000));
}

interface Profile {
  base: string;
  version: string;
  keepTargetIp: boolean;
  firewall: string;
}

const PROFILES: Profile[] = [
  {
    base: "p4",
    version: "4.1.56",
    keepTargetIp: false,
    firewall: "/api/system/security/_updatefirewallrules",
  },
  {
    base: "p51",
    version: "5.1.3",
    keepTargetIp: true,
    firewall: "/internal-api/system/firewall/_updatefirewallrules",
  },
  {
    base: "p52",
    version: "5.2.1",
    keepTargetIp: false,
    firewall: "/internal-api/system/firewall/_updatefirewallrules",
  },
];

for (const p of PROFILES) {
  void describe(`post against BlueMind ${p.version} (${p.keepTargetIp ? "keep the target's address" : "address takeover"})`, () => {
    let lab: Lab | undefined;
    after(() => lab?.down());

    void test("check, hot-sync, cold-sync, verify, swap --apply, post; what the core received and holds", () => {
      lab = Lab.up(p.base, { scale: 1, version: p.version });
      const { LAB_ORIGIN_IP: oldIp, LAB_TARGET_IP: targetIp } = lab.env;
      migrateThroughVerify(lab);
      const swap = timed(lab, [
        "swap",
        "--apply",
        ...(p.keepTargetIp ? ["--keep-target-ip"] : []),
        ...ORIGIN,
      ]);
      assert.equal(swap.code, 0, swap.out);
      assert.match(swap.out, /Next: bm-migrate post/);

      // bmctl as that version's: since 4.2 `bmctl status` exits 0 when BlueMind is cleanly stopped.
      const originStatus = lab.sh("origin", "bmctl status");
      if (p.version.startsWith("4.1")) assert.equal(originStatus.code, 3, originStatus.stdout);
      else {
        assert.equal(originStatus.code, 0, "cleanly stopped: exit 0, as the real bmctl");
        assert.match(originStatus.stdout, /bm-core\.service is stopped\./);
      }
      // bm-migrate decides from the system: the target's BlueMind runs, whatever bmctl exits with.
      assert.match(
        lab.bm(["status"]).stdout,
        /This server now: BlueMind running \(.*core port 8090 listening\)/,
      );

      const heldBefore = heldMynetworks(lab);
      const before = calls(lab).length;
      const post = timed(lab, ["post"]);
      assert.equal(post.code, 0, post.out);
      // 5.2: post again at once, inside BlueMind's 10 s throttle of map rebuilds (checked below).
      const again = p.base === "p52" ? timed(lab, ["post"]) : undefined;
      process.stdout.write(`# post's output (${p.version}):\n${post.out.replace(/^/gm, "#   ")}\n`);
      const all = calls(lab).slice(before);
      // The first post's calls: up to its logout-less end, i.e. before the second post's first call.
      const secondStart = again
        ? all.findIndex((c, i) => i > 0 && c.path === "/api/system/installation/version")
        : -1;
      const seen = secondStart > 0 ? all.slice(0, secondStart) : all;
      const posts = seen.filter((c) => c.method === "POST");

      // What the core received: its version asked first, then that version's firewall endpoint.
      assert.equal(seen[0]?.path, "/api/system/installation/version");
      assert.deepEqual(
        posts.map((c) => `${c.path} ${c.status}`),
        [
          `${p.firewall} 200`,
          "/api/system/maildelivery/mgmt/_repair 200",
          ...(p.keepTargetIp ? ["/api/configuration 200"] : []),
        ],
      );
      assert.ok(
        seen.every((c) => c.apiKey === "<bm-core.tok>"),
        "with the admin0 key of bm-core.tok",
      );
      assert.ok(
        seen.some((c) => /^\/api\/tasks\/[^/]+\/_currentLogs$/.test(c.path)),
        "the firewall task's log was read for each server's result",
      );
      assert.match(
        post.out,
        new RegExp(`firewall +rules regenerated with POST ${p.firewall.replace(/\//g, "\\/")}`),
      );

      // "maps rebuilt" only once seen: every -flat map newer than the repair request.
      const repairAt = Date.parse(posts[1]!.t);
      const maps = mapTimes(lab);
      assert.ok(maps.length >= 5, `the maps are there (${maps.length})`);
      assert.ok(
        maps.every((m) => m >= repairAt - 20),
        "each map was rewritten after the request",
      );
      assert.match(
        post.out,
        /mail-repair +postfix maps rebuilt: \d+ maps in \/etc\/postfix newer than the request, [\d.]+ s after it/,
      );
      assert.match(lab.must("target", "cat /var/log/bm/core.log"), /Postfix maps updated \(\d+ ms\)/);

      // What the core holds afterwards.
      const held = heldMynetworks(lab);
      const set = networkSet(held);
      assert.ok(
        [...set].every((n) => n === "127.0.0.0/8" || !n.startsWith("127.")),
        `never a loopback address besides BlueMind's own 127.0.0.0/8: '${held}'`,
      );
      if (p.keepTargetIp) {
        const sent = posts[2]!.body as { mynetworks: string };
        assert.deepEqual([...networkSet(sent.mynetworks)].sort(), ["127.0.0.0/8", `${targetIp}/32`].sort());
        assert.ok(set.has(`${targetIp}/32`), `the new address is held: '${held}'`);
        assert.ok(set.has("127.0.0.0/8"));
        assert.ok(!set.has(`${oldIp}/32`), `the old address is gone: '${held}'`);
        assert.match(held, /, /, "the core's own separator");
        assert.match(
          post.out,
          new RegExp(
            `mynetworks: ${oldIp.replace(/\./g, "\\.")} replaced by ${targetIp.replace(/\./g, "\\.")}; the core holds`,
          ),
        );
      } else {
        assert.equal(held, heldBefore, "an address takeover leaves mynetworks as it was");
        assert.ok(set.has(`${oldIp}/32`), "the server kept its address, which stays allowed");
        assert.match(post.out, /mynetworks unchanged: .*address takeover: the server kept/);
      }
      assert.match(lab.bm(["status"]).stdout, /Next: bm-migrate report: the migration is complete/);

      if (again) {
        // The second post, run at once, met BlueMind's 10 s throttle: its rebuild came when the
        // first one's window closed, and post waited for it on disk.
        assert.equal(again.code, 0, again.out);
        process.stdout.write(`# the second post's output:\n${again.out.replace(/^/gm, "#   ")}\n`);
        const repairs = calls(lab)
          .filter((c) => c.path === "/api/system/maildelivery/mgmt/_repair")
          .map((c) => Date.parse(c.t));
        assert.equal(repairs.length, 2);
        const [first = 0, second = 0] = repairs;
        assert.ok(second - first < 10_000, `the second repair came inside the window (${second - first} ms)`);
        const updated = [
          ...lab
            .must("target", "cat /var/log/bm/core.log")
            .matchAll(/^(\S+) \[core\] Postfix maps updated/gm),
        ].map((m) => Date.parse(m[1]!));
        assert.equal(updated.length, 2, "two rebuilds");
        assert.ok(updated[1]! - updated[0]! >= 9_800, `10 s apart (${updated[1]! - updated[0]!} ms)`);
        const secs = Number(/newer than the request, ([\d.]+) s after it/.exec(again.out)?.[1]);
        assert.ok(
          secs * 1000 >= first + 10_000 - second - 500,
          `post waited until the window closed (${secs} s after a request ${second - first} ms into it)`,
        );
        assert.ok(
          !calls(lab)
            .slice(before)
            .some((c) => c.method === "POST" && c.path === "/api/configuration"),
        );
      }
    });
  });
}
