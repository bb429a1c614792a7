/** Reaching the origin: root by key, host key verified, no prompts (BatchMode). */
import { sshFailureAdvice, type SshFailureKind } from "../adapters/ssh.js";
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

const TITLES: Record<SshFailureKind, string> = {
  "name-not-resolved": "the origin's name does not resolve",
  "connection-refused": "the origin refuses SSH connections",
  "timed-out": "the origin does not answer (SSH connection timed out)",
  "host-key-unknown": "the origin's SSH host key is unknown on the target",
  "host-key-changed": "the origin's SSH host key has changed",
  "auth-refused": "the origin refused root's SSH key",
  other: "SSH to the origin failed",
};

export function sshFindings(f: PreflightFacts): Finding[] {
  const host = f.originDestination.split("@").pop() ?? f.originDestination;
  if (!f.ssh.ok) {
    return [
      {
        id: "ssh",
        severity: "blocker",
        title: `${TITLES[f.ssh.kind]} (${f.ssh.kind})`,
        origin: f.ssh.message,
        target: `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes ${f.originDestination}`,
        detail: "Without SSH, the origin's checks could not run; the target's are reported below.",
        remedy: sshFailureAdvice[f.ssh.kind].replace(/ORIGIN/g, host),
      },
    ];
  }
  const out: Finding[] = [
    {
      id: "ssh",
      severity: "info",
      title: `${f.originDestination} reached by key without prompts (BatchMode), host key verified`,
    },
  ];
  for (const side of ["origin", "target"] as const) {
    const err = f[side].errors.host;
    if (err)
      out.push({
        id: "facts",
        severity: "blocker",
        title: `could not read the ${side}'s facts (version, bm.ini, OS)`,
        ...(side === "origin" ? { origin: err } : { target: err }),
        remedy: `check that bash, dpkg-query or rpm work for root on the ${side}, then run bm-migrate check again`,
      });
  }
  return out;
}
