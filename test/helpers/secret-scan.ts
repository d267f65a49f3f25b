// Where do secrets end up on disk? Walks a folder (never following symbolic links: a Wine prefix links to / and to
// the home folder) and reports every file holding one of the secrets, as UTF-8 or UTF-16LE bytes (Windows programs
// and the Wine registry write either).
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SecretHit {
  file: string;
  secret: string;
}

export interface SecretScan {
  hits: SecretHit[];
  files: number;
  bytes: number;
}

export async function scanForSecrets(root: string, secrets: string[]): Promise<SecretScan> {
  const needles = secrets.flatMap((secret) => [Buffer.from(secret, 'utf8'), Buffer.from(secret, 'utf16le')].map((bytes) => ({ secret, bytes })));
  const scan: SecretScan = { hits: [], files: 0, bytes: 0 };
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const st = await lstat(path);
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) {
        scan.files++;
        scan.bytes += st.size;
        const data = await readFile(path);
        const found = new Set(needles.filter((n) => data.includes(n.bytes)).map((n) => n.secret));
        for (const secret of found) scan.hits.push({ file: path, secret });
      }
    }
  };
  await walk(root);
  return scan;
}
