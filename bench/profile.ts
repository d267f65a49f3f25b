// Summaries of the V8 CPU profiles `--cpu-prof` writes: where each agent thread spent its time.
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { formatTable } from './report.js';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  ms: number;
  share: number;
}

/** Self time per function (name, file, line), largest first. */
export function topSelfTime(profile: CpuProfile, limit = 10): { totalMs: number; lines: ProfileLine[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)?.callFrame;
    const key = f ? `${f.functionName || '(anonymous)'} ${f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim() : '?';
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const lines = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, ms: us / 1000, share: total ? us / total : 0 }));
  return { totalMs: total / 1000, lines };
}

/**
 * One table per profile under `dir`/<operation>/ (Node names the files CPU.<date>.<time>.<pid>.<thread>.<seq>;
 * thread 0 is the main thread, the others are the chunk workers).
 */
export async function summarizeProfiles(dir: string, limit = 8): Promise<string> {
  const files: string[] = [];
  for (const op of (await readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    for (const f of (await readdir(join(dir, op))).filter((x) => x.endsWith('.cpuprofile')).sort()) files.push(join(op, f));
  }
  const out: string[] = [];
  for (const f of files) {
    const { totalMs, lines } = topSelfTime(JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile, limit);
    const thread = /\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(f)?.[1];
    const what = f.startsWith('server/') ? 'test server, whole run' : thread === '0' ? 'main thread' : `worker thread ${thread}`;
    out.push(`${f} — ${what} (${(totalMs / 1000).toFixed(2)} s sampled)`);
    out.push(
      formatTable(
        ['self ms', 'share', 'function'],
        lines.map((l) => [l.ms.toFixed(0), `${(l.share * 100).toFixed(1)}%`, l.name]),
      ),
    );
    out.push('');
  }
  return out.join('\n');
}
