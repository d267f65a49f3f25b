// XML values for every XML file Holdfast writes: the pkg's Distribution and PackageInfo, the xar table of contents, the WiX source,
// Intune's Detection.xml, Jamf Pro API bodies and the GPO ADMX/ADML templates.
//
// The rule: & < > " ' become entity references (so one escaper serves element text and attribute values alike);
// a character XML 1.0 cannot carry at all (control characters other than tab, line feed and carriage return,
// U+FFFE, U+FFFF, an unpaired surrogate) is an error that names the field and the character, never silently
// dropped: a value an admin typed arrives in the file as typed or the build stops. The value itself is not shown
// (it may be long, or a secret). Fleet validation rejects control characters earlier; this is the last guard.
import type Handlebars from 'handlebars';
import type { HelperOptions } from 'handlebars';

const NOT_IN_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udfff]/u;

export class XmlValueError extends Error {
  constructor(
    readonly field: string,
    readonly codePoint: number,
    readonly index: number,
  ) {
    const u = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
    super(`${field}: control characters are not allowed in XML (found ${u} at character ${index + 1}); tab, line feed and carriage return are fine`);
    this.name = 'XmlValueError';
  }
}

function checkChars(value: string, field: string): void {
  const m = NOT_IN_XML.exec(value);
  if (m) throw new XmlValueError(field, m[0].codePointAt(0)!, m.index);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Element text or attribute value. `field` names the value in the error (e.g. "Detection.xml <Name>"). */
export function xmlEscape(value: string, field: string): string {
  checkChars(value, field);
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Text inside <!-- -->: one line, and no "--" (which would end or break the comment). */
export function xmlComment(value: string, field: string): string {
  checkChars(value, field);
  return value
    .replace(/[\r\n]+/g, ' ')
    .replace(/-(?=-)/g, '- ')
    .replace(/-$/, '- ');
}

/** The reverse of xmlEscape, plus numeric character references: for reading XML Holdfast or a vendor tool wrote. */
export function xmlUnescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_m, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** Templates whose output is XML: their context goes through checkXmlValues before rendering. */
export const XML_TEMPLATE = /\.(xml|admx|adml)\.hbs$/;

/**
 * Checks every string in a template context (nested objects and arrays) by the rule above, so an error names the
 * value's path in the context ("PackageInfo.xml.hbs: identifier: control characters ...") before anything renders.
 */
export function checkXmlValues(data: unknown, where: string): void {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') checkChars(v, `${where}: ${path || 'value'}`);
    else if (v && typeof v === 'object' && !seen.has(v)) {
      seen.add(v);
      if (Array.isArray(v)) for (const [i, item] of v.entries()) walk(item, `${path}[${i}]`);
      else for (const [k, item] of Object.entries(v)) walk(item, path ? `${path}.${k}` : k);
    }
  };
  walk(data, '');
}

/**
 * {{xml value}} and {{xmlcomment value}} for templates compiled with noEscape. Render with `{ data: { template: name } }`
 * after checkXmlValues(context, name); the helpers' own errors then name only the template.
 */
export function registerXmlHelpers(hb: Pick<typeof Handlebars, 'registerHelper'>): void {
  const field = (options: HelperOptions) => `${(options.data as { template?: string } | undefined)?.template ?? 'template'} value`;
  hb.registerHelper('xml', (value: unknown, options: HelperOptions) => xmlEscape(String(value), field(options)));
  hb.registerHelper('xmlcomment', (value: unknown, options: HelperOptions) => xmlComment(String(value), field(options)));
}
