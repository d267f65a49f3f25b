import type { Target } from './target.js';
import { msiTarget } from './msi.js';
import { pkgTarget } from './pkg.js';
import { jamfProfilesTarget } from './jamf-profiles.js';
import { intuneMacosTarget, intuneTarget } from './intune.js';
import { gpoTarget } from './gpo.js';
import { firewallTarget } from './firewall.js';
import { guideTarget } from './guide.js';
import { intuneRemediationTarget } from './intune-remediation.js';

/** Every generate target, one module each. Add one line per target module. */
export const targets: Target[] = [
  msiTarget,
  pkgTarget,
  jamfProfilesTarget,
  intuneTarget,
  intuneMacosTarget,
  gpoTarget,
  firewallTarget,
  guideTarget,
  intuneRemediationTarget,
];

export function targetByName(name: string): Target | undefined {
  return targets.find((t) => t.name === name);
}
