// `limits.registration` in the server config: how fast registrations may come, per source address, per
// Technician ID and per connection, and how long an address is locked out after failed attempts. Defaults fit an
// MSP that registers 500 machines behind one NAT address within an hour (docs/design.md, "Limits and abuse").

/** A token bucket: `burst` at once, then `perHour` spread evenly over the hour. */
export interface Rate {
  burst: number;
  perHour: number;
}

export interface RegistrationLimits {
  /** REGISTER requests from one address (IPv4, or IPv6 /64), whatever their outcome. */
  attemptsPerAddress: Rate;
  /** REGISTER requests naming one (known) Technician ID, from all addresses together. */
  attemptsPerTechnicianId: Rate;
  /** Devices created (not re-registrations) from one address. */
  newDevicesPerAddress: Rate;
  /** Devices created with one Technician ID, from all addresses together. */
  newDevicesPerTechnicianId: Rate;
  /** Failed attempts (unknown Technician ID, identity mismatch) an address may make before it is locked out. */
  failuresPerAddress: Rate;
  /** The first lockout; each further one while failures keep coming doubles it, up to maxLockoutMs. */
  lockoutMs: number;
  maxLockoutMs: number;
  /** REGISTER requests one connection may make (an agent makes one). */
  attemptsPerConnection: number;
}

export const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = {
  attemptsPerAddress: { burst: 200, perHour: 1200 },
  attemptsPerTechnicianId: { burst: 1000, perHour: 6000 },
  newDevicesPerAddress: { burst: 100, perHour: 600 },
  newDevicesPerTechnicianId: { burst: 500, perHour: 2000 },
  failuresPerAddress: { burst: 10, perHour: 10 },
  lockoutMs: 60_000,
  maxLockoutMs: 3_600_000,
  attemptsPerConnection: 3,
};

const RATE_FIELDS = ['attemptsPerAddress', 'attemptsPerTechnicianId', 'newDevicesPerAddress', 'newDevicesPerTechnicianId', 'failuresPerAddress'] as const;
const NUMBER_FIELDS = {
  lockoutMs: { min: 100, max: 86_400_000, what: 'milliseconds from 100 to 86400000 (a day)' },
  maxLockoutMs: { min: 100, max: 86_400_000, what: 'milliseconds from 100 to 86400000 (a day), at least lockoutMs' },
  attemptsPerConnection: { min: 1, max: 1000, what: 'an integer from 1 to 1000' },
} as const;
const MAX_BURST = 1_000_000;
const MAX_PER_HOUR = 3_600_000;

const isInt = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * `raw` (undefined: all defaults) merged over the defaults; every bad field adds a problem naming its path
 * (`at`, e.g. /limits/registration), the value and what is allowed.
 */
export function validateRegistrationLimits(raw: unknown, at: string, problems: string[]): RegistrationLimits {
  const limits: RegistrationLimits = structuredClone(DEFAULT_REGISTRATION_LIMITS);
  if (raw === undefined) return limits;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${at}: ${JSON.stringify(raw)} is not allowed; expected an object with any of ${[...RATE_FIELDS, ...Object.keys(NUMBER_FIELDS)].join(', ')}`);
    return limits;
  }
  const r = raw as Record<string, unknown>;
  for (const [key, value] of Object.entries(r)) {
    if ((RATE_FIELDS as readonly string[]).includes(key)) {
      const rate = value as Record<string, unknown>;
      const extra = rate && typeof rate === 'object' ? Object.keys(rate).filter((k) => k !== 'burst' && k !== 'perHour') : [];
      if (
        !rate ||
        typeof rate !== 'object' ||
        Array.isArray(rate) ||
        extra.length ||
        !isInt(rate.burst, 1, MAX_BURST) ||
        !isInt(rate.perHour, 1, MAX_PER_HOUR)
      ) {
        problems.push(`${at}/${key}: ${JSON.stringify(value)} is not allowed; expected { "burst": 1-${MAX_BURST}, "perHour": 1-${MAX_PER_HOUR} } (integers)`);
      } else limits[key as (typeof RATE_FIELDS)[number]] = { burst: rate.burst as number, perHour: rate.perHour as number };
    } else if (key in NUMBER_FIELDS) {
      const rule = NUMBER_FIELDS[key as keyof typeof NUMBER_FIELDS];
      if (!isInt(value, rule.min, rule.max)) problems.push(`${at}/${key}: ${JSON.stringify(value)} is not allowed; expected ${rule.what}`);
      else limits[key as keyof typeof NUMBER_FIELDS] = value;
    } else problems.push(`${at}/${key}: unknown field (allowed: ${[...RATE_FIELDS, ...Object.keys(NUMBER_FIELDS)].join(', ')})`);
  }
  if (limits.maxLockoutMs < limits.lockoutMs)
    problems.push(`${at}/maxLockoutMs: ${limits.maxLockoutMs} is not allowed; expected at least lockoutMs (${limits.lockoutMs})`);
  return limits;
}
