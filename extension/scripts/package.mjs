// `npm run package:extension`: build, then pack extension/ into a .vsix with @vscode/vsce.
import { createVSIX } from '@vscode/vsce';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');
execFileSync(process.execPath, [join(ext, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const manifest = JSON.parse(readFileSync(join(ext, 'package.json'), 'utf8'));
const packagePath = join(ext, `${manifest.name}-${manifest.version}.vsix`);
const started = Date.now();
// Runtime dependencies are bundled into dist/, so the manifest lists none and vsce must not run npm.
await createVSIX({ cwd: ext, packagePath, dependencies: false, allowMissingRepository: true, skipLicense: false });
const size = statSync(packagePath).size;
console.log(`package:extension: ${relative(process.cwd(), packagePath)} (${(size / 1024 / 1024).toFixed(1)} MiB) in ${Date.now() - started} ms`);
