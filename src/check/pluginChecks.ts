/**
 * Plugins: BlueMind's 4.8 and 5.0 documentation ("changer de distribution") requires the same
 * plugins on the target as on the origin. Every BlueMind package installed on the origin (bm-*:
 * bm-core and its plugins) must be installed on the target; a missing one blocks, named with the
 * command that installs it. Packages only the target has are shown, not blocking.
 */
import type { Finding } from "./findings.js";
import type { PreflightFacts } from "./gather.js";

export function pluginFindings(f: PreflightFacts): Finding[] {
  const o = f.origin.host?.bmPackages;
  const t = f.target.host?.bmPackages;
  if (!o || !t) return [];
  const missing = o.filter((p) => !t.includes(p));
  const extra = t.filter((p) => !o.includes(p));
  if (missing.length === 0)
    return [
      {
        id: "plugins",
        severity: extra.length ? "warning" : "info",
        title: extra.length
          ? `the target has BlueMind packages the origin lacks: ${extra.join(", ")}`
          : `the same ${o.length} BlueMind packages on both`,
        origin: o.join(" "),
        target: t.join(" "),
        ...(extra.length
          ? {
              detail:
                "They stay installed; their configuration is replaced by the origin's (which has none for them).",
            }
          : {}),
      },
    ];
  const apt = f.target.host?.packageManager === "rpm" ? "yum install" : "apt-get install";
  return [
    {
      id: "plugins",
      severity: "blocker",
      title: `BlueMind package${missing.length > 1 ? "s" : ""} missing on the target: ${missing.join(", ")}`,
      origin: o.join(" "),
      target: t.join(" "),
      detail:
        "BlueMind requires the same plugins on the target as on the origin (installed in the origin's version).",
      remedy: `install on the target: ${apt} ${missing.join(" ")}, then check again`,
    },
  ];
}
