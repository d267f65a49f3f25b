// XML text/attribute escaping for the generated Distribution, PackageInfo and xar TOC.

// Characters XML 1.0 cannot carry at all, even as references.
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

export function xmlEscape(value: string, field = 'value'): string {
  if (FORBIDDEN.test(value)) throw new Error(`${field}: control characters are not allowed in XML (got ${JSON.stringify(value)})`);
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
