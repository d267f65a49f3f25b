// `holdfast-deploy push intune|jamf`: what the command, the extension and tests call.
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import { readJsonFile } from '../../common/json-file.js';
import type { GraphBody } from '../../installers/intune/graph-app.js';
import { encryptContent, readIntuneWin } from '../../installers/intune/intunewin.js';
import { loadFleet } from '../../fleet/load.js';
import { DEFAULT_OUT_DIR } from '../generate.js';
import { findIntuneArtifacts, findIntuneArtifactsIfAny, findIntuneMacArtifacts, findJamfArtifacts } from './artifacts.js';
import { GraphSession, type GraphPushOptions, type GraphPushResult, contentOfIntuneWin, pushIntuneApp, pushIntuneProfile } from './graph.js';
import { type JamfPushOptions, type JamfPushResult, pushJamf } from './jamf.js';

export {
  GraphSession,
  contentOfIntuneWin,
  pushIntuneApp,
  pushIntuneProfile,
  type GraphPushOptions,
  type GraphPushResult,
  type IntuneContent,
} from './graph.js';
export { pushJamf, type JamfPushOptions, type JamfPushResult } from './jamf.js';
export { HttpClient, HttpError } from './http.js';

/** Environment variables the push reads (secrets only from here). */
export const PUSH_ENV = {
  graphTenant: 'HOLDFAST_GRAPH_TENANT_ID',
  graphClientId: 'HOLDFAST_GRAPH_CLIENT_ID',
  graphClientSecret: 'HOLDFAST_GRAPH_CLIENT_SECRET',
  graphGroup: 'HOLDFAST_GRAPH_GROUP_ID',
  graphUrl: 'HOLDFAST_GRAPH_URL',
  graphAuthority: 'HOLDFAST_GRAPH_AUTHORITY_URL',
  jamfUrl: 'HOLDFAST_JAMF_URL',
  jamfClientId: 'HOLDFAST_JAMF_CLIENT_ID',
  jamfClientSecret: 'HOLDFAST_JAMF_CLIENT_SECRET',
  jamfGroup: 'HOLDFAST_JAMF_GROUP_ID',
} as const;

function need(value: string | undefined, what: string, flag: string, env: string, dryRun: boolean, placeholder: string): string {
  if (value) return value;
  if (dryRun) return placeholder;
  throw new Error(`${what} is missing: pass ${flag} or set ${env}`);
}

export type IntunePlatform = 'windows' | 'macos' | 'all';

export interface PushIntuneFleetOptions extends Partial<Omit<GraphPushOptions, 'clientSecret'>> {
  outDir?: string;
  env?: NodeJS.ProcessEnv;
  /** What to push: the Win32 app, the macOS pkg app and profiles, or everything generate made (default). */
  platform?: IntunePlatform;
}

export interface PushIntuneFleetResult {
  windows?: GraphPushResult;
  macos?: GraphPushResult;
  profiles: Array<{ file: string; id: string; assigned: boolean }>;
  retries: number;
}

export async function pushIntuneFleet(fleetFile: string, o: PushIntuneFleetOptions = {}): Promise<PushIntuneFleetResult> {
  const env = o.env ?? process.env;
  const dry = o.dryRun ?? false;
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
  const groupId = o.groupId ?? env[PUSH_ENV.graphGroup];
  const options: GraphPushOptions = {
    ...o,
    tenantId: need(o.tenantId ?? env[PUSH_ENV.graphTenant], 'the Entra tenant id', '--tenant', PUSH_ENV.graphTenant, dry, '{tenantId}'),
    clientId: need(o.clientId ?? env[PUSH_ENV.graphClientId], 'the app (client) id', '--client-id', PUSH_ENV.graphClientId, dry, '{clientId}'),
    clientSecret: need(
      env[PUSH_ENV.graphClientSecret],
      'the client secret',
      'no flag (secrets come from the environment only)',
      PUSH_ENV.graphClientSecret,
      dry,
      '***',
    ),
    graphUrl: o.graphUrl ?? env[PUSH_ENV.graphUrl],
    authorityUrl: o.authorityUrl ?? env[PUSH_ENV.graphAuthority],
    ...(groupId && { groupId }),
  };
  const session = new GraphSession(options);
  const result: PushIntuneFleetResult = { profiles: [], retries: 0 };
  if (win) {
    const pkg = await readIntuneWin(win.intunewin);
    const app = await readBody(win.appJson, '#microsoft.graph.win32LobApp');
    app.fileName = basename(win.intunewin);
    result.windows = await pushIntuneApp(contentOfIntuneWin(pkg), app, options, session);
  }
  if (mac.pkgApp) {
    const app = await readBody(mac.pkgApp.appJson, '#microsoft.graph.macOSPkgApp');
    const bytes = await readFile(mac.pkgApp.pkg);
    const encrypted = encryptContent(bytes);
    app.fileName = basename(mac.pkgApp.pkg);
    result.macos = await pushIntuneApp(
      { name: basename(mac.pkgApp.pkg), size: bytes.length, encrypted: encrypted.data, encryptionInfo: encrypted.info },
      app,
      options,
      session,
    );
  }
  for (const file of mac.profiles) {
    const body = await readBody(file, '#microsoft.graph.macOSCustomConfiguration');
    result.profiles.push({ file, ...(await pushIntuneProfile(body, options, session)) });
  }
  result.retries = session.http.retries.length;
  return result;
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

export async function pushJamfFleet(fleetFile: string, o: PushJamfFleetOptions = {}): Promise<JamfPushResult> {
  const env = o.env ?? process.env;
  const dry = o.dryRun ?? false;
  const { fleet } = await loadFleet(fleetFile);
  const fleetDir = join(resolve(o.outDir ?? DEFAULT_OUT_DIR), fleet.fleet);
  const files = await findJamfArtifacts(fleetDir);
  return pushJamf(
    {
      name: fleet.branding.product,
      pkgFile: files.pkg,
      profiles: files.profiles,
      extensionAttributes: files.extensionAttributes.map((ea) => ({
        name: ea.name ?? `${fleet.branding.product}: ${basename(ea.file).replace(/\.(sh|zsh)$/, '')}`,
        file: ea.file,
      })),
      trigger: `holdfast-${fleet.fleet}`,
    },
    {
      ...o,
      url: need(o.url ?? env[PUSH_ENV.jamfUrl], 'the Jamf Pro URL', '--url', PUSH_ENV.jamfUrl, dry, 'https://{your-instance}.jamfcloud.com'),
      clientId: need(o.clientId ?? env[PUSH_ENV.jamfClientId], 'the API client id', '--client-id', PUSH_ENV.jamfClientId, dry, '{clientId}'),
      clientSecret: need(
        env[PUSH_ENV.jamfClientSecret],
        'the API client secret',
        'no flag (secrets come from the environment only)',
        PUSH_ENV.jamfClientSecret,
        dry,
        '***',
      ),
      groupId: need(o.groupId ?? env[PUSH_ENV.jamfGroup], 'the computer group id', '--group', PUSH_ENV.jamfGroup, dry, '0'),
    },
  );
}
