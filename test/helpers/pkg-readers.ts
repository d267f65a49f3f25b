// The real readers the macOS pkg tests check our xar/BOM/cpio/XML writers with (scripts/setup.d/pkg.sh installs them).
import { execFileSync, spawnSync } from 'node:child_process';

/** The first of `names` on PATH; a missing tool fails the test with the install line (never a skip). */
export function tool(...names: string[]): string {
  for (const n of names) if (spawnSync('sh', ['-c', `command -v ${n}`]).status === 0) return n;
  throw new Error(`${names.join(' / ')} missing: sudo apt-get install -y libarchive-tools 7zip cpio libxml2-utils (or bash scripts/setup.d/pkg.sh test)`);
}

/** 7-Zip: `7z`, or `7zz` as Debian's 7zip package names it. */
export const sevenZip = (): string => tool('7z', '7zz');

/** Throws unless `file` is well-formed XML (no network access for DTDs). */
export const xmllint = (file: string): string =>
  execFileSync(tool('xmllint'), ['--noout', '--nonet', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
