import { randomUUID } from 'node:crypto';

import { FleetValidationError, parseCidr, parseEndpoint, parseFleet } from '../../../fleet/load.js';

export interface NewFleetAnswers {
  fleet: string;
  customer: string;
  /** A Technician ID, or "$NAME" / "env:NAME" to read it from an environment variable at generate time. */
  technicianId: string;
  primary: string;
  alternate: string;
  /** Comma- or space-separated CIDR list. */
  subnets: string;
  /** The servers' TLS pin; defaults to the demo certificate's pin. */
  tlsPin?: string;
}

export const DEMO_TLS_PIN = '6D:C4:F3:16:E4:ED:A5:DB:94:C1:03:A4:49:CA:FC:58:46:AB:63:9D:67:4B:6A:13:D1:57:06:16:78:8C:30:38';

/** Check one prompt's answer as the user types; returns the problem text or undefined. */
export function checkAnswer(field: keyof NewFleetAnswers, value: string): string | undefined {
  const v = value.trim();
  switch (field) {
    case 'fleet':
      return /^[a-z0-9][a-z0-9-]{0,39}$/.test(v) ? undefined : '1-40 characters: lower-case letters, digits and "-", starting with a letter or digit';
    case 'customer':
      return v.length >= 1 && v.length <= 200 && !/[\u0000-\u001f\u007f]/.test(v) ? undefined : '1-200 characters, no control characters';
    case 'technicianId':
      if (/^(\$|env:)[A-Za-z_][A-Za-z0-9_]*$/.test(v)) return undefined;
      return /^[A-Za-z0-9-]{4,64}$/.test(v) ? undefined : '4-64 letters, digits or "-", or $VARIABLE to read it from the environment';
    case 'primary':
    case 'alternate':
      return parseEndpoint(v) ? undefined : 'an IP address and port, e.g. 203.0.113.10:16384 or [2001:db8::10]:16384 (no host names)';
    case 'subnets': {
      const list = v.split(/[\s,]+/).filter(Boolean);
      if (!list.length) return 'at least one subnet in CIDR form, e.g. 203.0.113.0/24';
      const bad = list.find((c) => !parseCidr(c));
      return bad ? `${bad} is not a subnet in CIDR form (e.g. 203.0.113.0/24)` : undefined;
    }
    case 'tlsPin':
      return !v || /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/.test(v) ? undefined : '32 hex byte pairs separated by ":" (SHA-256 fingerprint)';
  }
}

/** The fleet file text for the answers, validated by the same schema as `holdfast-deploy validate`. */
export function newFleetText(a: NewFleetAnswers, schemaRef?: string): string {
  const tech = a.technicianId.trim();
  const envName = /^(?:\$|env:)(.+)$/.exec(tech)?.[1];
  const primaryPort = parseEndpoint(a.primary.trim())?.port ?? 16384;
  const doc = {
    ...(schemaRef ? { $schema: schemaRef } : {}),
    fleet: a.fleet.trim(),
    customer: a.customer.trim(),
    version: '1.0.0',
    technicianId: envName ? { env: envName } : tech,
    registration: { primary: a.primary.trim(), alternate: a.alternate.trim() },
    serverSubnets: a.subnets.split(/[\s,]+/).filter(Boolean),
    port: primaryPort,
    proxy: { type: 'none' },
    tlsPin: (a.tlsPin?.trim() || DEMO_TLS_PIN).toUpperCase(),
    backup: {
      include: [],
      exclude: ['**/*.tmp', '**/node_modules/**', '**/.cache/**'],
      protectedPaths: [],
      schedule: { frequency: 'daily', at: '02:00' },
    },
    branding: {
      vendor: a.customer.trim().slice(0, 60),
      product: 'Holdfast Backup',
      upgradeCode: randomUUID().toUpperCase(),
      bundleId: 'com.holdfast.agent',
    },
    identity: { keepOnUninstall: true },
  };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  parseFleet(text, `${doc.fleet}.fleet.json`); // throws FleetValidationError naming each bad field
  return text;
}

export { FleetValidationError };
