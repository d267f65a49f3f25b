// `holdfast-deploy push intune|jamf`: what the command, the extension and tests call.
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { readJsonFile } from '../../common/json-file.js';
import type { GraphBody } from '../../installers/intune/graph-app.js';
import { encryptContent, readIntuneWin } from '../../installers/intune/intunewin.js';
import { loadFleet } from '../../fleet/load.js';
import { DEFAULT_OUT_DIR } from '../generate.js';
import { MANIFEST_NAME } from '../manifest.js';
import { type AtInstallManifest, missingAtInstall, refuseAtInstall } from './at-install.js';
import { findIntuneArtifacts, findIntuneArtifactsIfAny, findIntuneMacArtifacts, findJamfArtifacts } from './artifacts.js';
import { GraphSession, type GraphPushOptions, contentOfIntuneWin } from './graph.js';
import { type IntuneAppInput, planIntune } from './intune-plan.js';
import { type JamfPushOptions, planJamf } from './jamf.js';
import { type PushOutcome, type PushPlan, formatPlan, sha256Hex } from './plan.js';
import { PUSH_ENV, pushSetting } from './settings.js';

export {
  GraphSession,
  contentOfIntuneWin,
  pushIntuneApp,
  pushIntuneProfile,
  type GraphPushOptions,
  type GraphPushResult,
  type IntuneContent,
} from './graph.js';
export { planJamf, type JamfPushInput, type JamfPushOptions } from './jamf.js';
export { planIntune } from './intune-plan.js';
export { ALLOW_AT_INSTALL_FLAG } from './at-install.js';
export { formatOutcome, formatPlan, planCounts, type AppliedItem, type PlanAction, type PlanItem, type PushOutcome, type PushPlan } from './plan.js';
export { HttpClient, HttpError } from './http.js';

export { PUSH_ENV, PUSH_SETTINGS, missingPushSettings, type PushService, type PushSetting } from './settings.js';

export type IntunePlatform = 'windows' | 'macos' | 'all';

export interface PushIntuneFleetOptions extends Partial<Omit<GraphPushOptions, 'clientSecret'>> {
  outDir?: string;
  env?: NodeJS.ProcessEnv;
  /** What to push: the Win32 app, the macOS pkg app and profiles, or everything generate made (default). */
  platform?: IntunePlatform;
  /** Push a Win32 app whose install line still carries a placeholder (generate --technician-id-at-install). */
  allowInstallTimePlaceholders?: boolean;
}

/** What a push did: the plan it showed and, unless it was a dry run, what applying it wrote. */
export interface PushFleetResult {
  plan: PushPlan;
  outcome: PushOutcome;
}

/** Find what Intune holds for the fleet and plan the push (reads only: a token and GETs). */
export async function planIntuneFleet(fleetFile: string, o: PushIntuneFleetOptions = {}): Promise<PushPlan> {
  const env = o.env ?? process.env;
  const platform = o.platform ?? 'all';
  const { fleet } = await loadFleet(fleetFile);
  const fleetDir = join(resolve(o.outDir ?? DEFAULT_OUT_DIR), fleet.fleet);
  // Find everything first: a missing file fails before anything is sent.
  const win =
    platform === 'macos'
      ? undefined
      : platform === 'windows'
        ? await findIntuneArtifacts(fleetDir, fleet.fleet)
        : await findIntuneArtifactsIfAny(fleetDir, fleet.fleet);
  const mac = platform === 'windows' ? { profiles: [] } : await findIntuneMacArtifacts(fleetDir);
  if (platform === 'macos' && !mac.pkgApp && mac.profiles.length === 0) {
    throw new Error(`no macOS Intune bodies in ${fleetDir}: run \`holdfast-deploy generate <fleet file> --target intune-macos\` first`);
  }
  if (!win && !mac.pkgApp && mac.profiles.length === 0) {
    throw new Error(
      `nothing to push in ${fleetDir}: run \`holdfast-deploy generate <fleet file> --target intune,intune-macos\` first (or pass --out where generate wrote)`,
    );
  }
  const apps: IntuneAppInput[] = [];
  if (win) {
    const app = await readBody(win.appJson, '#microsoft.graph.win32LobApp');
    app.fileName = basename(win.intunewin);
    const manifestFile = join(fleetDir, MANIFEST_NAME);
    const manifest = existsSync(manifestFile) ? ((await readJsonFile(manifestFile, 'the manifest')) as AtInstallManifest) : undefined;
    const missing = missingAtInstall(String(app.installCommandLine ?? ''), manifest, [win.intunewin, win.appJson]);
    refuseAtInstall(win.appJson, missing, manifest, o.allowInstallTimePlaceholders ?? false);
    const pkg = await readIntuneWin(win.intunewin);
    apps.push({
      object: 'windows-app',
      kind: 'Win32 app',
      body: app,
      // The digest of the unencrypted setup zip (Detection.xml): the same MSI gives the same digest whatever the keys.
      contentHash: Buffer.from(pkg.info.encryptionInfo.fileDigest, 'base64').toString('hex'),
      content: async () => contentOfIntuneWin(pkg),
    });
  }
  if (mac.pkgApp) {
    const app = await readBody(mac.pkgApp.appJson, '#microsoft.graph.macOSPkgApp');
    const pkgFile = mac.pkgApp.pkg;
    const bytes = await readFile(pkgFile);
    app.fileName = basename(pkgFile);
    apps.push({
      object: 'macos-app',
      kind: 'macOS pkg app',
      body: app,
      contentHash: sha256Hex(bytes),
      content: async () => {
        const encrypted = encryptContent(bytes);
        return { name: basename(pkgFile), size: bytes.length, encrypted: encrypted.data, encryptionInfo: encrypted.info };
      },
    });
  }
  const profiles: GraphBody[] = [];
  for (const file of mac.profiles) profiles.push(await readBody(file, '#microsoft.graph.macOSCustomConfiguration'));
  const groupId = pushSetting('intune', 'groupId', o.groupId, env);
  const options: GraphPushOptions = {
    ...o,
    tenantId: pushSetting('intune', 'tenantId', o.tenantId, env)!,
    clientId: pushSetting('intune', 'clientId', o.clientId, env)!,
    clientSecret: pushSetting('intune', 'clientSecret', undefined, env)!,
    graphUrl: o.graphUrl ?? env[PUSH_ENV.graphUrl],
    authorityUrl: o.authorityUrl ?? env[PUSH_ENV.graphAuthority],
    ...(groupId && { groupId }),
  };
  return planIntune(new GraphSession(options), { fleet: fleet.fleet, apps, profiles, ...(groupId && { groupId }) });
}

/** Print the plan, then apply it (a dry run prints each change instead of sending it). */
export async function runPlan(plan: PushPlan, log: (line: string) => void = () => {}): Promise<PushFleetResult> {
  for (const line of formatPlan(plan)) log(line);
  const outcome = await plan.apply();
  return { plan, outcome };
}

export async function pushIntuneFleet(fleetFile: string, o: PushIntuneFleetOptions = {}): Promise<PushFleetResult> {
  return runPlan(await planIntuneFleet(fleetFile, o), o.log);
}

async function readBody(file: string, type: string): Promise<GraphBody> {
  const body = (await readJsonFile(file, 'the Graph body')) as GraphBody;
  if (body['@odata.type'] !== type)
    throw new Error(`${file}: not a ${type.replace('#microsoft.graph.', '')} body (found @odata.type ${JSON.stringify(body['@odata.type'])})`);
  return body;
}

export interface PushJamfFleetOptions extends Partial<Omit<JamfPushOptions, 'clientSecret'>> {
  outDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** Find what Jamf Pro holds for the fleet and plan the push (reads only: a token and GETs). */
export async function planJamfFleet(fleetFile: string, o: PushJamfFleetOptions = {}): Promise<PushPlan> {
  const env = o.env ?? process.env;
  const { fleet } = await loadFleet(fleetFile);
  const fleetDir = join(resolve(o.outDir ?? DEFAULT_OUT_DIR), fleet.fleet);
  const files = await findJamfArtifacts(fleetDir, fleet.fleet);
  const uninstallGroupId = pushSetting('jamf', 'uninstallGroupId', o.uninstallGroupId, env);
  return planJamf(
    {
      fleet: fleet.fleet,
      product: fleet.branding.product,
      pkgFile: files.pkg,
      profiles: files.profiles,
      ...(files.uninstallScript && { uninstallScript: files.uninstallScript }),
      extensionAttributes: files.extensionAttributes.map((ea) => ({
        name: ea.name ?? `${fleet.branding.product}: ${basename(ea.file).replace(/\.(sh|zsh)$/, '')}`,
        file: ea.file,
      })),
    },
    {
      ...o,
      url: pushSetting('jamf', 'url', o.url, env)!,
      clientId: pushSetting('jamf', 'clientId', o.clientId, env)!,
      clientSecret: pushSetting('jamf', 'clientSecret', undefined, env)!,
      groupId: pushSetting('jamf', 'groupId', o.groupId, env)!,
      ...(uninstallGroupId && { uninstallGroupId }),
    },
  );
}

export async function pushJamfFleet(fleetFile: string, o: PushJamfFleetOptions = {}): Promise<PushFleetResult> {
  return runPlan(await planJamfFleet(fleetFile, o), o.log);
}
