// Push the macOS hand-off to Jamf Pro as a plan, then an update: the package record (re-uploaded in place when
// the pkg's SHA-512 differs), the configuration profiles and the install policy (Classic API XML, found and
// updated by name), the uninstall script and an uninstall policy scoped to a group, the extension attributes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { BearerSession } from './bearer.js';
import { HttpClient, HttpError, type HttpRequest, type HttpResponse } from './http.js';
import { type JamfPolicy, jamfNames, jamfUninstallScript, policyDifferences, policyXml, profileXml, readPolicyXml, readProfileXml } from './jamf-objects.js';
import { type PlanStep, type PushPlan, formatMarker, makePlan, markerDifference, readMarker, sha256Hex } from './plan.js';

export { policyXml, profileXml } from './jamf-objects.js';

export interface JamfPushInput {
  /** The fleet id: every object name carries it (jamfNames). */
  fleet: string;
  /** The product name the names start with. */
  product: string;
  pkgFile: string;
  profiles: string[];
  /** Extension attribute scripts: name -> script file. */
  extensionAttributes: Array<{ name: string; file: string; description?: string }>;
  /** The pkg target's uninstall script; the uninstall policy runs it. */
  uninstallScript?: string;
}

export interface JamfPushOptions {
  /** Jamf Pro base URL, e.g. https://acme.jamfcloud.com. */
  url: string;
  clientId: string;
  /** From the environment only; never printed. */
  clientSecret: string;
  /** Computer group id the profiles and the install policy are scoped to. */
  groupId: string;
  /** Computer group id the uninstall policy is scoped to (and the install policy excludes); none: scoped to no computer. */
  uninstallGroupId?: string;
  dryRun?: boolean;
  log?: (line: string) => void;
  http?: Partial<ConstructorParameters<typeof HttpClient>[0]>;
}

function classicId(res: HttpResponse, step: string): string {
  if (res.dryRun) return `{${step.replace(/\W+/g, '-')}-id}`;
  const m = /<id>(\d+)<\/id>/.exec(res.text);
  if (!m) throw new HttpError(`Jamf Pro: ${step}: the response carries no <id>`, res.status, step);
  return m[1];
}

function jsonId(res: HttpResponse, step: string): string {
  if (res.dryRun) return `{${step.replace(/\W+/g, '-')}-id}`;
  const id = (res.json as { id?: unknown } | undefined)?.id;
  if (id === undefined || id === null || id === '') throw new HttpError(`Jamf Pro: ${step}: the response carries no id`, res.status, step);
  return String(id);
}

/** An RSQL equality filter with the value quoted (Jamf Pro API `filter=`). */
const rsqlEquals = (field: string, value: string) => `${field}==${JSON.stringify(value)}`;

class JamfSession {
  readonly http: HttpClient;
  readonly base: string;
  private readonly bearer: BearerSession;

  constructor(readonly options: JamfPushOptions) {
    this.http = new HttpClient({ service: 'Jamf Pro', dryRun: options.dryRun, log: options.log, ...options.http });
    this.base = options.url.replace(/\/+$/, '');
    this.bearer = new BearerSession(
      this.http,
      async () => {
        this.log('jamf: requesting a token (API client credentials)');
        const res = await this.http.request({
          step: 'token',
          method: 'POST',
          read: true,
          url: `${this.base}/api/oauth/token`,
          body: { form: { grant_type: 'client_credentials', client_id: options.clientId, client_secret: options.clientSecret } },
        });
        return BearerSession.read('Jamf Pro', res, 60);
      },
      (l) => this.log(l),
    );
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  call(req: Omit<HttpRequest, 'url'> & { path: string }): Promise<HttpResponse> {
    const { path, ...rest } = req;
    return this.bearer.call({ ...rest, url: `${this.base}${path}` });
  }

  /** The one Jamf Pro API object whose `field` equals `value`, or undefined. */
  async findOne(step: string, collection: string, field: string, value: string): Promise<Record<string, unknown> | undefined> {
    const q = new URLSearchParams({ page: '0', 'page-size': '2', filter: rsqlEquals(field, value) });
    const res = await this.call({ step, method: 'GET', path: `${collection}?${q}` });
    const results = (res.json as { results?: Array<Record<string, unknown>> } | undefined)?.results;
    if (!Array.isArray(results)) throw new HttpError(`Jamf Pro: ${step}: the response carries no results`, res.status, step);
    return results.find((r) => r[field] === value);
  }

  /** A Classic API object by name (its XML), or undefined on 404. */
  async classicByName(step: string, collection: string, name: string): Promise<string | undefined> {
    try {
      const res = await this.call({
        step,
        method: 'GET',
        path: `/JSSResource/${collection}/name/${encodeURIComponent(name)}`,
        headers: { accept: 'application/xml' },
      });
      return res.text;
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** POST to id/0 (create) or PUT to id/<id> (update in place); returns the id. */
  async classicWrite(step: string, collection: string, id: string | undefined, xml: string): Promise<string> {
    const res = await this.call({
      step,
      method: id ? 'PUT' : 'POST',
      path: `/JSSResource/${collection}/id/${id ?? '0'}`,
      headers: { accept: 'application/xml' },
      body: { text: xml, contentType: 'application/xml' },
    });
    return id ?? classicId(res, step);
  }

  /** POST to a Jamf Pro API collection (create) or PUT to its item (update); returns the id. */
  async apiWrite(step: string, collection: string, id: string | undefined, json: Record<string, unknown>): Promise<string> {
    const res = await this.call({ step, method: id ? 'PUT' : 'POST', path: id ? `${collection}/${id}` : collection, body: { json } });
    return id ?? jsonId(res, step);
  }
}

/** The fields of a found Jamf Pro API object that differ from the wanted ones (compared as strings). */
function fieldDifferences(found: Record<string, unknown>, want: Record<string, unknown>): string[] {
  return Object.keys(want).filter((k) => String(found[k] ?? '') !== String(want[k] ?? ''));
}

const PACKAGE_SETTINGS = {
  categoryId: '-1',
  priority: 10,
  fillUserTemplate: false,
  rebootRequired: false,
  osInstall: false,
  suppressUpdates: false,
  suppressFromDock: false,
  suppressEula: false,
  suppressRegistration: false,
};

export async function planJamf(input: JamfPushInput, options: JamfPushOptions): Promise<PushPlan> {
  if (!/^\d+$/.test(options.groupId))
    throw new Error(`--group: ${JSON.stringify(options.groupId)} is not allowed; expected the numeric id of a Jamf Pro computer group`);
  if (options.uninstallGroupId !== undefined && !/^\d+$/.test(options.uninstallGroupId))
    throw new Error(`--uninstall-group: ${JSON.stringify(options.uninstallGroupId)} is not allowed; expected the numeric id of a Jamf Pro computer group`);
  if (options.uninstallGroupId !== undefined && options.uninstallGroupId === options.groupId)
    throw new Error(`--uninstall-group: ${options.uninstallGroupId} is not allowed; it must differ from --group (the install policy excludes it)`);
  const s = new JamfSession(options);
  const names = jamfNames(input.product, input.fleet);
  const steps: PlanStep[] = [];
  const { groupId } = options;
  const uninstallGroups = options.uninstallGroupId ? [options.uninstallGroupId] : [];

  // Package: found by name; Jamf keeps the pkg's checksum (hashType/hashValue), compared with the local SHA-512.
  const fileName = basename(input.pkgFile);
  const bytes = await readFile(input.pkgFile);
  const sha512 = createHash('sha512').update(bytes).digest('hex');
  const record = { packageName: names.package, fileName, ...PACKAGE_SETTINGS };
  const pkg = await s.findOne('find package', '/api/v1/packages', 'packageName', names.package);
  let packageId = pkg ? String(pkg.id) : '';
  const upload = async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)], { type: 'application/octet-stream' }), fileName);
    s.log(`jamf: uploading ${fileName} (${bytes.length} bytes)`);
    await s.call({
      step: 'upload package',
      method: 'POST',
      // A large pkg over a slow line: allow about 100 kB/s, at least 10 minutes.
      timeoutMs: Math.max(600_000, bytes.length / 100),
      path: `/api/v1/packages/${packageId}/upload`,
      body: { multipart: form, describe: `file=${fileName} <${bytes.length} bytes>` },
    });
  };
  // The checksum goes into the record only after the upload, so a push cut short uploads again next time.
  const withHash = { ...record, hashType: 'SHA_512', hashValue: sha512 };
  if (!pkg) {
    steps.push({
      kind: 'package',
      name: names.package,
      action: 'create',
      reason: 'not found',
      run: async () => {
        packageId = await s.apiWrite('create package', '/api/v1/packages', undefined, record);
        await upload();
        await s.apiWrite('package checksum', '/api/v1/packages', packageId, withHash);
        return packageId;
      },
    });
  } else {
    const contentDue = pkg.hashType !== 'SHA_512' || pkg.hashValue !== sha512;
    const settings = fieldDifferences(pkg, record);
    const why = [
      ...(contentDue ? [`pkg checksum differs (SHA-512 ${String(pkg.hashValue ?? 'none').slice(0, 12)} -> ${sha512.slice(0, 12)})`] : []),
      ...settings,
    ];
    steps.push({
      kind: 'package',
      name: names.package,
      id: packageId,
      action: why.length ? 'update' : 'unchanged',
      reason: why.length ? why.join(', ') : 'same pkg checksum and settings',
      run: async () => {
        if (contentDue) {
          // The upload checks the file name against the record's: rename first when it changed.
          if (pkg.fileName !== fileName) await s.apiWrite('update package', '/api/v1/packages', packageId, { ...record, hashValue: '' });
          await upload();
        }
        await s.apiWrite('update package', '/api/v1/packages', packageId, withHash);
        return packageId;
      },
    });
  }

  // The uninstall script (Jamf Pro API scripts) the uninstall policy runs.
  let scriptId = '';
  if (input.uninstallScript) {
    const want = {
      name: names.uninstallScript,
      priority: 'AFTER',
      categoryId: '-1',
      info: `Removes ${input.product} (fleet ${input.fleet}). Parameter 4: --purge also deletes its config and identity.`,
      parameter4: 'Options (--purge, or empty)',
      scriptContents: jamfUninstallScript(await readFile(input.uninstallScript, 'utf8')),
    };
    const found = await s.findOne('find uninstall script', '/api/v1/scripts', 'name', names.uninstallScript);
    scriptId = found ? String(found.id) : '';
    const diff = found ? fieldDifferences(found, want) : [];
    steps.push({
      kind: 'script',
      name: names.uninstallScript,
      ...(found && { id: scriptId }),
      action: !found ? 'create' : diff.length ? 'update' : 'unchanged',
      reason: !found ? 'not found' : diff.length ? `${diff.join(', ')} changed` : 'same script and settings',
      run: async () => (scriptId = await s.apiWrite('uninstall script', '/api/v1/scripts', found ? scriptId : undefined, want)),
    });
  } else {
    s.log('jamf: no uninstall script beside the pkg (generate --target pkg writes it): the uninstall policy is left out');
  }

  // Profiles: found by name; the description carries the marker with the payload's and the settings' hashes.
  for (const file of input.profiles) {
    const name = names.profile(basename(file));
    const mobileconfig = await readFile(file, 'utf8');
    const want = {
      fleet: input.fleet,
      object: `profile:${basename(file)}`,
      content: sha256Hex(mobileconfig),
      settings: sha256Hex(profileXml(name, '', '', groupId)),
    };
    const description = `${input.product}: ${basename(file)} ${formatMarker(want)}`;
    const xml = await s.classicByName(`find profile ${basename(file)}`, 'osxconfigurationprofiles', name);
    const found = xml ? readProfileXml(xml) : undefined;
    const why = found && (markerDifference(readMarker(found.description), want) ?? (found.groupIds.join(',') !== groupId ? 'scope changed' : undefined));
    steps.push({
      kind: 'profile',
      name,
      ...(found && { id: found.id }),
      action: !found ? 'create' : why ? 'update' : 'unchanged',
      reason: !found ? 'not found' : (why ?? 'same payload, settings and scope'),
      run: () => s.classicWrite(`profile ${basename(file)}`, 'osxconfigurationprofiles', found?.id, profileXml(name, description, mobileconfig, groupId)),
    });
  }

  // Policies: found by name, compared field by field with what Jamf holds (package and script ids included).
  const planPolicy = async (kind: string, want: () => JamfPolicy) => {
    const xml = await s.classicByName(`find ${kind}`, 'policies', want().name);
    const found = xml ? readPolicyXml(xml) : undefined;
    const diff = found ? policyDifferences(found, want()) : [];
    steps.push({
      kind,
      name: want().name,
      ...(found && { id: found.id }),
      action: !found ? 'create' : diff.length ? 'update' : 'unchanged',
      reason: !found ? 'not found' : diff.length ? `${diff.join(', ')} changed` : 'same settings, scope and package',
      // Ids made earlier in this apply (package, script) are known only when the step runs.
      run: () => s.classicWrite(kind, 'policies', found?.id, policyXml(want())),
    });
  };
  const policy = (name: string, trigger: string, scope: string[], excluded: string[]): Omit<JamfPolicy, 'packages' | 'scripts'> => ({
    name,
    enabled: true,
    triggerCheckin: true,
    trigger,
    frequency: 'Once per computer',
    groupIds: scope,
    excludedGroupIds: excluded,
    recon: true,
  });
  await planPolicy('policy', () => ({
    ...policy(names.installPolicy, names.installTrigger, [groupId], uninstallGroups),
    packages: [{ id: packageId, action: 'Install' }],
    scripts: [],
  }));
  if (input.uninstallScript)
    await planPolicy('uninstall policy', () => ({
      ...policy(names.uninstallPolicy, names.uninstallTrigger, uninstallGroups, []),
      packages: [],
      scripts: [{ id: scriptId, priority: 'After', parameter4: '' }],
    }));

  // Extension attributes: found by name (shared by every fleet of the instance), compared field by field.
  for (const ea of input.extensionAttributes) {
    const want = {
      name: ea.name,
      description: ea.description ?? ea.name,
      dataType: 'STRING',
      enabled: true,
      inventoryDisplayType: 'EXTENSION_ATTRIBUTES',
      inputType: 'SCRIPT',
      scriptContents: await readFile(ea.file, 'utf8'),
    };
    const found = await s.findOne(`find extension attribute ${ea.name}`, '/api/v1/computer-extension-attributes', 'name', ea.name);
    const diff = found ? fieldDifferences(found, want) : [];
    steps.push({
      kind: 'extension attribute',
      name: ea.name,
      ...(found && { id: String(found.id) }),
      action: !found ? 'create' : diff.length ? 'update' : 'unchanged',
      reason: !found ? 'not found' : diff.length ? `${diff.join(', ')} changed` : 'same script and settings',
      run: () => s.apiWrite(`extension attribute ${ea.name}`, '/api/v1/computer-extension-attributes', found ? String(found.id) : undefined, want),
    });
  }
  return makePlan('Jamf Pro', input.fleet, s.http.dryRun, steps, () => s.http.retries.length);
}
