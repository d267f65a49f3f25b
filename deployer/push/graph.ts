// Push a Win32 app to Microsoft Intune through Microsoft Graph (beta), the documented upload flow:
// token, app, content version, file entry, storage URI, blocks + block list, commit, committed version, assign.
import { Buffer } from 'node:buffer';
import { setTimeout as delay } from 'node:timers/promises';

import type { IntuneWinPackage } from '../../installers/intune/intunewin.js';
import type { GraphBody } from '../../installers/intune/graph-app.js';
import { HttpClient, HttpError } from './http.js';

export interface GraphPushOptions {
  tenantId: string;
  clientId: string;
  /** From the environment only; never printed. */
  clientSecret: string;
  /** Graph API root, default https://graph.microsoft.com/beta. */
  graphUrl?: string;
  /** Entra ID (login) root, default https://login.microsoftonline.com. */
  authorityUrl?: string;
  /** Entra group the app is assigned to (required intent); omit to skip the assignment. */
  groupId?: string;
  intent?: 'required' | 'available';
  /** Block size for the storage upload (Graph uploaders use 6 MiB). */
  blockSize?: number;
  pollIntervalMs?: number;
  pollTimeoutMs?: number;
  dryRun?: boolean;
  log?: (line: string) => void;
  http?: Partial<ConstructorParameters<typeof HttpClient>[0]>;
}

export interface GraphPushResult {
  appId: string;
  contentVersionId: string;
  fileId: string;
  blocks: number;
  retries: number;
  assigned: boolean;
}

const APP_TYPE = 'microsoft.graph.win32LobApp';

/** Upload the .intunewin described by `app` (the win32LobApp body the intune target wrote). */
export async function pushIntuneApp(pkg: IntuneWinPackage, app: GraphBody, options: GraphPushOptions): Promise<GraphPushResult> {
  const log = options.log ?? (() => {});
  const http = new HttpClient({ service: 'Microsoft Graph', dryRun: options.dryRun, log, ...options.http });
  const graph = (options.graphUrl ?? 'https://graph.microsoft.com/beta').replace(/\/+$/, '');
  const authority = (options.authorityUrl ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
  const dry = http.dryRun;
  const pollInterval = options.pollIntervalMs ?? 5000;
  const pollTimeout = options.pollTimeoutMs ?? 10 * 60_000;

  // Client credentials, the documented v2.0 token request (docs/mdm.md: why not msal-node here).
  log('graph: requesting a token (client credentials)');
  const tokenRes = await http.request({
    step: 'token',
    method: 'POST',
    url: `${authority}/${encodeURIComponent(options.tenantId)}/oauth2/v2.0/token`,
    body: { form: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret, scope: `${new URL(graph).origin}/.default` } },
  });
  const token = dry ? 'DRY-RUN-TOKEN' : stringField(tokenRes.json, 'access_token', 'token');
  const auth = { authorization: `Bearer ${token}` };

  log(`graph: creating the app ${JSON.stringify(String(app.displayName ?? ''))}`);
  const created = await http.request({ step: 'create app', method: 'POST', url: `${graph}/deviceAppManagement/mobileApps`, headers: auth, body: { json: app } });
  const appId = dry ? '{appId}' : stringField(created.json, 'id', 'create app');
  const appUrl = `${graph}/deviceAppManagement/mobileApps/${appId}`;

  const version = await http.request({ step: 'content version', method: 'POST', url: `${appUrl}/${APP_TYPE}/contentVersions`, headers: auth, body: { json: {} } });
  const contentVersionId = dry ? '{contentVersionId}' : stringField(version.json, 'id', 'content version');
  const versionUrl = `${appUrl}/${APP_TYPE}/contentVersions/${contentVersionId}`;

  const fileRes = await http.request({
    step: 'file entry',
    method: 'POST',
    url: `${versionUrl}/files`,
    headers: auth,
    body: {
      json: {
        '@odata.type': '#microsoft.graph.mobileAppContentFile',
        name: pkg.info.fileName,
        size: pkg.info.unencryptedContentSize,
        sizeEncrypted: pkg.encrypted.length,
        manifest: null,
        isDependency: false,
      },
    },
  });
  const fileId = dry ? '{fileId}' : stringField(fileRes.json, 'id', 'file entry');
  const fileUrl = `${versionUrl}/files/${fileId}`;

  const poll = async (step: string, want: string, failed: string): Promise<Record<string, unknown>> => {
    if (dry) {
      log(`[dry-run] ${step}: GET ${fileUrl} until uploadState is ${want}`);
      return { azureStorageUri: 'https://{storageAccount}.blob.core.windows.net/{container}/{blob}?sv={sv}&sig=***' };
    }
    const deadline = Date.now() + pollTimeout;
    for (;;) {
      const res = await http.request({ step, method: 'GET', url: fileUrl, headers: auth });
      const body = res.json as Record<string, unknown>;
      const state = String(body?.uploadState ?? '');
      if (state === want) return body;
      if (state === failed || /failed|timedout/i.test(state)) throw new HttpError(`Microsoft Graph: ${step}: upload state ${state}`, res.status, step);
      if (Date.now() > deadline) throw new HttpError(`Microsoft Graph: ${step}: still ${state || 'pending'} after ${pollTimeout / 1000} s`, res.status, step);
      await delay(pollInterval);
    }
  };

  log('graph: waiting for the storage URI');
  const pending = await poll('storage URI', 'azureStorageUriRequestSuccess', 'azureStorageUriRequestFailed');
  let sas = String(pending.azureStorageUri ?? '');
  if (!dry && !/^https?:\/\//.test(sas)) throw new HttpError('Microsoft Graph: storage URI: the file entry carries no azureStorageUri', 200, 'storage URI');

  const blockSize = options.blockSize ?? 6 * 1024 * 1024;
  const blockIds: string[] = [];
  const data = pkg.encrypted;
  const total = Math.max(1, Math.ceil(data.length / blockSize));
  let renewedAt = Date.now();
  for (let i = 0; i < total; i++) {
    // The SAS URI lives about 10 minutes: renew it well before on long uploads.
    if (!dry && Date.now() - renewedAt > 7 * 60_000) {
      await http.request({ step: 'renew upload', method: 'POST', url: `${fileUrl}/renewUpload`, headers: auth, body: { json: {} } });
      sas = String((await poll('storage URI', 'azureStorageUriRenewalSuccess', 'azureStorageUriRenewalFailed')).azureStorageUri ?? sas);
      renewedAt = Date.now();
    }
    // Block ids must all have the same length: a fixed-width counter, base64.
    const id = Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64');
    blockIds.push(id);
    log(`graph: uploading block ${i + 1}/${total}`);
    await http.request({
      step: `upload block ${i + 1}/${total}`,
      method: 'PUT',
      url: `${sas}&comp=block&blockid=${encodeURIComponent(id)}`,
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      body: { bytes: data.subarray(i * blockSize, Math.min(data.length, (i + 1) * blockSize)) },
    });
  }
  const blockList = `<?xml version="1.0" encoding="utf-8"?><BlockList>${blockIds.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  await http.request({ step: 'block list', method: 'PUT', url: `${sas}&comp=blocklist`, body: { text: blockList, contentType: 'application/xml' } });

  const e = pkg.info.encryptionInfo;
  log('graph: committing the file');
  await http.request({
    step: 'commit',
    method: 'POST',
    url: `${fileUrl}/commit`,
    headers: auth,
    body: {
      json: {
        fileEncryptionInfo: {
          '@odata.type': 'microsoft.graph.fileEncryptionInfo',
          encryptionKey: e.encryptionKey,
          macKey: e.macKey,
          initializationVector: e.initializationVector,
          mac: e.mac,
          profileIdentifier: e.profileIdentifier,
          fileDigest: e.fileDigest,
          fileDigestAlgorithm: e.fileDigestAlgorithm,
        },
      },
    },
  });
  await poll('commit state', 'commitFileSuccess', 'commitFileFailed');

  await http.request({
    step: 'committed version',
    method: 'PATCH',
    url: appUrl,
    headers: auth,
    body: { json: { '@odata.type': `#${APP_TYPE}`, committedContentVersion: contentVersionId } },
  });

  let assigned = false;
  if (options.groupId) {
    log(`graph: assigning to group ${options.groupId}`);
    await http.request({
      step: 'assign',
      method: 'POST',
      url: `${appUrl}/assign`,
      headers: auth,
      body: {
        json: {
          mobileAppAssignments: [
            {
              '@odata.type': '#microsoft.graph.mobileAppAssignment',
              intent: options.intent ?? 'required',
              target: { '@odata.type': '#microsoft.graph.groupAssignmentTarget', groupId: options.groupId },
              settings: null,
            },
          ],
        },
      },
    });
    assigned = true;
  }
  return { appId, contentVersionId, fileId, blocks: total, retries: http.retries.length, assigned };
}

function stringField(json: unknown, field: string, step: string): string {
  const v = (json as Record<string, unknown> | undefined)?.[field];
  if (typeof v !== 'string' || v === '') throw new HttpError(`Microsoft Graph: ${step}: the response has no ${field}`, 200, step);
  return v;
}
