/** All checks over gathered facts: pure, so the whole preflight is testable with fake facts. */
import type { CheckContext } from "./context.js";
import { diskFindings } from "./diskChecks.js";
import { sortFindings, type Finding } from "./findings.js";
import { freshTargetFindings } from "./freshTargetCheck.js";
import type { PreflightFacts } from "./gather.js";
import { clockFindings, osFindings, serviceFindings, volumeFindings } from "./infoChecks.js";
import { ownerFindings } from "./ownerChecks.js";
import { pluginFindings } from "./pluginChecks.js";
import {
  postgresExtensionFindings,
  postgresLoginFindings,
  postgresTimezoneFindings,
  postgresToolFindings,
} from "./postgresChecks.js";
import { sshFindings } from "./sshCheck.js";
import {
  bluemindInstalledFindings,
  externalUrlFindings,
  profileFindings,
  originToolFindings,
  rsyncFindings,
  subscriptionFindings,
  versionFindings,
} from "./versionChecks.js";

type Check = (f: PreflightFacts, ctx: CheckContext) => Finding[];

const CHECKS: Check[] = [
  sshFindings,
  bluemindInstalledFindings,
  versionFindings,
  pluginFindings,
  externalUrlFindings,
  subscriptionFindings,
  rsyncFindings,
  originToolFindings,
  postgresLoginFindings,
  postgresToolFindings,
  postgresExtensionFindings,
  postgresTimezoneFindings,
  diskFindings,
  ownerFindings,
  freshTargetFindings,
  clockFindings,
  osFindings,
  serviceFindings,
  profileFindings,
  volumeFindings,
];

export function evaluateChecks(facts: PreflightFacts, ctx: CheckContext): Finding[] {
  return sortFindings(CHECKS.flatMap((check) => check(facts, ctx)));
}
