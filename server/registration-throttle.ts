// Registration throttling (limits in registration-limits.ts): token buckets per source address, per Technician
// ID and per connection, and an exponential lockout for addresses that keep failing. Everything is checked
// before the Technician ID is, so a locked-out guesser learns nothing, not even when it guessed right.
import type { Rate, RegistrationLimits } from './registration-limits.js';
import { addressGroup } from './connection-gate.js';

/** The client must wait: ERROR `rate-limited` with `retryAfterMs`. */
export class RateLimitedError extends Error {
  readonly code = 'rate-limited';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(`${message}; try again in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`);
    this.name = 'RateLimitedError';
  }
}

/** Addresses (and Technician IDs) remembered at most; the least recently seen are forgotten first. */
const MAX_TRACKED = 50_000;
/** A refused client is told to come back no later than this (the booking below never reaches further). */
const MAX_RETRY_AFTER_MS = 3_600_000;

class Bucket {
  private tokens: number;
  private updated: number;
  /** Refused clients are told staggered times to come back, one refill interval apart, not all at once. */
  private bookedUntil = 0;

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.updated = now;
  }

  private get perMs(): number {
    return this.rate.perHour / 3_600_000;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.rate.burst, this.tokens + (now - this.updated) * this.perMs);
    this.updated = now;
  }

  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.rate.burst;
  }

  available(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  /** Takes a token; when there is none, returns how long this client should wait (and books that slot). */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const interval = 1 / this.perMs;
    const slot = Math.max(this.bookedUntil, now + (1 - this.tokens) * interval);
    this.bookedUntil = Math.min(slot + interval, now + MAX_RETRY_AFTER_MS);
    return Math.min(Math.ceil(slot - now), MAX_RETRY_AFTER_MS);
  }
}

/** Per-key state in a map that forgets the least recently used keys beyond MAX_TRACKED. */
class Tracked<T> {
  private readonly map = new Map<string, T>();

  constructor(private readonly make: () => T) {}

  get(key: string): T {
    let v = this.map.get(key);
    if (v === undefined) v = this.make();
    else this.map.delete(key);
    this.map.set(key, v);
    if (this.map.size > MAX_TRACKED) this.map.delete(this.map.keys().next().value as string);
    return v;
  }

  get size(): number {
    return this.map.size;
  }
}

interface AddressState {
  attempts: Bucket;
  newDevices: Bucket;
  failures: Bucket;
  lockedUntil: number;
  /** Lockouts in a row (reset once the failure bucket has refilled completely). */
  strikes: number;
}

interface TechnicianState {
  attempts: Bucket;
  newDevices: Bucket;
}

/** Per connection: how many REGISTER requests it made. */
export interface ConnectionRegistrations {
  attempts: number;
}

const FROM_ADDRESS = 'too many registration attempts from this network address';

/**
 * The key an address is limited under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 (one subscriber's
 * network usually holds a whole /64, so limiting single IPv6 addresses would limit nothing).
 */
export function addressKey(address: string | undefined): string {
  return address ? addressGroup(address) : '?';
}

export class RegistrationThrottle {
  private readonly addresses: Tracked<AddressState>;
  private readonly technicians: Tracked<TechnicianState>;

  constructor(
    readonly limits: RegistrationLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.addresses = new Tracked(() => {
      const t = this.now();
      return {
        attempts: new Bucket(limits.attemptsPerAddress, t),
        newDevices: new Bucket(limits.newDevicesPerAddress, t),
        failures: new Bucket(limits.failuresPerAddress, t),
        lockedUntil: 0,
        strikes: 0,
      };
    });
    this.technicians = new Tracked(() => {
      const t = this.now();
      return { attempts: new Bucket(limits.attemptsPerTechnicianId, t), newDevices: new Bucket(limits.newDevicesPerTechnicianId, t) };
    });
  }

  /**
   * Every REGISTER, before its Technician ID is looked at: the connection's count, the address's lockout and
   * its attempt rate. Throws RateLimitedError.
   */
  admit(address: string, conn: ConnectionRegistrations): void {
    conn.attempts++;
    if (conn.attempts > this.limits.attemptsPerConnection)
      throw new RateLimitedError('too many registration attempts on one connection (an agent makes one)', 1000);
    const now = this.now();
    const a = this.addresses.get(address);
    if (now < a.lockedUntil) throw new RateLimitedError(FROM_ADDRESS, a.lockedUntil - now);
    const wait = a.attempts.take(now);
    if (wait > 0) throw new RateLimitedError(FROM_ADDRESS, wait);
  }

  /**
   * A failed attempt (unknown Technician ID, identity mismatch): once the address has none left, it is locked out.
   * Returns the length of a lockout that starts now (for the log), else 0.
   */
  failure(address: string): number {
    const now = this.now();
    const a = this.addresses.get(address);
    if (a.failures.full(now)) a.strikes = 0;
    if (a.failures.take(now) === 0) return 0;
    a.strikes++;
    const lockout = Math.min(this.limits.maxLockoutMs, this.limits.lockoutMs * 2 ** Math.min(30, a.strikes - 1));
    a.lockedUntil = now + lockout;
    return lockout;
  }

  /** A REGISTER with a known Technician ID (by its hash). */
  technicianAttempt(technicianHash: string): void {
    const wait = this.technicians.get(technicianHash).attempts.take(this.now());
    if (wait > 0) throw new RateLimitedError('too many registration attempts with this Technician ID', wait);
  }

  /** Right before a new device is created: both the address's and the Technician ID's allowance. */
  newDevice(address: string, technicianHash: string): void {
    const now = this.now();
    const a = this.addresses.get(address).newDevices;
    const t = this.technicians.get(technicianHash).newDevices;
    if (!a.available(now)) throw new RateLimitedError('too many new devices registered from this network address', a.take(now));
    if (!t.available(now)) throw new RateLimitedError('too many new devices registered with this Technician ID', t.take(now));
    a.take(now);
    t.take(now);
  }

  /** Addresses and Technician IDs currently remembered (bounded by MAX_TRACKED each). */
  get tracked(): { addresses: number; technicians: number } {
    return { addresses: this.addresses.size, technicians: this.technicians.size };
  }
}
