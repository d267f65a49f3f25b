// GPO templates: ADMX and en-US ADML well-formed (xmllint) and consistent (every string, presentation and
// element id referenced exists), registry names equal to what the agent reads, hostile values escaped, and
// the startup script's silent msiexec line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { POLICY_ADDRESS_MAP_KEY, POLICY_EXCLUSIONS_KEY, POLICY_VALUES } from '../agent/policy.js';
import { loadFleet, parseFleet } from '../fleet/load.js';
import type { Fleet } from '../fleet/types.js';
import { gpoTarget, renderGpoFiles } from '../deployer/targets/gpo.js';
import { repoRoot } from './helpers/paths.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hf-gpo-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Values of an XPath over a file (xmllint), namespace-agnostic by local-name(). */
function xpath(file: string, expr: string): string[] {
  try {
    const out = execFileSync('xmllint', ['--xpath', expr, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return [...out.matchAll(/="([^"]*)"/g)].map((m) =>
      m[1]
        .replace(/&amp;/g, '&')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'"),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('xmllint is missing: apt-get install -y libxml2-utils');
    if ((err as { status?: number }).status === 10) return []; // XPath matched nothing
    throw err;
  }
}
const el = (name: string) => `*[local-name()='${name}']`;

function writeFiles(fleet: Fleet): { admx: string; adml: string; script: string; files: Record<string, string> } {
  const dir = mkdtempSync(join(work, 'out-'));
  const files = renderGpoFiles(fleet);
  execFileSync('mkdir', ['-p', join(dir, 'en-US')]);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const admx = Object.keys(files).find((n) => n.endsWith('.admx'))!;
  const adml = Object.keys(files).find((n) => n.endsWith('.adml'))!;
  const script = Object.keys(files).find((n) => n.endsWith('.cmd'))!;
  return { admx: join(dir, admx), adml: join(dir, adml), script: join(dir, script), files };
}

function checkConsistent(admx: string, adml: string): void {
  execFileSync('xmllint', ['--noout', admx, adml]);
  const strings = new Set(xpath(adml, `//${el('stringTable')}/${el('string')}/@id`));
  const presentations = new Set(xpath(adml, `//${el('presentationTable')}/${el('presentation')}/@id`));
  const admxText = readFileSync(admx, 'utf8');
  const stringRefs = [...admxText.matchAll(/\$\(string\.([^)]+)\)/g)].map((m) => m[1]);
  const presentationRefs = [...admxText.matchAll(/\$\(presentation\.([^)]+)\)/g)].map((m) => m[1]);
  expect(stringRefs.length).toBeGreaterThan(20);
  for (const id of stringRefs) expect(strings.has(id), `string ${id}`).toBe(true);
  for (const id of presentationRefs) expect(presentations.has(id), `presentation ${id}`).toBe(true);
  // Every presentation control refers to an element of the policy that uses the presentation, and back.
  for (const policy of xpath(admx, `//${el('policy')}/@name`)) {
    const pres = xpath(admx, `//${el('policy')}[@name='${policy}']/@presentation`)[0].replace(/^\$\(presentation\.|\)$/g, '');
    const elementIds = xpath(admx, `//${el('policy')}[@name='${policy}']/${el('elements')}/*/@id`).sort();
    const refIds = xpath(adml, `//${el('presentation')}[@id='${pres}']/*/@refId`).sort();
    expect(refIds, policy).toEqual(elementIds);
  }
  // Categories and supportedOn referenced exist.
  const categories = new Set(xpath(admx, `//${el('categories')}/${el('category')}/@name`));
  for (const ref of xpath(admx, `//${el('policy')}/${el('parentCategory')}/@ref`)) expect(categories.has(ref)).toBe(true);
  const supported = new Set(xpath(admx, `//${el('supportedOn')}/${el('definitions')}/${el('definition')}/@name`));
  for (const ref of xpath(admx, `//${el('policy')}/${el('supportedOn')}/@ref`)) expect(supported.has(ref)).toBe(true);
}

describe('GPO templates', () => {
  it('ADMX/ADML of the example fleet are well-formed, consistent and name the registry values the agent reads', async () => {
    const { fleet } = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const { admx, adml } = writeFiles(fleet);
    checkConsistent(admx, adml);
    expect(new Set(xpath(admx, `//${el('policy')}/@key`))).toEqual(new Set(['Software\\Policies\\ACME IT\\ACME Backup']));
    expect(xpath(admx, `//${el('policy')}/@class`).every((c) => c === 'Machine')).toBe(true);
    const valueNames = xpath(admx, `//${el('elements')}/*/@valueName`).sort();
    expect(valueNames).toEqual(Object.values(POLICY_VALUES).sort());
    expect(xpath(admx, `//${el('list')}/@key`)).toEqual([
      `Software\\Policies\\ACME IT\\ACME Backup\\${POLICY_EXCLUSIONS_KEY}`,
      `Software\\Policies\\ACME IT\\ACME Backup\\${POLICY_ADDRESS_MAP_KEY}`,
    ]);
    const admxText = readFileSync(admx, 'utf8');
    for (const t of ['none', 'socks4', 'socks4a', 'socks5', 'http']) expect(admxText).toContain(`<string>${t}</string>`);
    // The ADML defaults show this fleet's values.
    const admlText = readFileSync(adml, 'utf8');
    expect(admlText).toContain('<defaultValue>12.159.133.10:16384</defaultValue>');
    expect(admlText).toContain('<defaultValue>21:30</defaultValue>');
    expect(admlText).toMatch(/dropdownList refId="ProxyType" noSort="true" defaultItem="3"/); // socks5
  });

  it('escapes hostile vendor, product and customer names (XML and XML comments)', () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    doc.fleet = 'x--y-';
    doc.customer = `<script>&amp;"quotes" ]]> -- --> \`$(whoami)\``;
    doc.branding.vendor = `Smith & O'Neil (UK)`;
    doc.branding.product = `Back--up <1>`.replace(/[<>]/g, '');
    const fleet = parseFleet(JSON.stringify(doc), 'hostile.fleet.json');
    const { admx, adml } = writeFiles(fleet);
    checkConsistent(admx, adml);
    expect(new Set(xpath(admx, `//${el('policy')}/@key`))).toEqual(new Set([`Software\\Policies\\Smith & O'Neil (UK)\\Back--up 1`]));
    const displayName = execFileSync('xmllint', ['--xpath', `string(//${el('displayName')})`, adml], { encoding: 'utf8' }).replace(/\n$/, '');
    expect(displayName).toBe(`Back--up 1 (<script>&amp;"quotes" ]]> -- --> \`$(whoami)\`)`);
    // Comments survive: no "--" inside them.
    for (const f of [admx, adml]) for (const c of readFileSync(f, 'utf8').matchAll(/<!--([\s\S]*?)-->/g)) expect(c[1]).not.toContain('--');
  });

  it('the startup script installs silently once, with CRLF line ends, and the target writes every file', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const out = mkdtempSync(join(work, 'target-'));
    const artifacts = await gpoTarget.make({ loaded, secrets: {}, outDir: out, cacheDir: out, previous: [], progress: () => {} });
    expect(artifacts.map((a) => a.path.slice(out.length + 1)).sort()).toEqual([
      'gpo/en-US/holdfast-acme.adml',
      'gpo/holdfast-acme.admx',
      'gpo/install-holdfast-acme.cmd',
    ]);
    const script = readFileSync(join(out, 'gpo/install-holdfast-acme.cmd'), 'utf8');
    expect(script.split('\r\n').length).toBeGreaterThan(10);
    expect(script.replace(/\r\n/g, '')).not.toContain('\n');
    expect(script).toContain('msiexec /i "%MSI%" /qn /norestart /l*v "%WINDIR%\\Temp\\holdfast-acme-install.log"');
    expect(script).toContain('set "MARKER=%ProgramData%\\Holdfast\\acme-1.2.0.installed"');
    expect(artifacts.find((a) => a.path.endsWith('.cmd'))!.installCommands![0]).toMatchObject({ channel: 'gpo' });
  });
});
