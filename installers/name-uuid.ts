// Stable ids for installer files: the MSI's component GUIDs and the macOS profiles' PayloadUUIDs must stay put
// across builds (a new id reads as a new component or a new profile), so they are derived from names.
import { createHash } from 'node:crypto';

/** RFC 4122 version-5 layout over SHA-1 of the parts (NUL-joined), upper case as Windows and Apple write them. */
export function nameUuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('\0')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
