// restic, the open-source peer: Debian `restic` with a local repository.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measureCommand, type ProcessMeasure } from '../measure.js';
import { treeBytes } from '../tree.js';
import { toolVersion, type BenchTool } from './tool.js';

const run = promisify(execFile);

export const RESTIC_INSTALL = 'sudo apt-get install -y restic';

export const resticVersion = (): Promise<string> => toolVersion('restic', ['version'], RESTIC_INSTALL);

export class ResticTool implements BenchTool {
  readonly name = 'restic' as const;
  private readonly repo: string;
  build: string | undefined;
  private readonly env: NodeJS.ProcessEnv;

  /** `source` is backed up as "." from inside it, so a restore puts files at the target's root. */
  constructor(
    private readonly source: string,
    workDir: string,
  ) {
    this.repo = join(workDir, 'restic-repo');
    this.env = {
      ...process.env,
      RESTIC_REPOSITORY: this.repo,
      // The issue says the password comes from the environment; a bench-only default keeps runs unattended.
      RESTIC_PASSWORD: process.env.RESTIC_PASSWORD || 'holdfast-bench-only',
      RESTIC_CACHE_DIR: join(workDir, 'restic-cache'),
      RESTIC_PROGRESS_FPS: '0.2',
    };
  }

  async setup(): Promise<void> {
    this.build = (await resticVersion()).split(' compiled')[0];
    await mkdir(this.repo, { recursive: true });
    await run('restic', ['init', '--quiet'], { env: this.env });
  }

  backup(logFile: string): Promise<ProcessMeasure> {
    return measureCommand('restic', ['backup', '--quiet', '--host', 'bench', '.'], {
      cwd: this.source,
      env: this.env,
      logFile,
      label: 'restic backup',
    });
  }

  restore(target: string, logFile: string): Promise<ProcessMeasure> {
    return measureCommand('restic', ['restore', 'latest', '--target', target], { env: this.env, logFile, label: 'restic restore' });
  }

  forgetPrune(keepLast: number, logFile: string): Promise<ProcessMeasure> {
    return measureCommand('restic', ['forget', '--keep-last', String(keepLast), '--prune'], { env: this.env, logFile, label: 'restic forget --prune' });
  }

  restoredRoot(target: string): string {
    return target;
  }

  repositoryBytes(): Promise<number> {
    return treeBytes(this.repo);
  }

  async close(): Promise<void> {}
}
