// Locations of the bundled commands. Both bench/*.ts (tsx, tests) and dist/holdfast-bench.mjs sit one
// folder below the repository root, so the same relative path works from either.
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = join(repoRoot, 'dist');
export const agentBin = join(distDir, 'holdfast-agent.mjs');
export const serverBin = join(distDir, 'holdfast-server.mjs');
export const deployBin = join(distDir, 'holdfast-deploy.mjs');

/**
 * Copy a bundle (and its source map) into `dir` and return the copy. Other engineers rebuild dist/ while a
 * bench runs; measuring a private copy keeps one run on one build. The bundles are self-contained.
 */
export async function pinBundle(bin: string, dir: string): Promise<string> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\``);
  await mkdir(dir, { recursive: true });
  const copy = join(dir, basename(bin));
  await copyFile(bin, copy);
  if (existsSync(`${bin}.map`)) await copyFile(`${bin}.map`, `${copy}.map`);
  return copy;
}
