// borg, the second open-source peer: Debian `borgbackup` with a local repository, encryption on (repokey,
// BLAKE2b), its default compression (lz4).
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measureCommand, type ProcessMeasure } from '../measure.js';
import { treeBytes } from '../tree.js';
import { toolVersion, type BenchTool } from './tool.js';

const run = promisify(execFile);

export const BORG_INSTALL = 'sudo apt-get install -y borgbackup';

export const borgVersion = (): Promise<string> => toolVersion('borg', ['--version'], BORG_INSTALL);

export class BorgTool implements BenchTool {
  readonly name = 'borg' as const;
  private readonly repo: string;
  build: string | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private archives = 0;

  /** `source` is backed up as "." from inside it, so an extract puts files at the target's root. */
  constructor(
    private readonly source: string,
    workDir: string,
  ) {
    this.repo = join(workDir, 'borg-repo');
    this.env = {
      ...process.env,
      BORG_REPO: this.repo,
      BORG_PASSPHRASE: process.env.BORG_PASSPHRASE || 'holdfast-bench-only',
      BORG_BASE_DIR: join(workDir, 'borg-home'),
    };
  }

  async setup(): Promise<void> {
    this.build = await borgVersion();
    await mkdir(join(this.repo, '..'), { recursive: true });
    await run('borg', ['init', '--encryption=repokey-blake2'], { env: this.env });
  }

  backup(logFile: string): Promise<ProcessMeasure> {
    this.archives++;
    return measureCommand('borg', ['create', '--compression', 'lz4', `::b${this.archives}`, '.'], {
      cwd: this.source,
      env: this.env,
      logFile,
      label: 'borg create',
    });
  }

  async restore(target: string, logFile: string): Promise<ProcessMeasure> {
    return measureCommand('borg', ['extract', `::b${this.archives}`], { cwd: target, env: this.env, logFile, label: 'borg extract' });
  }

  restoredRoot(target: string): string {
    return target;
  }

  repositoryBytes(): Promise<number> {
    return treeBytes(this.repo);
  }

  async close(): Promise<void> {}
}
