// What `generate` makes for the push tests, without the 77 MB pkg or the agent MSI: a tiny real MSI through the
// intune target, the real macOS profiles and a stand-in pkg through jamf-profiles and intune-macos.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { intuneMacosTarget, intuneTarget } from '../../deployer/targets/intune.js';
import { jamfProfilesTarget } from '../../deployer/targets/jamf-profiles.js';
import type { Artifact } from '../../deployer/targets/target.js';
import type { FleetSecrets, LoadedFleet } from '../../fleet/types.js';
import { buildTinyMsi } from './tiny-msi.js';

/** generate --target intune for a tiny MSI of `version` (a new product code each time, as a new build has). */
export async function makeWindows(work: string, loaded: LoadedFleet, fleetDir: string, version: string, secrets: FleetSecrets = {}): Promise<Artifact[]> {
  const dir = join(work, `msi-${loaded.fleet.fleet}-${version}`);
  mkdirSync(dir, { recursive: true });
  const msi = buildTinyMsi(dir, { fileName: `holdfast-${loaded.fleet.fleet}.msi`, version });
  const ctx = { loaded, secrets, outDir: fleetDir, cacheDir: work, progress: () => {} };
  return intuneTarget.make({ ...ctx, previous: [{ target: 'msi', path: msi, description: 'msi' }] });
}

/** generate --target jamf-profiles,intune-macos with a stand-in pkg (the real one is 77 MB; the upload is the same). */
export async function makeMac(work: string, loaded: LoadedFleet, fleetDir: string, pkg: Buffer): Promise<void> {
  const ctx = { loaded, secrets: {}, outDir: fleetDir, cacheDir: work, progress: () => {} };
  const profiles = await jamfProfilesTarget.make({ ...ctx, previous: [] });
  writeFileSync(join(fleetDir, `holdfast-${loaded.fleet.fleet}.pkg`), pkg);
  await intuneMacosTarget.make({
    ...ctx,
    previous: [{ target: 'pkg', path: join(fleetDir, `holdfast-${loaded.fleet.fleet}.pkg`), description: 'pkg' }, ...profiles],
  });
}
