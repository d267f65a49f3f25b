// The per-device key and the keys derived from it. The device key never leaves the machine in the clear:
// only key escrow (escrow.ts) stores it, wrapped for the company's public key.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '../../common/fs-atomic.js';

export const CHUNK_MIN = 256 * 1024;
export const CHUNK_AVG = 1024 * 1024;
export const CHUNK_MAX = 4 * 1024 * 1024;

export interface EngineKeys {
  /** AES-256-GCM key for chunks and snapshots. */
  encKey: Buffer;
  /** HMAC-SHA256 key for chunk ids: the server cannot confirm guesses about content. */
  idKey: Buffer;
  /** FastCDC gear table, keyed so chunk boundaries do not reveal content either. */
  gear: Uint32Array;
}

export class DeviceKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceKeyError';
  }
}

const KEY_FILE_MAGIC = 'holdfast-device-key-v1';

function derive(deviceKey: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', deviceKey, Buffer.alloc(0), info, 32));
}

export function deriveKeys(deviceKey: Uint8Array): EngineKeys {
  if (deviceKey.length !== 32) throw new DeviceKeyError(`device key must be 32 bytes, got ${deviceKey.length}`);
  const gearKey = derive(deviceKey, 'holdfast/v1/gear');
  const gear = new Uint32Array(256);
  for (let i = 0; i < 256; i += 8) {
    const block = createHmac('sha256', gearKey).update(String(i)).digest();
    for (let j = 0; j < 8; j++) gear[i + j] = block.readUInt32LE(j * 4);
  }
  return { encKey: derive(deviceKey, 'holdfast/v1/enc'), idKey: derive(deviceKey, 'holdfast/v1/chunk-id'), gear };
}

export function parseDeviceKeyFile(text: string, path: string): Buffer {
  const [magic, hex] = text.trim().split(/\s+/);
  if (magic !== KEY_FILE_MAGIC || !/^[0-9a-f]{64}$/.test(hex ?? '')) {
    throw new DeviceKeyError(`${path} is not a Holdfast device key file (expected "${KEY_FILE_MAGIC} <64 hex digits>")`);
  }
  return Buffer.from(hex, 'hex');
}

/** Writes a device key file (0600, atomically). */
export function writeDeviceKey(path: string, key: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, `${KEY_FILE_MAGIC} ${Buffer.from(key).toString('hex')}\n`, 0o600);
}

/** Read the device key; with `create`, make one (0600) if there is none yet. */
export function loadDeviceKey(path: string, create: boolean): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!create) throw new DeviceKeyError(`no device key at ${path}: this device has not backed up yet`);
    const key = randomBytes(32);
    writeDeviceKey(path, key);
    return key;
  }
  return parseDeviceKeyFile(text, path);
}
