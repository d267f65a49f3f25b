// Child process for test/fs-atomic.test.ts: starts replacing a file with writeFileAtomic (async or sync form),
// says "mid-write" after the first of two parts reached the temp file, then blocks until the test kills it.
// argv: <sync|async> <target file>
import fs from 'node:fs';
import fsp from 'node:fs/promises';

import { writeFileAtomic, writeFileAtomicSync } from '../../common/fs-atomic.js';

const [form, target] = process.argv.slice(2);
const parts = [Buffer.alloc(4096, 'n'), Buffer.alloc(4096, 'n')];

function announceAndHang(): never {
  // stdout is a pipe: synchronous on POSIX, so the line is out before the thread blocks.
  process.stdout.write('mid-write\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  throw new Error('unreachable');
}

if (form === 'sync') {
  const realWrite = fs.writeSync;
  let calls = 0;
  fs.writeSync = ((...args: Parameters<typeof fs.writeSync>) => {
    const n = (realWrite as (...a: unknown[]) => number)(...args);
    if (++calls === 1) announceAndHang();
    return n;
  }) as typeof fs.writeSync;
  writeFileAtomicSync(target, parts);
} else {
  const realOpen = fsp.open;
  fsp.open = (async (...args: Parameters<typeof fsp.open>) => {
    const fh = await realOpen(...args);
    fh.writev = async (buffers: readonly NodeJS.ArrayBufferView[]) => {
      await fh.write(buffers[0] as Uint8Array);
      return announceAndHang();
    };
    return fh;
  }) as typeof fsp.open;
  await writeFileAtomic(target, parts);
}
