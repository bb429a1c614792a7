/**
 * What the phase plans are built from: both hosts, their facts, the profile, the settings.
 */
import type { Host } from "../adapters/host.js";
import type { SshConnection } from "../adapters/ssh.js";
import type { HostFacts } from "../bluemind/facts.js";
import type { Profile } from "../bluemind/profiles.js";
import type { Journal } from "../engine/journal.js";
import type { Settings } from "../engine/settings.js";

export interface MigrationContext {
  origin: Host;
  target: Host;
  ssh: SshConnection;
  originFacts: HostFacts;
  targetFacts: HostFacts;
  profile: Profile;
  settings: Settings;
  journal: Journal;
}
