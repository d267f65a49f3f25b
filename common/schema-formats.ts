// The string formats Holdfast's JSON Schemas use, shared by the Ajv set-up (common/schema-validators.ts) and the
// validators generated from it at build time.
import { parseCidr, parseEndpoint } from './endpoint.js';

export const SCHEMA_FORMATS: Record<string, (s: string) => boolean> = {
  /** IPv4:port or [IPv6]:port, never a host name (common/endpoint.ts). */
  'ip-port': (s) => parseEndpoint(s) !== undefined,
  cidr: (s) => parseCidr(s) !== undefined,
};
