// Chunks larger than a chunk worker's batch buffer (2 MiB + 64 KiB; chunks go up to 4 MiB) travel in a buffer of
// their own. Chunk boundaries depend on the device key, so the key and the data are fixed: with them, 16 MiB of
// incompressible bytes cut into chunks of which one seals to ~2.9 MiB.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentBin } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

const BATCH_BUFFER = 2 * 1024 * 1024 + 64 * 1024;

describe('large chunks', () => {
  it('a chunk larger than a batch buffer is stored and restores byte-identical', async () => {
    const dir = await tempDir('holdfast-large-chunks-');
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0), Buffer.alloc(16)).update(Buffer.alloc(16 * 1024 * 1024));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'big.bin'), data);
    mkdirSync(join(dir, 'state'));
    writeFileSync(join(dir, 'state', 'device.key'), `holdfast-device-key-v1 ${'11'.repeat(32)}\n`, { mode: 0o600 });
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({
        fleet: 'large-chunks',
        technicianId: 'TECH-LARGE',
        registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
        tlsPin: Array(32).fill('AB').join(':'),
        proxy: { type: 'none' },
        backup: { include: [join(dir, 'src')], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } },
        stateDir: join(dir, 'state'),
      }),
    );
    const store = join(dir, 'store');
    const backup = await runProcess(process.execPath, [agentBin, 'backup', '--config', config, '--store', store, '--quiet']);
    expect(backup.code, backup.output).toBe(0);

    const sealed: number[] = [];
    const packs = join(store, 'packs');
    for (const name of readdirSync(packs).filter((n) => n.endsWith('.idx'))) {
      for (const [, , length] of JSON.parse(readFileSync(join(packs, name), 'utf8')) as Array<[string, number, number]>) sealed.push(length);
    }
    expect(Math.max(...sealed)).toBeGreaterThan(BATCH_BUFFER);

    const out = join(dir, 'out');
    const restore = await runProcess(process.execPath, [agentBin, 'restore', '--config', config, '--store', store, '--to', out, '--quiet']);
    expect(restore.code, restore.output).toBe(0);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(join(out, 'src', 'big.bin')))).toBe(sha(data));
  });
});
