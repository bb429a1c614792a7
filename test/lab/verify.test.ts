// `bm-migrate verify` in the two-host lab: the target is made equal to the origin by hand (the
// procedure's own commands), then verify must pass, and must name each change made afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lab } from "../../lab/lab.js";
import { labForTests } from "./support.js";
import { PROFILES } from "../../src/bluemind/profiles.js";

// Everything the profile moves (issue 17): the data directories with the hollow directory and the
// postfix queue, the configuration directories made equal (--delete), and the single files.
const DATA_DIRS = PROFILES["4"]!.dataDirs;
const MIRRORS = ["/etc/bm", "/etc/bm-hps", "/etc/bm-webmail", "/etc/postfix", "/var/lib/bm-ca"];
const CONFIG = [
  "/etc/ssl/certs/bm_cert.pem",
  "/etc/ssl/certs/bm_cert-*.pem",
  "/etc/nginx/sw.htpasswd",
  "/usr/share/bm-elasticsearch/config/elasticsearch.yml",
  "/etc/imapd*",
  "/etc/cyrus*",
];

/**
 * The cold sync done by hand on the target: services stopped on both, rsync of the data
 * directories and of the configuration directories, configuration files with rsync -aR (exit 23:
 * an optional file absent), and each database recreated (C collation, as the origin's) with the
 * database setting BlueMind's install gives it (TimeZone GMT, install_bmdb_pgsql_0.sh; pg_dump
 * without --create leaves it out) and loaded from pg_dump.
 */
function copyByHand(opts: { checksum: boolean }): string {
  const rsync = `rsync -aH --delete${opts.checksum ? " --checksum" : ""}`;
  const sources = CONFIG.map((p, i) => `'${i === 0 ? "root@bm-origin" : ""}:${p}'`).join(" ");
  return `set -e
bmctl stop >/dev/null; service postfix stop >/dev/null
ssh root@bm-origin 'bmctl stop >/dev/null; service postfix stop >/dev/null'
for d in ${[...DATA_DIRS, ...MIRRORS].join(" ")}; do mkdir -p "$d"; ${rsync} "root@bm-origin:$d/" "$d/"; done
rc=0; rsync -aR${opts.checksum ? " --checksum" : ""} ${sources} / || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 23 ] || exit "$rc"
for db in bj bj-data; do
  runuser -u postgres -- dropdb --if-exists "$db"
  runuser -u postgres -- createdb -O bj -T template0 -E UTF8 --lc-collate=C --lc-ctype=C "$db"
  runuser -u postgres -- psql -q -c "ALTER DATABASE \\"$db\\" SET TimeZone = 'GMT'"
  ssh root@bm-origin "runuser -u postgres -- pg_dump -d '$db'" | runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null
done`;
}

let lab: Lab;
labForTests("h5a", { scale: 1 }, (l) => (lab = l));

const verify = () => lab.bm(["verify", "--origin", "root@bm-origin"], { timeoutMs: 600_000 });

function lastVerifyResult(): {
  ok: boolean;
  differences: { where: string; what: string }[];
  counts: Record<string, number>;
} {
  const lines = lab.must("target", "cat /var/lib/bm-migrate/journal.jsonl").trim().split("\n");
  const results = lines
    .map((l) => JSON.parse(l) as { type: string })
    .filter((r) => r.type === "verify-result");
  assert.ok(results.length > 0, "verify journals its result");
  return results.at(-1) as unknown as ReturnType<typeof lastVerifyResult>;
}

void test("while BlueMind runs on both, verify warns that differences are expected and fails", () => {
  const r = verify();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /BlueMind( \([^)]*\))? runs on the origin: differences are expected/);
  assert.match(r.stdout, /: missing on target/);
  assert.equal(lastVerifyResult().ok, false);
});

void test("after the procedure's rsync (quick check), verify finds files with the same size and mtime but other content", () => {
  lab.must("target", copyByHand({ checksum: false }));
  const r = verify();
  // The generated target holds files that match the origin's in size and mtime but not in content:
  // rsync without --checksum keeps them, and only a content comparison sees it.
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^\/var\/\S+: content differs \(same size and mtime\)$/m);
  assert.doesNotMatch(r.stdout, /differences are expected/, "services are stopped on both now");
});

void test("a target equal to the origin verifies: exit 0, a passing result journaled", () => {
  lab.must("target", copyByHand({ checksum: true }));
  const r = verify();
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /Verified: the target holds what the origin holds/);
  const j = lastVerifyResult();
  assert.equal(j.ok, true);
  assert.deepEqual(j.differences, []);
  assert.ok(j.counts["files"]! > 1000, `files counted: ${j.counts["files"]}`);
  assert.ok(j.counts["tables"]! >= 10 && j.counts["rows"]! > 1000, JSON.stringify(j.counts));
});

void test("each change on the target is named: content (same size and mtime), a mode, rows, a sequence", () => {
  // Files with a single name, so the change shows under that name only.
  const [content, mode] = lab
    .must("target", "find /var/spool/cyrus -type f -links 1 -size +100c | LC_ALL=C sort | head -2")
    .trim()
    .split("\n");
  assert.ok(content && mode, "two mail files to change");
  lab.must(
    "target",
    `set -e; f='${content}'; m=$(stat -c %y "$f")
     [ "$(head -c 4 "$f")" != ZZZZ ]; printf ZZZZ | dd of="$f" bs=1 conv=notrunc status=none; touch -d "$m" "$f"
     g='${mode}'; [ "$(stat -c %a "$g")" = 604 ] && chmod 600 "$g" || chmod 604 "$g"`,
  );
  const modeBefore = lab.must("origin", `stat -c %a '${mode}'`).trim();
  const modeAfter = lab.must("target", `stat -c %a '${mode}'`).trim();
  const rows = Number(
    lab.must("target", `runuser -u postgres -- psql -Atc 'SELECT count(*) FROM t_mailbox_record' bj-data`),
  );
  const seq = Number(
    lab.must("target", `runuser -u postgres -- psql -Atc 'SELECT last_value FROM t_container_id_seq' bj`),
  );
  lab.must(
    "target",
    `runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d bj-data -c 'DELETE FROM t_mailbox_record WHERE ctid = (SELECT min(ctid) FROM t_mailbox_record)'
     runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d bj -c "UPDATE t_domain SET label = label || 'x' WHERE ctid = (SELECT min(ctid) FROM t_domain)"
     runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d bj -c "SELECT setval('t_container_id_seq', ${seq + 7})" >/dev/null`,
  );
  const r = verify();
  assert.equal(r.code, 1, r.stderr);
  const expected = [
    `${content}: content differs (same size and mtime)`,
    `${mode}: mode differs: ${modeBefore} vs ${modeAfter}`,
    `bj-data: table public.t_mailbox_record: ${rows} rows vs ${rows - 1}`,
    `bj: sequence public.t_container_id_seq: last_value ${seq} vs ${seq + 7}`,
  ];
  for (const line of expected)
    assert.ok(r.stdout.split("\n").includes(line), `reported: ${line}\n--- got:\n${r.stdout}`);
  assert.match(r.stdout, /^bj: table public\.t_domain: content differs \(\d+ rows? on both\)$/m);
  // BlueMind's trigger on t_mailbox_record keeps the folder's conversations (v_conversation_by_folder,
  // mailreplica-schema-1.0.0.sql): the deleted record changed one of its partitions too.
  assert.match(r.stdout, /^bj-data: table public\.v_conversation_by_folder_\d+: /m);
  assert.match(r.stdout, /Verification FAILED: 6 differences/);
  const j = lastVerifyResult();
  assert.equal(j.ok, false);
  assert.equal(j.differences.length, 6);
});
