/**
 * `bm-migrate swap`: phase 3, the target takes the origin's place. Refuses without a passing
 * verification newer than the cold sync (`--force` overrides, journaled). Without `--apply` it
 * reads both servers, prints the plan and the network-configuration diff, and changes nothing.
 * With `--apply` the plan runs through the runner (phase `swap`): journaled and resumable.
 * The phase itself is src/phases/swap.ts; this file parses the flags and hands the gate down
 * (run's swap, in the cold sync's session: src/migration/run.ts).
 */
import { Option } from "commander";
import type { App } from "../engine/app.js";
import { ConfigError } from "../engine/errors.js";
import type { SwapMode } from "../phases/swapPlan.js";
import { swapPhase, type SwapFlags } from "../phases/swap.js";
import { swapGate } from "../verify/gate.js";

export function swapOptions(): Option[] {
  return [
    new Option(
      "--apply",
      "do it (without: print the plan and the network-configuration diff, change nothing)",
    ),
    new Option("--force", "swap without a passing verification newer than the cold sync (journaled)"),
    new Option(
      "--keep-target-ip",
      "the target keeps its address: apply BlueMind's address-change steps instead",
    ),
    new Option("--origin-power <off|keep>", "power the origin off (default) or leave it running").choices([
      "off",
      "keep",
    ]),
    new Option(
      "--release-address",
      "remove the address from the origin's interface (before powering off, if asked)",
    ),
    new Option(
      "--gone-timeout <seconds>",
      "how long the origin's address may keep answering (default 60)",
    ).hideHelp(),
    new Option(
      "--start-timeout <seconds>",
      "how long BlueMind may take to answer after its start (default 600)",
    ).hideHelp(),
  ];
}

/** Validate the flags, every problem at once. */
export function parseSwapFlags(opts: Record<string, unknown>): SwapFlags {
  const problems: string[] = [];
  const mode: SwapMode = opts["keepTargetIp"] ? "keep-target-ip" : "takeover";
  const power = opts["originPower"] ?? "off";
  if (power !== "off" && power !== "keep")
    problems.push(`--origin-power takes off or keep, not '${JSON.stringify(power)}'`);
  const releaseAddress = Boolean(opts["releaseAddress"]);
  if (mode === "takeover" && power === "keep" && !releaseAddress)
    problems.push(
      "taking over the origin's address needs the origin off the network: keep --origin-power off (the default), or add --release-address",
    );
  const seconds = (name: string, key: string, dflt: number): number => {
    const v = opts[key];
    if (v === undefined) return dflt * 1000;
    if (typeof v !== "string" || !/^\d+$/.test(v) || Number(v) < 1) {
      problems.push(`${name} takes a whole number of seconds, not '${JSON.stringify(v)}'`);
      return dflt * 1000;
    }
    return Number(v) * 1000;
  };
  const goneTimeoutMs = seconds("--gone-timeout", "goneTimeout", 60);
  const startTimeoutMs = seconds("--start-timeout", "startTimeout", 600);
  if (problems.length)
    throw new ConfigError(`invalid options for swap:\n  - ${problems.join("\n  - ")}`, {
      hint: "see bm-migrate swap --help",
    });
  return {
    apply: Boolean(opts["apply"]),
    force: Boolean(opts["force"]),
    mode,
    originPower: power === "keep" ? "keep" : "off",
    releaseAddress,
    goneTimeoutMs,
    startTimeoutMs,
  };
}

export function swapCommand(app: App, flags: SwapFlags): Promise<number> {
  return swapPhase(app, flags, { gate: swapGate });
}
