// Imports run one way: common/protocol ← agent ← fleet ← installers ← deployer ← extension (the server sits
// beside the fleet layers and may use the agent's formats). A module may import its own layer or any layer
// below it, never one above: that is what keeps the fleet model, the installers and the deployer movable.
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from './helpers/paths.js';

/** Each layer and the layers it may import besides itself. */
const allowed: Record<string, string[]> = {
  common: [],
  protocol: ['common'],
  agent: ['common', 'protocol'],
  fleet: ['common', 'protocol', 'agent'],
  installers: ['common', 'protocol', 'agent', 'fleet'],
  deployer: ['common', 'protocol', 'agent', 'fleet', 'installers'],
  server: ['common', 'protocol', 'agent'],
  extension: ['common', 'protocol', 'agent', 'fleet', 'installers', 'deployer'],
};

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mts|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative module specifiers of a file: static imports, re-exports and dynamic import() calls. */
function relativeImports(text: string): string[] {
  const specs = new Set<string>();
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) specs.add(m[1]);
  return [...specs];
}

function layerOf(path: string): string | undefined {
  const top = relative(repoRoot, path).split(sep)[0];
  return top in allowed ? top : undefined;
}

describe('import direction', () => {
  it('finds imports of every kind', () => {
    expect(relativeImports("import a from './a.js';\nexport { b } from '../b.js';\nawait import('../../c.js');\nimport './d.js';")).toEqual([
      './a.js',
      '../b.js',
      '../../c.js',
      './d.js',
    ]);
  });

  it('no layer imports a layer above it', async () => {
    const violations: string[] = [];
    let checked = 0;
    for (const layer of Object.keys(allowed)) {
      const dir = layer === 'extension' ? join(repoRoot, 'extension', 'src') : join(repoRoot, layer);
      for (const file of await sourceFiles(dir)) {
        checked++;
        for (const spec of relativeImports(await readFile(file, 'utf8'))) {
          const target = layerOf(resolve(dirname(file), spec));
          if (target && target !== layer && !allowed[layer].includes(target)) {
            violations.push(`${relative(repoRoot, file)} imports ${spec} (${layer} → ${target})`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(violations).toEqual([]);
  });
});
