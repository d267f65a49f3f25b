// The MSI's native helpers, built from source with Debian's mingw-w64 and cached by source hash:
// holdfast-service.exe (installers/win/wrapper/holdfast-service.c), the service wrapper, and
// holdfast-msi-ca.dll (holdfast-msi-ca.c), the configure custom action that reads CustomActionData.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { repoFile, runTool } from './tools.js';

export const WRAPPER_SOURCE = 'installers/win/wrapper/holdfast-service.c';
export const CONFIGURE_DLL_SOURCE = 'installers/win/wrapper/holdfast-msi-ca.c';
export const MINGW_GCC = 'x86_64-w64-mingw32-gcc';

const WARNINGS = ['-municode', '-O2', '-s', '-Wall', '-Wextra', '-Werror'];

async function buildCached(cacheDir: string, sourceFile: string, output: string, flags: string[], libs: string[]): Promise<string> {
  const source = repoFile(sourceFile);
  const hash = createHash('sha256')
    .update(await readFile(source))
    .update(flags.concat(libs).join(' '))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir, 'service-wrapper', hash);
  const file = join(dir, output);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await runTool(MINGW_GCC, [...WARNINGS, ...flags, '-o', tmp, source, ...libs]);
  await rename(tmp, file);
  return file;
}

export function buildServiceWrapper(cacheDir: string): Promise<string> {
  return buildCached(cacheDir, WRAPPER_SOURCE, 'holdfast-service.exe', [], ['-lshell32']);
}

/** The DLL custom action (export `Configure`) that hands CustomActionData to `holdfast-agent configure` on stdin. */
export function buildConfigureDll(cacheDir: string): Promise<string> {
  return buildCached(cacheDir, CONFIGURE_DLL_SOURCE, 'holdfast-msi-ca.dll', ['-shared'], ['-lmsi']);
}
