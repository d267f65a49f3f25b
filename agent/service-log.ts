// The service's log file, written and rotated by the agent itself so Windows (MSI service wrapper) and macOS
// (launchd) behave alike: when a line would take the file past maxBytes, agent.log becomes agent.log.1,
// agent.log.1 becomes agent.log.2 ... and the oldest beyond `files` is deleted. Lines are written synchronously
// (not via a stream, e.g. rotating-file-stream): the last line before process.exit or a crash must reach the file.
import { appendFileSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ServiceLogOptions {
  path: string;
  /** Largest size of one file; default 5 MiB. */
  maxBytes?: number;
  /** Files kept, the current one included; default 5. */
  files?: number;
}

export const LOG_DEFAULTS = { maxBytes: 5 * 1024 * 1024, files: 5 } as const;

/** Limits a command line or a setting may give (a file under 1 KiB would hold no backup's lines). */
export const LOG_LIMITS = { minBytes: 1024, maxFiles: 100 } as const;

/** The service log: `log(line)`, and new limits (agent.json or a policy changed: serviceLog in the settings table). */
export interface ServiceLog {
  (line: string): void;
  /** Absent fields go back to LOG_DEFAULTS. Fewer files: the copies beyond the new count are deleted at once. */
  setLimits(limits: Omit<ServiceLogOptions, 'path'>): void;
}

/** A `log(line)` that timestamps each line and appends it to the rotating file. */
export function openServiceLog(options: ServiceLogOptions): ServiceLog {
  const { path } = options;
  let maxBytes = options.maxBytes ?? LOG_DEFAULTS.maxBytes;
  let files = options.files ?? LOG_DEFAULTS.files;
  mkdirSync(dirname(path), { recursive: true });
  let size = sizeOf(path);
  const log = (line: string) => {
    const text = `${new Date().toISOString()} ${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (size > 0 && size + bytes > maxBytes) {
      rotate(path, files);
      size = 0;
    }
    appendFileSync(path, text, { mode: 0o644 });
    size += bytes;
  };
  return Object.assign(log, {
    setLimits(limits: Omit<ServiceLogOptions, 'path'>) {
      const nextFiles = limits.files ?? LOG_DEFAULTS.files;
      for (let i = Math.max(nextFiles, 1); i < files; i++) rmSync(`${path}.${i}`, { force: true });
      files = nextFiles;
      maxBytes = limits.maxBytes ?? LOG_DEFAULTS.maxBytes;
    },
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function rotate(path: string, files: number): void {
  rmSync(`${path}.${files - 1}`, { force: true });
  for (let i = files - 2; i >= 1; i--) {
    try {
      renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (files > 1) renameSync(path, `${path}.1`);
  else rmSync(path, { force: true });
}

/** Windows: the service log the agent writes (`service --log`) and the wrapper's own (its lines and the agent's stray output), in the data folder. */
export const WINDOWS_LOG_NAMES = { agent: 'agent.log', wrapper: 'service.log' } as const;

/** A log file and every rotated copy it can have (for uninstall). */
export function logFileSet(path: string): string[] {
  return [path, ...Array.from({ length: LOG_LIMITS.maxFiles - 1 }, (_, i) => `${path}.${i + 1}`)];
}
