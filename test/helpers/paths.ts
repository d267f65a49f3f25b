import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const distDir = join(repoRoot, 'dist');
export const agentBin = join(distDir, 'holdfast-agent.mjs');
export const serverBin = join(distDir, 'holdfast-server.mjs');
export const deployBin = join(distDir, 'holdfast-deploy.mjs');
