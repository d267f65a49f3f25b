// Writers that change a file while the agent reads it: once, at the moment it is first read (inotify), or over and
// over until stopped. Both rewrite in place (same size, no truncation), as an application saving over a file does.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { requireTool } from './proxies.js';
import { startProcess } from './process.js';
import { tempDir } from './server.js';

const INOTIFYWAIT = '/usr/bin/inotifywait';

/** Overwrite `file` with `content` from offset 0 in one write. */
function overwrite(file: string, content: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Once something first reads `file` (inotify IN_ACCESS), overwrite it with `next`. Resolves when the watch is in
 * place; `rewritten` resolves after the write (rejects if the watch ended without an access).
 */
export async function rewriteOnFirstRead(file: string, next: Buffer): Promise<{ rewritten: Promise<void> }> {
  requireTool(INOTIFYWAIT, 'inotify-tools');
  const child = spawn(INOTIFYWAIT, ['-e', 'access', '--format', '%e', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Watches established')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`inotifywait exited (${code}) before watching ${file}: ${err}`)));
  });
  const rewritten = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => {
      overwrite(file, next);
      resolve();
    });
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`inotifywait ended (${code}) without seeing ${file} read: ${err}`));
    });
  });
  return { rewritten };
}

/** A process that overwrites `file` with each of `versions` in turn, in place, until stop(). */
export async function keepRewriting(file: string, versions: Buffer[]): Promise<{ stop(): Promise<void> }> {
  const dir = await tempDir('holdfast-rewriter-');
  const paths = versions.map((v, i) => {
    const p = `${dir}/v${i}`;
    writeFileSync(p, v);
    return p;
  });
  const script = `
    const fs = require('node:fs');
    const [file, ...paths] = process.argv.slice(1);
    const versions = paths.map((p) => fs.readFileSync(p));
    const fd = fs.openSync(file, 'r+');
    console.log('rewriting');
    for (let i = 0; ; i++) {
      const v = versions[i % versions.length];
      for (let off = 0; off < v.length; ) off += fs.writeSync(fd, v, off, v.length - off, off);
    }`;
  const proc = startProcess(process.execPath, ['-e', script, file, ...paths]);
  await proc.waitForOutput('rewriting');
  return { stop: () => proc.kill9() };
}
