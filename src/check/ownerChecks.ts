/**
 * Owners of the origin's data must exist by name on the target: rsync -a as root maps owners by
 * name. Different uids and gids are expected after a change of distribution and are only shown.
 */
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

export function ownerFindings(f: PreflightFacts): Finding[] {
  const owners = f.origin.storage?.owners;
  const acc = f.target.accounts;
  if (!owners || !acc) return [];
  const users = new Map<string, number>();
  const groups = new Map<string, number>();
  const nameless: string[] = [];
  for (const o of owners) {
    // find prints the number when an id has no name on the origin.
    if (o.user === String(o.uid)) nameless.push(`uid ${o.uid}`);
    else users.set(o.user, o.uid);
    if (o.group === String(o.gid)) nameless.push(`gid ${o.gid}`);
    else groups.set(o.group, o.gid);
  }
  const missingUsers = [...users].filter(([n]) => !acc.users.has(n));
  const missingGroups = [...groups].filter(([n]) => !acc.groups.has(n));
  const out: Finding[] = [];
  if (missingUsers.length || missingGroups.length) {
    const names = [...missingUsers.map(([n]) => `user ${n}`), ...missingGroups.map(([n]) => `group ${n}`)];
    out.push({
      id: "owners",
      severity: "blocker",
      title: `owners of the origin's data are missing on the target: ${names.join(", ")}`,
      origin: [
        ...missingUsers.map(([n, id]) => `user ${n} (uid ${id})`),
        ...missingGroups.map(([n, id]) => `group ${n} (gid ${id})`),
      ].join(", "),
      target: `missing: ${names.join(", ")}`,
      detail:
        "rsync maps owners by name: files of a name unknown on the target would keep the origin's number and belong to nobody, or to someone else.",
      remedy: `create them on the target (the BlueMind packages create cyrus and its group; otherwise useradd --system / groupadd --system), then check again`,
    });
  }
  if (nameless.length)
    out.push({
      id: "owners",
      severity: "warning",
      title: "some of the origin's data belongs to ids without a name",
      origin: [...new Set(nameless)].join(", "),
      detail: "rsync keeps these numbers as they are on the target.",
      remedy: "give these files a named owner on the origin, or accept that the numbers are kept",
    });
  const differ = [
    ...[...users]
      .filter(([n, id]) => acc.users.has(n) && acc.users.get(n) !== id)
      .map(([n, id]) => ({ kind: "uid", n, o: id, t: acc.users.get(n) })),
    ...[...groups]
      .filter(([n, id]) => acc.groups.has(n) && acc.groups.get(n) !== id)
      .map(([n, id]) => ({ kind: "gid", n, o: id, t: acc.groups.get(n) })),
  ];
  if (differ.length)
    out.push({
      id: "owner-ids",
      severity: "info",
      title: "owners have other ids on the target (expected: rsync maps owners by name)",
      origin: differ.map((d) => `${d.n} ${d.kind} ${d.o}`).join(", "),
      target: differ.map((d) => `${d.n} ${d.kind} ${d.t}`).join(", "),
    });
  else if (!out.length && users.size)
    out.push({
      id: "owners",
      severity: "info",
      title: "the owners of the origin's data exist on the target",
      origin: [...users.keys(), ...[...groups.keys()].map((g) => `:${g}`)].join(" "),
    });
  return out;
}
