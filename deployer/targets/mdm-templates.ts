// Handlebars templates of the MDM hand-off targets (templates/{gpo,firewall,guide}), found from the source
// tree and from the bundle alike, compiled once per process.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import HandlebarsModule from 'handlebars';

const Handlebars = HandlebarsModule.create();
Handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
// '--' may not appear inside an XML comment; line breaks would end a one-line comment early.
Handlebars.registerHelper('xmlcomment', (s: unknown) =>
  String(s)
    .replace(/[\r\n]+/g, ' ')
    .replace(/-(?=-)/g, '- ')
    .replace(/-$/, '- '),
);
const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** The repository's templates/ folder: two levels up from this module, one up from dist/holdfast-deploy.mjs. */
export function templatesRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'firewall'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find the templates/ folder beside the deployer (looked up to 4 levels from the running module)');
}

type HandlebarsTemplateDelegate = (context: unknown) => string;

export interface RenderOptions {
  /** HTML-escape {{values}} (HTML and XML outputs); other outputs pre-escape their values and use {{{triple}}}. */
  escape: boolean;
}

/** Render templates/<name> with `context`. */
export function renderTemplate(name: string, context: unknown, options: RenderOptions): string {
  const key = `${name}:${options.escape}`;
  let template = compiled.get(key);
  if (!template) {
    const source = readFileSync(join(templatesRoot(), name), 'utf8');
    template = Handlebars.compile(source, { noEscape: !options.escape, strict: true });
    compiled.set(key, template);
  }
  return template(context);
}
