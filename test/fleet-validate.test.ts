// `holdfast-deploy validate`: the schema is the one source of truth; every bad field is named with its JSON path,
// its (masked) value and what is allowed; hostile values are rejected before any generator sees them.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFleet, FleetValidationError, resolveSecrets } from '../fleet/load.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

let dir: string;
let demo: Record<string, any>;

const validate = (...args: string[]) => runProcess(process.execPath, [deployBin, 'validate', ...args], { cwd: repoRoot });
const validateWith = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  runProcess(process.execPath, [deployBin, 'validate', ...args], { cwd: repoRoot, env: { ...process.env, ...env } });

async function fleetWith(name: string, change: (f: Record<string, any>) => void): Promise<string> {
  const f = structuredClone(demo);
  change(f);
  const file = join(dir, `${name}.fleet.json`);
  await writeFile(file, JSON.stringify(f));
  return file;
}

function issuesOf(text: string, change: (f: Record<string, any>) => void): FleetValidationError['issues'] {
  const f = structuredClone(demo);
  change(f);
  try {
    parseFleet(JSON.stringify(f), text);
  } catch (err) {
    if (err instanceof FleetValidationError) return err.issues;
    throw err;
  }
  return [];
}

beforeAll(async () => {
  dir = await tempDir('holdfast-fleet-');
  demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  delete demo.$schema;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('fleet validation', () => {
  it('accepts every example fleet (a folder expands to its *.fleet.json)', async () => {
    const r = await validate('examples/fleets');
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/acme\.fleet\.json: ok \(fleet acme, version 1\.2\.0\)/);
    expect(r.stdout).toMatch(/demo\.fleet\.json: ok/);
    expect(r.stdout).toMatch(/2 valid, 0 invalid/);
  });

  it('names path, value and what is allowed for each bad field, exits 1, never shows a secret', async () => {
    const file = await fleetWith('bad', (f) => {
      f.fleet = 'Bad Name';
      f.technicianId = 'SECRET"<TECH';
      f.registration.primary = 'backup.example.com:16384';
      f.serverSubnets = ['10.0.0.0/33'];
      f.proxy = { type: 'socks5', host: 'proxy.example', port: 70000, password: 'pw\nSECRETPW' };
      f.unknownField = true;
    });
    const r = await validate(file, '--json');
    expect(r.code).toBe(1);
    const [result] = JSON.parse(r.stdout);
    const byPath = Object.fromEntries(result.issues.map((i: any) => [i.path, i]));
    expect(byPath['/fleet']).toMatchObject({ value: '"Bad Name"', allowed: expect.stringContaining('lower-case letters') });
    expect(byPath['/registration/primary'].allowed).toMatch(/host names are rejected/);
    expect(byPath['/serverSubnets/0'].value).toBe('"10.0.0.0/33"');
    expect(byPath['/proxy/port'].allowed).toMatch(/1 to 65535/);
    expect(byPath['/unknownField'].allowed).toMatch(/known fields: fleet, customer/);
    expect(byPath['/technicianId'].value).toBe('(hidden secret)');
    expect(byPath['/proxy/password'].value).toBe('(hidden secret)');
    const text = await validate(file);
    expect(text.code).toBe(1);
    for (const out of [r.output, text.output]) {
      expect(out).not.toContain('SECRET"<TECH');
      expect(out).not.toContain('SECRETPW');
    }
    expect(text.stdout).toMatch(
      /\/registration\/primary: "backup\.example\.com:16384" is not allowed: "backup\.example\.com" is not an IP address \(agents connect by IP, no DNS\); expected IPv4:port/,
    );
  });

  it.each([
    ['customer with a line break', (f: any) => (f.customer = 'ACME\nInjected: yes'), '/customer'],
    ['customer of 10 kB', (f: any) => (f.customer = 'x'.repeat(10_240)), '/customer'],
    ['exclude pattern of 10 kB', (f: any) => (f.backup.exclude = ['y'.repeat(10_240)]), '/backup/exclude/0'],
    ['include with a NUL', (f: any) => (f.backup.include = ['C:\\a\u0000b']), '/backup/include/0'],
    ['vendor with XML', (f: any) => (f.branding.vendor = 'Evil<Vendor>'), '/branding/vendor'],
    ['vendor with a quote', (f: any) => (f.branding.vendor = 'Evil"Vendor'), '/branding/vendor'],
    ['product with ]]>', (f: any) => (f.branding.product = 'P]]>'), '/branding/product'],
    ['product with $(...)', (f: any) => (f.branding.product = 'P$(reboot)'), '/branding/product'],
    ['product with a backtick', (f: any) => (f.branding.product = 'P`id`'), '/branding/product'],
    ['product with a backslash (registry path)', (f: any) => (f.branding.product = 'A\\B'), '/branding/product'],
    ['product ending in a dot (Windows drops it)', (f: any) => (f.branding.product = 'Backup Inc.'), '/branding/product'],
    ['fleet id escaping its folder', (f: any) => (f.fleet = '../x'), '/fleet'],
    ['proxy host with a shell command', (f: any) => (f.proxy = { type: 'http', host: '$(id)', port: 8080 }), '/proxy/host'],
    ['proxy user with a line break', (f: any) => (f.proxy = { type: 'http', host: '10.0.0.1', port: 8080, username: 'a\r\nb' }), '/proxy/username'],
    ['support URL with a quote', (f: any) => (f.branding.supportUrl = 'https://x.test/"onload'), '/branding/supportUrl'],
    ['registration by host name', (f: any) => (f.registration.alternate = 'reg.example.com:16384'), '/registration/alternate'],
    ['same primary and alternate', (f: any) => (f.registration.alternate = f.registration.primary), '/registration/alternate'],
    ['version above 255', (f: any) => (f.version = '256.0.0'), '/version'],
  ])('rejects %s', (_name, change, path) => {
    const issues = issuesOf('hostile', change);
    expect(issues.map((i) => i.path)).toContain(path);
    const issue = issues.find((i) => i.path === path)!;
    expect(issue.allowed.length).toBeGreaterThan(5);
    expect(issue.message.length).toBeLessThan(600); // a 10 kB value is cut, not echoed
  });

  it('accepts punctuation the installers escape: quotes, &, <, ]]>, $(...) and backticks in the customer name', () => {
    const f = structuredClone(demo);
    f.customer = `O'Brien "&" <Sons> ]]> $(x) \`y\` [P] {z}`;
    f.branding.vendor = "O'Brien & Sons (IT), Ltd";
    expect(parseFleet(JSON.stringify(f)).customer).toBe(f.customer);
  });

  it('checks the files a fleet names: escrow key and signing certificate/key must exist and be PEM', async () => {
    await writeFile(join(dir, 'not-a-key.pem'), 'hello');
    const file = await fleetWith('files', (f) => {
      f.escrowPublicKey = 'not-a-key.pem';
      f.signing = { windows: { certificate: 'missing-cert.pem', key: 'not-a-key.pem' } };
    });
    const r = await validate(file);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\/escrowPublicKey: "not-a-key\.pem" is not in the expected PEM format; expected a readable PEM public key file/);
    expect(r.stdout).toMatch(/\/signing\/windows\/certificate: "missing-cert\.pem" cannot be read \(ENOENT\)/);
    expect(r.stdout).toMatch(/\/signing\/windows\/key: "not-a-key\.pem" is not in the expected PEM format/);
  });

  it('refuses two files with the same fleet id (both would write dist/<fleet>)', async () => {
    const sub = join(dir, 'dup');
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, 'a.fleet.json'), JSON.stringify(demo));
    await writeFile(join(sub, 'b.fleet.json'), JSON.stringify(demo));
    const r = await validate(sub);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\/fleet: "demo" is also the fleet id of .*a\.fleet\.json/);
  });

  it('secrets from {"env": NAME} meet the rules typed ones do; errors name the field and the variable, never the value', async () => {
    const file = await fleetWith('envsecrets', (f) => {
      f.technicianId = { env: 'HF_TEST_TECH_ID' };
      f.proxy = { type: 'http', host: '10.0.0.1', port: 8080, username: 'agent', password: { env: 'HF_TEST_PROXY_PW' } };
    });
    const hostile = { HF_TEST_TECH_ID: 'TECH"\nINJECTED=1', HF_TEST_PROXY_PW: 'q'.repeat(10_000) };
    const r = await validateWith(hostile, file, '--json');
    expect(r.code, r.output).toBe(1);
    const byPath = Object.fromEntries(JSON.parse(r.stdout)[0].issues.map((i: any) => [i.path, i]));
    expect(byPath['/technicianId']).toMatchObject({ value: '{"env":"HF_TEST_TECH_ID"}', allowed: "4-64 letters, digits or '-'" });
    expect(byPath['/technicianId'].message).toMatch(/^\/technicianId: the value of environment variable HF_TEST_TECH_ID is not allowed/);
    expect(byPath['/proxy/password']).toMatchObject({ value: '{"env":"HF_TEST_PROXY_PW"}', allowed: '1-255 characters without control characters' });
    const text = await validateWith(hostile, file);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\/proxy\/password: the value of environment variable HF_TEST_PROXY_PW is not allowed/);
    for (const out of [r.output, text.output]) {
      expect(out).not.toContain('INJECTED');
      expect(out).not.toContain('qqqqqqqq');
    }
    // The same values typed into the file are refused by the same rules.
    expect(issuesOf('typed', (f) => (f.technicianId = hostile.HF_TEST_TECH_ID)).map((i) => i.path)).toContain('/technicianId');
    // Good values pass; unset ones are fine for validate (they may come at install time).
    expect((await validateWith({ HF_TEST_TECH_ID: 'GOOD-TECH-0001', HF_TEST_PROXY_PW: 'fine pass phrase' }, file)).code).toBe(0);
    expect((await validateWith({ HF_TEST_TECH_ID: '', HF_TEST_PROXY_PW: '' }, file)).code).toBe(0);
  });

  it('generate resolves secrets with the same checks: a signing password with a line break is refused, named by its variable', () => {
    const f = structuredClone(demo);
    f.signing = { windows: { certificate: 'c.pem', key: 'k.pem', password: { env: 'HF_TEST_SIGN_PW' } } };
    const fleet = parseFleet(JSON.stringify(f));
    let err: unknown;
    try {
      resolveSecrets(fleet, { HF_TEST_SIGN_PW: 'line1\nline2' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FleetValidationError);
    const issue = (err as FleetValidationError).issues[0];
    expect(issue).toMatchObject({
      path: '/signing/windows/password',
      value: '{"env":"HF_TEST_SIGN_PW"}',
      allowed: '1-1024 characters without control characters',
    });
    expect((err as Error).message).not.toContain('line1');
    expect(resolveSecrets(fleet, { HF_TEST_SIGN_PW: 'a good one' }).signingPassword).toBe('a good one');
  });

  it('reports unreadable and non-JSON files without stopping at the first', async () => {
    const broken = join(dir, 'broken.fleet.json');
    await writeFile(broken, '{ "fleet": ');
    const r = await validate(broken, join(dir, 'missing.fleet.json'), 'examples/fleets/demo.fleet.json');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/not valid JSON/);
    expect(r.stdout).toMatch(/cannot read fleet file: ENOENT/);
    expect(r.stdout).toMatch(/1 valid, 2 invalid/);
  });
});
