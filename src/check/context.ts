/** What every check function receives besides the facts. */
import type { Profile } from "../bluemind/profiles.js";

export interface CheckContext {
  /** The profile chosen for the origin's version (or forced with --profile), when known. */
  profile?: Profile;
  /** Where the profile came from, for the report. */
  profileSource?: "version" | "--profile";
  forceOverwriteTarget: boolean;
}

/** "origin" and "target" facts side by side, for checks that compare. */
export type Side = "origin" | "target";
export const SIDES: readonly Side[] = ["origin", "target"];
