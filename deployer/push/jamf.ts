// Push the macOS hand-off to Jamf Pro: OAuth client-credentials token, package record + upload,
// configuration profiles (Classic API XML), a policy scoped to a group, extension attributes.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { xmlEscape } from '../../common/xml.js';
import { HttpClient, HttpError, type HttpRequest, type HttpResponse } from './http.js';

export interface JamfPushInput {
  /** Display name of the package, policy and profiles' prefix. */
  name: string;
  pkgFile: string;
  profiles: string[];
  /** Extension attribute scripts: name -> script file. */
  extensionAttributes: Array<{ name: string; file: string; description?: string }>;
  /** Custom trigger of the policy (`jamf policy -event <trigger>`). */
  trigger: string;
}

export interface JamfPushOptions {
  /** Jamf Pro base URL, e.g. https://acme.jamfcloud.com. */
  url: string;
  clientId: string;
  /** From the environment only; never printed. */
  clientSecret: string;
  /** Computer group id the profiles and the policy are scoped to. */
  groupId: string;
  dryRun?: boolean;
  log?: (line: string) => void;
  http?: Partial<ConstructorParameters<typeof HttpClient>[0]>;
}

export interface JamfPushResult {
  packageId: string;
  profileIds: string[];
  policyId: string;
  extensionAttributeIds: string[];
  retries: number;
}

function classicId(res: HttpResponse, step: string): string {
  const m = /<id>(\d+)<\/id>/.exec(res.text);
  if (!m) throw new HttpError(`Jamf Pro: ${step}: the response carries no <id>`, res.status, step);
  return m[1];
}

function jsonId(res: HttpResponse, step: string): string {
  const id = (res.json as { id?: unknown } | undefined)?.id;
  if (id === undefined || id === null || id === '') throw new HttpError(`Jamf Pro: ${step}: the response carries no id`, res.status, step);
  return String(id);
}

function scopeXml(groupId: string): string {
  const group = `<computer_group><id>${xmlEscape(groupId, 'Jamf computer group id')}</id></computer_group>`;
  return `<scope><all_computers>false</all_computers><computer_groups>${group}</computer_groups></scope>`;
}

export function profileXml(name: string, description: string, mobileconfig: string, groupId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<os_x_configuration_profile>',
    `<general><name>${xmlEscape(name, 'Jamf profile name')}</name>`,
    `<description>${xmlEscape(description, 'Jamf profile description')}</description>`,
    '<distribution_method>Install Automatically</distribution_method><level>System</level>',
    `<payloads>${xmlEscape(mobileconfig, 'Jamf profile payload (the .mobileconfig)')}</payloads></general>`,
    scopeXml(groupId),
    '</os_x_configuration_profile>',
  ].join('');
}

export function policyXml(name: string, trigger: string, packageId: string, groupId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<policy>',
    `<general><name>${xmlEscape(name, 'Jamf policy name')}</name><enabled>true</enabled><trigger_checkin>true</trigger_checkin>`,
    `<trigger_other>${xmlEscape(trigger, 'Jamf policy trigger')}</trigger_other><frequency>Once per computer</frequency></general>`,
    scopeXml(groupId),
    '<package_configuration><packages><size>1</size>',
    `<package><id>${xmlEscape(packageId, 'Jamf package id')}</id><action>Install</action></package></packages></package_configuration>`,
    '<maintenance><recon>true</recon></maintenance>',
    '</policy>',
  ].join('');
}

export async function pushJamf(input: JamfPushInput, options: JamfPushOptions): Promise<JamfPushResult> {
  const log = options.log ?? (() => {});
  const http = new HttpClient({ service: 'Jamf Pro', dryRun: options.dryRun, log, ...options.http });
  const base = options.url.replace(/\/+$/, '');
  const dry = http.dryRun;
  if (!/^\d+$/.test(options.groupId))
    throw new Error(`--group: ${JSON.stringify(options.groupId)} is not allowed; expected the numeric id of a Jamf Pro computer group`);

  // Tokens expire (expires_in): fetch a new one shortly before, never cache forever.
  let token = '';
  let expiresAt = 0;
  const auth = async (): Promise<Record<string, string>> => {
    if (dry) return { authorization: 'Bearer DRY-RUN-TOKEN' };
    if (Date.now() < expiresAt - 30_000) return { authorization: `Bearer ${token}` };
    log('jamf: requesting a token (API client credentials)');
    const res = await http.request({
      step: 'token',
      method: 'POST',
      url: `${base}/api/oauth/token`,
      body: { form: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret } },
    });
    const body = res.json as { access_token?: string; expires_in?: number } | undefined;
    if (!body?.access_token) throw new HttpError('Jamf Pro: token: the response carries no access_token', res.status, 'token');
    token = body.access_token;
    expiresAt = Date.now() + (body.expires_in ?? 60) * 1000;
    return { authorization: `Bearer ${token}` };
  };
  // Every API call: with a fresh-enough token; on a 401 (expired or revoked token) renew once and retry.
  const call = async (req: Omit<HttpRequest, 'headers'> & { headers?: Record<string, string> }): Promise<HttpResponse> => {
    try {
      return await http.request({ ...req, headers: { ...req.headers, ...(await auth()) } });
    } catch (err) {
      if (dry || !(err instanceof HttpError) || err.status !== 401) throw err;
      log(`${req.step}: token rejected; renewing it once`);
      expiresAt = 0;
      return http.request({ ...req, headers: { ...req.headers, ...(await auth()) } });
    }
  };
  if (dry)
    await http.request({
      step: 'token',
      method: 'POST',
      url: `${base}/api/oauth/token`,
      body: { form: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret } },
    });

  const fileName = basename(input.pkgFile);
  log(`jamf: creating the package record ${fileName}`);
  const pkgRes = await call({
    step: 'create package',
    method: 'POST',
    url: `${base}/api/v1/packages`,
    body: {
      json: {
        packageName: input.name,
        fileName,
        categoryId: '-1',
        priority: 10,
        fillUserTemplate: false,
        rebootRequired: false,
        osInstall: false,
        suppressUpdates: false,
        suppressFromDock: false,
        suppressEula: false,
        suppressRegistration: false,
      },
    },
  });
  const packageId = dry ? '{packageId}' : jsonId(pkgRes, 'create package');

  const bytes = await readFile(input.pkgFile);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)], { type: 'application/octet-stream' }), fileName);
  log(`jamf: uploading ${fileName} (${bytes.length} bytes)`);
  await call({
    step: 'upload package',
    method: 'POST',
    // A large pkg over a slow line: allow about 100 kB/s, at least 10 minutes.
    timeoutMs: Math.max(600_000, bytes.length / 100),
    url: `${base}/api/v1/packages/${packageId}/upload`,
    body: { multipart: form, describe: `file=${fileName} <${bytes.length} bytes>` },
  });

  const profileIds: string[] = [];
  for (const file of input.profiles) {
    const profileName = `${input.name} – ${basename(file, '.mobileconfig')}`;
    log(`jamf: uploading the configuration profile ${basename(file)}`);
    const res = await call({
      step: `profile ${basename(file)}`,
      method: 'POST',
      url: `${base}/JSSResource/osxconfigurationprofiles/id/0`,
      headers: { accept: 'application/xml' },
      body: {
        text: profileXml(profileName, `${input.name}: ${basename(file)}`, await readFile(file, 'utf8'), options.groupId),
        contentType: 'application/xml',
      },
    });
    profileIds.push(dry ? `{profileId-${profileIds.length + 1}}` : classicId(res, `profile ${basename(file)}`));
  }

  log('jamf: creating the policy');
  const policyRes = await call({
    step: 'policy',
    method: 'POST',
    url: `${base}/JSSResource/policies/id/0`,
    headers: { accept: 'application/xml' },
    body: { text: policyXml(`Install ${input.name}`, input.trigger, packageId, options.groupId), contentType: 'application/xml' },
  });
  const policyId = dry ? '{policyId}' : classicId(policyRes, 'policy');

  const extensionAttributeIds: string[] = [];
  for (const ea of input.extensionAttributes) {
    log(`jamf: creating the extension attribute ${JSON.stringify(ea.name)}`);
    const res = await call({
      step: `extension attribute ${ea.name}`,
      method: 'POST',
      url: `${base}/api/v1/computer-extension-attributes`,
      body: {
        json: {
          name: ea.name,
          description: ea.description ?? ea.name,
          dataType: 'STRING',
          enabled: true,
          inventoryDisplayType: 'EXTENSION_ATTRIBUTES',
          inputType: 'SCRIPT',
          scriptContents: await readFile(ea.file, 'utf8'),
        },
      },
    });
    extensionAttributeIds.push(dry ? `{extensionAttributeId-${extensionAttributeIds.length + 1}}` : jsonId(res, `extension attribute ${ea.name}`));
  }
  return { packageId, profileIds, policyId, extensionAttributeIds, retries: http.retries.length };
}
