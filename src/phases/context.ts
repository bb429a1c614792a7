/**
 * What the phase plans are built from: both hosts, their facts, the profile, the settings.
 */
import type { Host } from "../adapters/host.js";
import type { SshConnection } from "../adapters/ssh.js";
import type { HostFacts } from "../bluemind/facts.js";
import type { Profile } from "../bluemind/profiles.js";
import type { Journal } from "../engine/journal.js";
import type { Settings } from "../engine/settings.js";
import type { OriginScan } from "./databaseDelta.js";

export interface MigrationContext {
  origin: Host;
  target: Host;
  ssh: SshConnection;
  originFacts: HostFacts;
  targetFacts: HostFacts;
  profile: Profile;
  settings: Settings;
  journal: Journal;
  /**
   * Filled by the cold sync: what each database's delta read of the still origin. The verification
   * that follows in the same session (run) relies on it instead of reading every row again.
   */
  originScans?: Map<string, OriginScan>;
}
