// The server's connection and memory limits (`limits` in the server config): one table of keys, defaults and
// allowed ranges, from which the config validation, the docs' wording and the server's defaults all derive.
import { MAX_FRAME_BYTES } from '../protocol/frame.js';

export interface ConnectionLimits {
  /** Largest frame (length field included) a connection may send before a successful AUTH. */
  preAuthFrameBytes: number;
  /** Bytes one connection may hold at once: unfinished and unanswered requests plus unwritten replies. */
  connectionMemoryBytes: number;
  /** From TCP accept to a successful AUTH (TLS handshake included). */
  handshakeTimeoutMs: number;
  /** A frame, once its first byte arrived (or once its reply started going out), must be complete within this. */
  frameTimeoutMs: number;
  /** A connection with nothing in progress and no whole frame received or sent for this long is closed. */
  idleTimeoutMs: number;
  /** Connections open at once, all addresses together. */
  maxConnections: number;
  /** Connections open at once from one address (IPv6: one /64). */
  maxConnectionsPerAddress: number;
}

interface LimitSpec {
  default: number;
  min: number;
  max: number;
  unit: 'bytes' | 'ms' | 'connections';
}

const MiB = 1024 * 1024;

/**
 * Defaults sized for real fleets: a PUT batch is at most 16 MiB (agent/remote-store.ts) and a GET reply at most
 * 32 MiB, a restore keeps up to 6 GETs in flight, the agent waits 120 s for a reply, and a whole office behind
 * one NAT address may back up at the same hour (the server-load bench runs 500 agents from 127.0.0.1).
 */
export const CONNECTION_LIMITS: Record<keyof ConnectionLimits, LimitSpec> = {
  preAuthFrameBytes: { default: 64 * 1024, min: 4096, max: MAX_FRAME_BYTES, unit: 'bytes' },
  connectionMemoryBytes: { default: 32 * MiB, min: MiB, max: 1024 * MiB, unit: 'bytes' },
  handshakeTimeoutMs: { default: 30_000, min: 100, max: 600_000, unit: 'ms' },
  frameTimeoutMs: { default: 120_000, min: 100, max: 3_600_000, unit: 'ms' },
  idleTimeoutMs: { default: 15 * 60_000, min: 100, max: 24 * 3_600_000, unit: 'ms' },
  maxConnections: { default: 4096, min: 1, max: 1_000_000, unit: 'connections' },
  maxConnectionsPerAddress: { default: 1024, min: 1, max: 1_000_000, unit: 'connections' },
};

export const LIMIT_KEYS = Object.keys(CONNECTION_LIMITS) as Array<keyof ConnectionLimits>;

export function defaultLimits(): ConnectionLimits {
  return Object.fromEntries(LIMIT_KEYS.map((k) => [k, CONNECTION_LIMITS[k].default])) as unknown as ConnectionLimits;
}

/** Validates the config's `limits` object (absent: all defaults); problems name the JSON path, the value and what is allowed. */
export function validateLimits(raw: unknown, problems: string[]): ConnectionLimits {
  const limits = defaultLimits();
  if (raw === undefined) return limits;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`/limits: ${JSON.stringify(raw)} is not allowed; expected an object with any of ${LIMIT_KEYS.join(', ')}`);
    return limits;
  }
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (k === 'registration') continue; // server/registration-limits.ts
    const spec = CONNECTION_LIMITS[k as keyof ConnectionLimits];
    if (!spec) {
      problems.push(`/limits/${k}: unknown field (allowed: ${LIMIT_KEYS.join(', ')}, registration)`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max) {
      problems.push(
        `/limits/${k}: ${JSON.stringify(v)} is not allowed; expected a whole number of ${spec.unit} from ${spec.min} to ${spec.max} (default ${spec.default})`,
      );
      continue;
    }
    limits[k as keyof ConnectionLimits] = v;
  }
  return limits;
}
