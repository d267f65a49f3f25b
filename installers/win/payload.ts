// The shared payload MSI: node.exe, the agent bundle and the service wrapper, built by wixl ONCE and cached
// by the content hashes of everything in it. Fleets never rebuild it: patch.ts rewrites a copy's tables.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { nodeRuntime } from '../runtimes.js';
import { exportTable, type MsiTable } from './msi-tables.js';
import { hardenPayload } from './harden.js';
import { buildConfigureDll, buildServiceWrapper } from './service-wrapper.js';
import { signerFingerprint, signFile, type SignOptions } from './sign.js';
import { repoFile, runTool } from './tools.js';
import { renderWxs, wxsTemplateText, type WxsValues } from './wxs.js';

/** Raise when the payload layout or the patching contract changes, so old cached payloads are not reused. */
const PAYLOAD_FORMAT = 5;

/** Tables patch.ts rewrites per fleet; exported once with the payload. */
export const PATCHED_TABLES = [
  'Property',
  'Upgrade',
  'Directory',
  'Registry',
  'ServiceInstall',
  'ServiceControl',
  'MsiServiceConfigFailureActions',
  'Component',
  'File',
  'Media',
] as const;

const KEPT_IN_CACHE = ['payload.msi', 'tables.json', 'product.wxs'];

export interface Payload {
  /** The payload MSI with neutral values: copy it, never modify it. */
  msi: string;
  key: string;
  tables: Record<(typeof PATCHED_TABLES)[number], MsiTable>;
  /** True when this call built it, false when it came from the cache. */
  built: boolean;
}

export interface PayloadOptions {
  cacheDir: string;
  /** The agent bundle to ship; default dist/holdfast-agent.mjs (HOLDFAST_AGENT_BUNDLE overrides). */
  agentBundle?: string;
  progress?: (message: string) => void;
  /** Authenticode identity the executables inside are signed with before packaging (the payload is then per signer). */
  sign?: SignOptions;
}

// Neutral values the payload is built with; every one of them is overwritten per fleet.
const NEUTRAL = {
  upgradeCode: '00000000-0000-0000-0000-000000000000',
  productCode: '00000000-0000-0000-0000-000000000001',
  product: 'Holdfast Backup',
  vendor: 'Holdfast',
  version: '0.0.1',
  fleet: 'payload',
  customerFormatted: 'payload',
  keepIdentity: '1',
  serviceName: 'HoldfastBackup',
  guids: {
    runtime: '00000000-0000-0000-0000-000000000011',
    agent: '00000000-0000-0000-0000-000000000012',
    service: '00000000-0000-0000-0000-000000000013',
    fleet: '00000000-0000-0000-0000-000000000014',
    registry: '00000000-0000-0000-0000-000000000015',
    data: '00000000-0000-0000-0000-000000000016',
  },
} as const;

export function agentBundlePath(explicit?: string): string {
  const path = explicit ?? process.env.HOLDFAST_AGENT_BUNDLE ?? repoFile('dist/holdfast-agent.mjs');
  if (!existsSync(path)) throw new Error(`agent bundle ${path} does not exist: run "npm run build" first`);
  return path;
}

const fileHashes = new Map<string, string>();

async function hashFile(path: string): Promise<string> {
  const { size, mtimeMs } = await stat(path);
  const memo = `${path}\0${size}\0${mtimeMs}`;
  const known = fileHashes.get(memo);
  if (known) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  fileHashes.set(memo, digest);
  return digest;
}

const inProcess = new Map<string, Promise<Payload>>();

/**
 * `file` Authenticode-signed by `sign`, cached by file and signer: a fleet signed like the last one reuses the signed
 * executables (timestamp included), and with them the payload built from them.
 */
async function signedCopy(cacheDir: string, file: string, sign: SignOptions, progress: (message: string) => void): Promise<string> {
  const name = basename(file);
  const dir = join(
    cacheDir,
    'signed',
    createHash('sha256')
      .update(`${await hashFile(file)}\0${await signerFingerprint(sign)}`)
      .digest('hex')
      .slice(0, 20),
  );
  const signed = join(dir, name);
  if (existsSync(signed)) return signed;
  progress(`signing ${name} before packaging${sign.timestampUrl ? ' (timestamped)' : ''}`);
  await mkdir(dir, { recursive: true });
  const partial = `${signed}.${process.pid}.partial`;
  await signFile(file, partial, sign, dir);
  await rename(partial, signed);
  return signed;
}

/** The payload for the current agent bundle, runtime, wrapper and template: from the cache, or built now. */
export async function ensurePayload(opts: PayloadOptions): Promise<Payload> {
  const progress = opts.progress ?? (() => {});
  const agent = agentBundlePath(opts.agentBundle);
  const nodeExe = await nodeRuntime('win-x64', opts.cacheDir);
  let serviceExe = await buildServiceWrapper(opts.cacheDir);
  let configureDll = await buildConfigureDll(opts.cacheDir);
  if (opts.sign) {
    serviceExe = await signedCopy(opts.cacheDir, serviceExe, opts.sign, progress);
    configureDll = await signedCopy(opts.cacheDir, configureDll, opts.sign, progress);
  }
  const parts = [
    `format ${PAYLOAD_FORMAT}`,
    await hashFile(agent),
    await hashFile(nodeExe),
    await hashFile(serviceExe),
    await hashFile(configureDll),
    await wxsTemplateText(),
  ];
  const key = createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 20);
  const memo = `${opts.cacheDir}\0${key}`;
  let pending = inProcess.get(memo);
  if (pending) progress(`payload ${key} from cache (built earlier in this run)`);
  else {
    pending = loadOrBuild(opts.cacheDir, key, { agent, nodeExe, serviceExe, configureDll }, progress);
    inProcess.set(memo, pending);
    pending.catch(() => inProcess.delete(memo));
  }
  return pending;
}

async function loadOrBuild(
  cacheDir: string,
  key: string,
  files: { agent: string; nodeExe: string; serviceExe: string; configureDll: string },
  progress: (message: string) => void,
): Promise<Payload> {
  const dir = join(cacheDir, 'msi-payload', key);
  const msi = join(dir, 'payload.msi');
  const tablesFile = join(dir, 'tables.json');
  if (existsSync(tablesFile)) {
    progress(`payload ${key} from cache`);
    const now = new Date();
    await utimes(dir, now, now).catch(() => {}); // most recently used: kept by prunePayloads
    return { msi, key, tables: JSON.parse(await readFile(tablesFile, 'utf8')), built: false };
  }
  progress(`building payload ${key} with wixl (node.exe, agent bundle, service wrapper, configure action)`);
  await mkdir(join(cacheDir, 'msi-payload'), { recursive: true });
  const stage = await mkdtemp(join(cacheDir, 'msi-payload', `.build-${key}-`));
  try {
    await copyFile(files.nodeExe, join(stage, 'node.exe'));
    await copyFile(files.agent, join(stage, 'holdfast-agent.mjs'));
    await copyFile(files.serviceExe, join(stage, 'holdfast-service.exe'));
    await copyFile(files.configureDll, join(stage, 'holdfast-msi-ca.dll'));
    const values: WxsValues = {
      ...NEUTRAL,
      guids: { ...NEUTRAL.guids },
      payload: { nodeExe: 'node.exe', agentBundle: 'holdfast-agent.mjs', serviceExe: 'holdfast-service.exe', configureDll: 'holdfast-msi-ca.dll' },
    };
    await writeFile(join(stage, 'product.wxs'), await renderWxs(values));
    await runTool('wixl', ['-a', 'x64', '-o', 'payload.msi', 'product.wxs'], { cwd: stage });
    await hardenPayload(join(stage, 'payload.msi'), stage);
    const tables = {} as Payload['tables'];
    for (const name of PATCHED_TABLES) tables[name] = await exportTable(join(stage, 'payload.msi'), name);
    await writeFile(join(stage, 'tables.json'), JSON.stringify(tables));
    // The cache keeps the MSI, its tables and the WXS it came from; inputs and .idt files go.
    for (const f of await readdir(stage)) if (!KEPT_IN_CACHE.includes(f)) await rm(join(stage, f));
    // Another process may have built the same payload meanwhile; either copy is the same.
    await rename(stage, dir).catch(async (err) => {
      if (!existsSync(tablesFile)) throw err;
      await rm(stage, { recursive: true, force: true });
    });
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
  await prunePayloads(cacheDir, key);
  return { msi, key, tables: JSON.parse(await readFile(tablesFile, 'utf8')), built: true };
}

/** Payloads kept in the cache (about 35 MB each); older ones go when a new one is built. */
export const PAYLOADS_KEPT = 4;

/** Removes all but the PAYLOADS_KEPT most recently used payloads (never `current`). */
export async function prunePayloads(cacheDir: string, current: string): Promise<void> {
  const root = join(cacheDir, 'msi-payload');
  const entries = await Promise.all(
    (await readdir(root)).filter((n) => !n.startsWith('.')).map(async (n) => ({ n, t: (await stat(join(root, n)).catch(() => undefined))?.mtimeMs ?? 0 })),
  );
  entries.sort((a, b) => b.t - a.t);
  for (const { n } of entries.filter((e) => e.n !== current).slice(PAYLOADS_KEPT - 1)) await rm(join(root, n), { recursive: true, force: true });
}
