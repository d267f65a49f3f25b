// Chunks larger than a chunk worker's batch buffer (2 MiB + 64 KiB; chunks go up to 4 MiB) travel in a buffer of
// their own. Chunk boundaries depend on the device key, so the key and the data are fixed: with them, 16 MiB of
// incompressible bytes cut into chunks of which one seals to ~2.9 MiB.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeAgent, manualBackup } from './helpers/agent.js';
import { storedChunks } from './helpers/engine-corpus.js';
import { tempDir } from './helpers/server.js';

const BATCH_BUFFER = 2 * 1024 * 1024 + 64 * 1024;

describe('large chunks', () => {
  it('a chunk larger than a batch buffer is stored and restores byte-identical', async () => {
    const dir = await tempDir('holdfast-large-chunks-');
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0), Buffer.alloc(16)).update(Buffer.alloc(16 * 1024 * 1024));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'big.bin'), data);
    const agent = await makeAgent({
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      tlsPin: Array(32).fill('AB').join(':'),
      config: { backup: manualBackup([join(dir, 'src')]) },
    });
    mkdirSync(agent.stateDir);
    writeFileSync(join(agent.stateDir, 'device.key'), `holdfast-device-key-v1 ${'11'.repeat(32)}\n`, { mode: 0o600 });
    const store = join(dir, 'store');
    const backup = await agent.run(['backup', '--store', store, '--quiet']);
    expect(backup.code, backup.output).toBe(0);

    expect(Math.max(...storedChunks(store).map((c) => c.length))).toBeGreaterThan(BATCH_BUFFER);

    const out = join(dir, 'out');
    const restore = await agent.run(['restore', '--store', store, '--to', out, '--quiet']);
    expect(restore.code, restore.output).toBe(0);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(join(out, 'src', 'big.bin')))).toBe(sha(data));
  });
});
