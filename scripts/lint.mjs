// The linter step of `npm test`: Biome (lint + format check, biome.json), then no line over 160 characters
// outside tests and fixtures (the formatter wraps code at 160 but leaves long strings and comments alone).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 160;
const biome = spawnSync('npx', ['--no-install', 'biome', 'check', '--error-on-warnings', '.'], { stdio: 'inherit' });
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mts', '*.mjs', '*.cjs', '*.js'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !f.startsWith('test/') && !f.includes('/fixtures/'));
const long = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    if (line.length > MAX) long.push(`${file}:${i + 1}: ${line.length} characters (at most ${MAX})`);
  });
}
for (const l of long) console.error(l);
if (biome.status !== 0 || long.length) {
  const why = [biome.status !== 0 ? 'biome check' : '', long.length ? `${long.length} long lines` : ''].filter(Boolean);
  console.error(`lint: failed (${why.join(', ')})`);
  process.exit(1);
}
console.log(`lint: biome clean; ${files.length} files within ${MAX} characters a line`);
