// Builds holdfast-service.exe (installers/win/wrapper/holdfast-service.c) with Debian's mingw-w64, cached by source hash.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { repoFile, runTool } from './tools.js';

export const WRAPPER_SOURCE = 'installers/win/wrapper/holdfast-service.c';
export const MINGW_GCC = 'x86_64-w64-mingw32-gcc';

export async function buildServiceWrapper(cacheDir: string): Promise<string> {
  const source = repoFile(WRAPPER_SOURCE);
  const hash = createHash('sha256')
    .update(await readFile(source))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir, 'service-wrapper', hash);
  const exe = join(dir, 'holdfast-service.exe');
  if (existsSync(exe)) return exe;
  await mkdir(dir, { recursive: true });
  const tmp = `${exe}.${process.pid}.tmp`;
  await runTool(MINGW_GCC, ['-municode', '-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', tmp, source, '-lshell32']);
  await rename(tmp, exe);
  return exe;
}
