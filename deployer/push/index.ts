// `holdfast-deploy push intune|jamf`: what the command, the extension and tests call.
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

import type { GraphBody } from '../../installers/intune/graph-app.js';
import { readIntuneWin } from '../../installers/intune/intunewin.js';
import { loadFleet } from '../fleet/load.js';
import { findIntuneArtifacts, findJamfArtifacts } from './artifacts.js';
import { type GraphPushOptions, type GraphPushResult, pushIntuneApp } from './graph.js';
import { type JamfPushOptions, type JamfPushResult, pushJamf } from './jamf.js';

export { pushIntuneApp, type GraphPushOptions, type GraphPushResult } from './graph.js';
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

export interface PushIntuneFleetOptions extends Partial<Omit<GraphPushOptions, 'clientSecret'>> {
  outDir?: string;
  env?: NodeJS.ProcessEnv;
}

export async function pushIntuneFleet(fleetFile: string, o: PushIntuneFleetOptions = {}): Promise<GraphPushResult> {
  const env = o.env ?? process.env;
  const dry = o.dryRun ?? false;
  const { fleet } = await loadFleet(fleetFile);
  const fleetDir = join(resolve(o.outDir ?? 'dist'), fleet.fleet);
  const files = await findIntuneArtifacts(fleetDir, fleet.fleet);
  const pkg = await readIntuneWin(files.intunewin);
  const app = JSON.parse(await readFile(files.appJson, 'utf8')) as GraphBody;
  if (app['@odata.type'] !== '#microsoft.graph.win32LobApp') throw new Error(`${files.appJson}: not a win32LobApp body`);
  app.fileName = basename(files.intunewin);
  const groupId = o.groupId ?? env[PUSH_ENV.graphGroup];
  return pushIntuneApp(pkg, app, {
    ...o,
    tenantId: need(o.tenantId ?? env[PUSH_ENV.graphTenant], 'the Entra tenant id', '--tenant', PUSH_ENV.graphTenant, dry, '{tenantId}'),
    clientId: need(o.clientId ?? env[PUSH_ENV.graphClientId], 'the app (client) id', '--client-id', PUSH_ENV.graphClientId, dry, '{clientId}'),
    clientSecret: need(env[PUSH_ENV.graphClientSecret], 'the client secret', 'no flag (secrets come from the environment only)', PUSH_ENV.graphClientSecret, dry, '***'),
    graphUrl: o.graphUrl ?? env[PUSH_ENV.graphUrl],
    authorityUrl: o.authorityUrl ?? env[PUSH_ENV.graphAuthority],
    ...(groupId && { groupId }),
  });
}

export interface PushJamfFleetOptions extends Partial<Omit<JamfPushOptions, 'clientSecret'>> {
  outDir?: string;
  env?: NodeJS.ProcessEnv;
}

export async function pushJamfFleet(fleetFile: string, o: PushJamfFleetOptions = {}): Promise<JamfPushResult> {
  const env = o.env ?? process.env;
  const dry = o.dryRun ?? false;
  const { fleet } = await loadFleet(fleetFile);
  const fleetDir = join(resolve(o.outDir ?? 'dist'), fleet.fleet);
  const files = await findJamfArtifacts(fleetDir);
  return pushJamf(
    {
      name: fleet.branding.product,
      pkgFile: files.pkg,
      profiles: files.profiles,
      extensionAttributes: files.extensionAttributes.map((ea) => ({ name: ea.name ?? `${fleet.branding.product}: ${basename(ea.file).replace(/\.(sh|zsh)$/, '')}`, file: ea.file })),
      trigger: `holdfast-${fleet.fleet}`,
    },
    {
      ...o,
      url: need(o.url ?? env[PUSH_ENV.jamfUrl], 'the Jamf Pro URL', '--url', PUSH_ENV.jamfUrl, dry, 'https://{your-instance}.jamfcloud.com'),
      clientId: need(o.clientId ?? env[PUSH_ENV.jamfClientId], 'the API client id', '--client-id', PUSH_ENV.jamfClientId, dry, '{clientId}'),
      clientSecret: need(env[PUSH_ENV.jamfClientSecret], 'the API client secret', 'no flag (secrets come from the environment only)', PUSH_ENV.jamfClientSecret, dry, '***'),
      groupId: need(o.groupId ?? env[PUSH_ENV.jamfGroup], 'the computer group id', '--group', PUSH_ENV.jamfGroup, dry, '0'),
    },
  );
}
