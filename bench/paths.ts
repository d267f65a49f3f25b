// Locations of the bundled commands. Both bench/*.ts (tsx, tests) and dist/holdfast-bench.mjs sit one
// folder below the repository root, so the same relative path works from either.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = join(repoRoot, 'dist');
export const agentBin = join(distDir, 'holdfast-agent.mjs');
export const serverBin = join(distDir, 'holdfast-server.mjs');
export const deployBin = join(distDir, 'holdfast-deploy.mjs');
