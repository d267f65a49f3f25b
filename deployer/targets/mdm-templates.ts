// Handlebars templates of the MDM hand-off targets (templates/{gpo,firewall,guide}), found from the source
// tree and from the bundle alike, compiled once per process.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import HandlebarsModule from 'handlebars';

import { checkXmlValues, registerXmlHelpers, XML_TEMPLATE } from '../../common/xml.js';

const Handlebars = HandlebarsModule.create();
Handlebars.registerHelper('eq', (a: unknown, b: unknown) => a === b);
registerXmlHelpers(Handlebars);
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

type HandlebarsTemplateDelegate = (context: unknown, options?: { data?: object }) => string;

export interface RenderOptions {
  /**
   * HTML-escape {{values}} (HTML outputs). XML outputs (GPO ADMX/ADML) render without it and escape each value with
   * {{xml v}} / {{xmlcomment v}} (common/xml.ts); other outputs pre-escape their values.
   */
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
  if (XML_TEMPLATE.test(name)) checkXmlValues(context, name);
  return template(context, { data: { template: name } });
}
