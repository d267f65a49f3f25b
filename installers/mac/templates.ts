// Handlebars templates under templates/mac. Compiled with noEscape: every value must go through an
// explicit escaper for its context ({{xml x}}, {{sh x}}), so a forgotten helper shows in review and tests.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { checkXmlValues, registerXmlHelpers, XML_TEMPLATE } from '../../common/xml.js';

/** Single-quoted POSIX shell word: nothing inside is expanded. */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new Error('shell values cannot contain NUL');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const hb = Handlebars.create();
registerXmlHelpers(hb);
hb.registerHelper('sh', (v: unknown) => {
  const s = String(v);
  if (/[\n\r]/.test(s)) throw new Error(`shell values cannot contain newlines (got ${JSON.stringify(s)})`);
  return shQuote(s);
});
hb.registerHelper('comment', (v: unknown) => {
  const s = String(v);
  if (/[\n\r]/.test(s)) throw new Error(`values in script comments cannot contain newlines (got ${JSON.stringify(s)})`);
  return s;
});
hb.registerHelper('int', (v: unknown) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`expected a non-negative integer, got ${JSON.stringify(v)}`);
  return String(v);
});

/** Walks up from this module (source tree or dist bundle) to the first directory holding `rel`. */
export function findUp(rel: string, from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) return undefined;
  }
}

export function templatesDir(): string {
  const dir = process.env.HOLDFAST_TEMPLATES ? join(process.env.HOLDFAST_TEMPLATES, 'mac') : findUp(join('templates', 'mac'));
  if (!dir || !existsSync(dir)) throw new Error('templates/mac not found (set HOLDFAST_TEMPLATES to the templates folder)');
  return dir;
}

const cache = new Map<string, HandlebarsTemplateDelegate>();

export async function render(name: string, data: object): Promise<string> {
  let t = cache.get(name);
  if (!t) {
    t = hb.compile(await readFile(join(templatesDir(), name), 'utf8'), { noEscape: true, strict: true });
    cache.set(name, t);
  }
  if (XML_TEMPLATE.test(name)) checkXmlValues(data, name);
  return t(data, { data: { template: name } });
}
